//! The shapes of a (batched) matrix product, checked in one place for every backend.

use crate::shape::Shape;

/// The shapes of a (batched) matrix product `op(a) op(b)`, checked once for both devices:
/// `[m,k] x [k,n]`, `[b,m,k] x [b,k,n]`, or `[b,m,k] x [k,n]` (a right operand shared by the
/// batch); `op` transposes the last two axes when asked.
pub struct MatmulShape {
    /// Matrices in the batch (1 without a batch axis).
    pub batch: usize,
    /// Rows of `op(a)` and of the result.
    pub m: usize,
    /// The summed dimension.
    pub k: usize,
    /// Columns of `op(b)` and of the result.
    pub n: usize,
    /// Rows and columns of each stored `a` matrix (before any transpose).
    pub a: (usize, usize),
    /// Rows and columns of each stored `b` matrix.
    pub b: (usize, usize),
    /// The result's dims: `[batch, m, n]` for a batched `a`, else `[m, n]`.
    pub out: Vec<usize>,
    /// True when `b` has no batch axis and every matrix of `a` multiplies the same `b`.
    pub shared_b: bool,
}

impl MatmulShape {
    /// Checks and describes `op(a) op(b)`; panics naming both shapes when they do not multiply.
    pub fn of(a: &Shape, transpose_a: bool, b: &Shape, transpose_b: bool) -> Self {
        let bad = || -> ! {
            panic!(
                "matmul: cannot multiply shapes {a:?} and {b:?} (transposed: {transpose_a}, {transpose_b})"
            )
        };
        let (ra, rb) = (a.rank(), b.rank());
        if !(2..=3).contains(&ra) || !(2..=3).contains(&rb) || (ra == 2 && rb == 3) {
            bad();
        }
        let batch = if ra == 3 { a.dims()[0] } else { 1 };
        if rb == 3 && b.dims()[0] != batch {
            bad();
        }
        let last_two = |d: &[usize]| (d[d.len() - 2], d[d.len() - 1]);
        let (a_rows, a_cols) = last_two(a.dims());
        let (b_rows, b_cols) = last_two(b.dims());
        let (m, k) = if transpose_a {
            (a_cols, a_rows)
        } else {
            (a_rows, a_cols)
        };
        let (k2, n) = if transpose_b {
            (b_cols, b_rows)
        } else {
            (b_rows, b_cols)
        };
        if k != k2 {
            bad();
        }
        MatmulShape {
            batch,
            m,
            k,
            n,
            a: (a_rows, a_cols),
            b: (b_rows, b_cols),
            out: if ra == 3 {
                vec![batch, m, n]
            } else {
                vec![m, n]
            },
            shared_b: rb == 2,
        }
    }
}
