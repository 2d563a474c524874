//! Elementwise unary and binary ops with numpy broadcasting.

use crate::element::Element;
use crate::parallel::{GRAIN, collect_chunks, for_each_row_mut};
use crate::shape::Shape;
use crate::simd::vectorized;
use crate::tensor::Tensor;

impl<T: Element> Tensor<T> {
    /// Applies `f` to every element (vectorised and parallel for large tensors).
    pub fn map(&self, f: impl Fn(T) -> T + Sync + Send) -> Tensor<T> {
        let src = self.data();
        let out = collect_chunks(src.len(), GRAIN, |start, dst| {
            let src = &src[start..start + dst.len()];
            vectorized(|| {
                for (d, &s) in dst.iter_mut().zip(src) {
                    d.write(f(s));
                }
            })
        });
        Tensor::from_vec(out, self.shape().clone())
    }

    /// Combines two tensors elementwise after numpy broadcasting; `op` names the op in panics.
    pub fn zip_map(
        &self,
        other: &Tensor<T>,
        op: &str,
        f: impl Fn(T, T) -> T + Sync + Send,
    ) -> Tensor<T> {
        if self.shape() == other.shape() {
            let (a, b) = (self.data(), other.data());
            let out = collect_chunks(a.len(), GRAIN, |start, dst| {
                let end = start + dst.len();
                let (a, b) = (&a[start..end], &b[start..end]);
                vectorized(|| {
                    for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                        d.write(f(x, y));
                    }
                })
            });
            return Tensor::from_vec(out, self.shape().clone());
        }
        let out_shape = self.shape().broadcast_or_panic(other.shape(), op);
        if other.numel() == 1 && out_shape == *self.shape() {
            let y = other.data()[0];
            return self.map(|x| f(x, y));
        }
        if self.numel() == 1 && out_shape == *other.shape() {
            let x = self.data()[0];
            return other.map(|y| f(x, y));
        }
        broadcast_general(self, other, out_shape, f)
    }

    /// Elementwise sum with broadcasting.
    pub fn add(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "add", |a, b| a + b)
    }

    /// Elementwise difference with broadcasting.
    pub fn sub(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "sub", |a, b| a - b)
    }

    /// Elementwise product with broadcasting.
    pub fn mul(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "mul", |a, b| a * b)
    }

    /// Elementwise quotient with broadcasting.
    pub fn div(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "div", |a, b| a / b)
    }

    /// Elementwise maximum with broadcasting (NaN-propagating like `torch.maximum`).
    pub fn maximum(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(
            other,
            "maximum",
            |a, b| if a.is_nan() || a >= b { a } else { b },
        )
    }

    /// Elementwise minimum with broadcasting (NaN-propagating like `torch.minimum`).
    pub fn minimum(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(
            other,
            "minimum",
            |a, b| if a.is_nan() || a <= b { a } else { b },
        )
    }

    /// `self + s` for a scalar `s`.
    pub fn add_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x + s)
    }

    /// `self * s` for a scalar `s`.
    pub fn mul_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x * s)
    }

    /// `-self`.
    pub fn neg(&self) -> Tensor<T> {
        self.map(|x| -x)
    }

    /// `e^self`.
    pub fn exp(&self) -> Tensor<T> {
        self.map(|x| x.exp())
    }

    /// Natural logarithm.
    pub fn log(&self) -> Tensor<T> {
        self.map(|x| x.ln())
    }

    /// Square root.
    pub fn sqrt(&self) -> Tensor<T> {
        self.map(|x| x.sqrt())
    }

    /// Absolute value.
    pub fn abs(&self) -> Tensor<T> {
        self.map(|x| x.abs())
    }

    /// -1, 0 or 1 by the sign of each element (0 at 0, as `torch.sign`).
    pub fn sign(&self) -> Tensor<T> {
        self.map(|x| {
            if x > T::zero() {
                T::one()
            } else if x < T::zero() {
                -T::one()
            } else {
                x * T::zero()
            }
        })
    }

    /// `max(x, 0)`.
    pub fn relu(&self) -> Tensor<T> {
        self.map(|x| if x > T::zero() { x } else { T::zero() })
    }

    /// `x * x`.
    pub fn square(&self) -> Tensor<T> {
        self.map(|x| x * x)
    }

    /// `x^p` for a scalar exponent.
    pub fn powf(&self, p: T) -> Tensor<T> {
        self.map(|x| x.powf(p))
    }

    /// Clamps into `[min, max]`.
    pub fn clamp(&self, min: T, max: T) -> Tensor<T> {
        assert!(min <= max, "clamp: min {min} is above max {max}");
        self.map(|x| {
            if x < min {
                min
            } else if x > max {
                max
            } else {
                x
            }
        })
    }
}

/// The general broadcasting path: one output row (last axis) at a time, reading each input
/// through its broadcast strides.
fn broadcast_general<T: Element>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    out_shape: Shape,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Tensor<T> {
    let rank = out_shape.rank();
    let sa = a.shape().broadcast_strides(&out_shape);
    let sb = b.shape().broadcast_strides(&out_shape);
    let dims = out_shape.dims().to_vec();
    let inner = dims[rank - 1];
    let (ia, ib) = (sa[rank - 1], sb[rank - 1]);
    let (ad, bd) = (a.data(), b.data());
    let mut out = vec![T::zero(); out_shape.numel()];
    for_each_row_mut(&mut out, inner, 1, |row, dst| {
        let (mut oa, mut ob) = (0, 0);
        let mut rest = row;
        for axis in (0..rank - 1).rev() {
            let coord = rest % dims[axis];
            rest /= dims[axis];
            oa += coord * sa[axis];
            ob += coord * sb[axis];
        }
        vectorized(|| match (ia, ib) {
            (1, 1) => {
                for ((d, &x), &y) in dst
                    .iter_mut()
                    .zip(&ad[oa..oa + inner])
                    .zip(&bd[ob..ob + inner])
                {
                    *d = f(x, y);
                }
            }
            (1, 0) => {
                let y = bd[ob];
                for (d, &x) in dst.iter_mut().zip(&ad[oa..oa + inner]) {
                    *d = f(x, y);
                }
            }
            (0, 1) => {
                let x = ad[oa];
                for (d, &y) in dst.iter_mut().zip(&bd[ob..ob + inner]) {
                    *d = f(x, y);
                }
            }
            _ => {
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = f(ad[oa + j * ia], bd[ob + j * ib]);
                }
            }
        })
    });
    Tensor::from_vec(out, out_shape)
}
