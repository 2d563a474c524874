//! Matrix products. For `C = op(A) op(B)`, `dA` and `dB` are again products of `G` with the
//! other operand, read transposed through strides rather than copied.

use tensor::Element;

use crate::var::Var;

impl<'t, T: Element> Var<'t, T> {
    /// Matrix product (2-D, batched 3-D, or 3-D times a shared 2-D right operand).
    pub fn matmul(&self, other: &Var<'t, T>) -> Var<'t, T> {
        self.matmul_t(false, other, false)
    }

    /// `op(self) op(other)` where `op` optionally transposes the last two axes.
    pub fn matmul_t(&self, ta: bool, other: &Var<'t, T>, tb: bool) -> Var<'t, T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        let value = a.matmul_t(ta, &b, tb);
        Var::from_op("matmul", &[self, other], value, move |g, need| {
            let grad_a = || {
                // G op(B)^T is d op(A); transpose it back when A was used transposed.
                let d = g.matmul_t(false, &b, !tb);
                if ta {
                    d.transpose(d.rank() - 2, d.rank() - 1)
                } else {
                    d
                }
            };
            let grad_b = || {
                if a.rank() == 3 && b.rank() == 2 {
                    // Shared right operand: sum over the batch by folding it into the rows.
                    let (batch, m) = (g.dims()[0], g.dims()[1]);
                    let g2 = g.reshape([batch * m, g.dims()[2]]);
                    let a2 = if ta { a.transpose(1, 2) } else { a.clone() };
                    let a2 = a2.reshape([batch * m, a2.dims()[2]]);
                    if tb {
                        g2.matmul_t(true, &a2, false)
                    } else {
                        a2.matmul_t(true, &g2, false)
                    }
                } else if tb {
                    g.matmul_t(true, &a, ta)
                } else {
                    a.matmul_t(!ta, g, false)
                }
            };
            vec![need[0].then(grad_a), need[1].then(grad_b)]
        })
    }
}
