//! Elementwise unary and binary ops with numpy broadcasting.

use crate::cuda::GpuTensor;
use crate::element::Element;
use crate::ops::on_gpu;
use crate::parallel::{GRAIN, collect_chunks, for_each_chunk_mut, for_each_row_mut};
use crate::shape::Shape;
use crate::simd::vectorized;
use crate::tensor::Tensor;

impl<T: Element> Tensor<T> {
    /// Applies `f` to every element (vectorised and parallel for large tensors).
    pub fn map(&self, f: impl Fn(T) -> T + Sync + Send) -> Tensor<T> {
        assert!(
            self.is_cpu(),
            "map: closures run on the CPU only; the tensor lives on {}",
            self.device()
        );
        let src = self.data();
        let out = collect_chunks(src.len(), GRAIN, |start, dst| {
            let src = &src[start..start + dst.len()];
            vectorized(
                #[inline(always)]
                || {
                    for (d, &s) in dst.iter_mut().zip(src) {
                        d.write(f(s));
                    }
                },
            )
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
        assert!(
            self.is_cpu() && other.is_cpu(),
            "{op}: closures run on the CPU only; the operands live on {} and {}",
            self.device(),
            other.device()
        );
        if self.shape() == other.shape() {
            let (a, b) = (self.data(), other.data());
            let out = collect_chunks(a.len(), GRAIN, |start, dst| {
                let end = start + dst.len();
                let (a, b) = (&a[start..end], &b[start..end]);
                vectorized(
                    #[inline(always)]
                    || {
                        for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                            d.write(f(x, y));
                        }
                    },
                )
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
        T::tensor_add(self, other)
    }

    /// Elementwise difference with broadcasting.
    pub fn sub(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_sub(self, other)
    }

    /// Elementwise product with broadcasting.
    pub fn mul(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_mul(self, other)
    }

    /// Elementwise quotient with broadcasting.
    pub fn div(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_div(self, other)
    }

    /// Elementwise maximum with broadcasting (NaN-propagating like `torch.maximum`).
    pub fn maximum(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_maximum(self, other)
    }

    /// Elementwise minimum with broadcasting (NaN-propagating like `torch.minimum`).
    pub fn minimum(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_minimum(self, other)
    }

    /// `self + s` for a scalar `s`.
    pub fn add_scalar(&self, s: T) -> Tensor<T> {
        T::tensor_add_scalar(self, s)
    }

    /// `self * s` for a scalar `s`.
    pub fn mul_scalar(&self, s: T) -> Tensor<T> {
        T::tensor_mul_scalar(self, s)
    }

    /// `-self`.
    pub fn neg(&self) -> Tensor<T> {
        T::tensor_neg(self)
    }

    /// `e^self`.
    pub fn exp(&self) -> Tensor<T> {
        T::tensor_exp(self)
    }

    /// Natural logarithm.
    pub fn log(&self) -> Tensor<T> {
        T::tensor_log(self)
    }

    /// Square root.
    pub fn sqrt(&self) -> Tensor<T> {
        T::tensor_sqrt(self)
    }

    /// Absolute value.
    pub fn abs(&self) -> Tensor<T> {
        T::tensor_abs(self)
    }

    /// -1, 0 or 1 by the sign of each element (0 at 0, as `torch.sign`).
    pub fn sign(&self) -> Tensor<T> {
        T::tensor_sign(self)
    }

    /// `max(x, 0)`.
    pub fn relu(&self) -> Tensor<T> {
        T::tensor_relu(self)
    }

    /// `x * x`.
    pub fn square(&self) -> Tensor<T> {
        T::tensor_square(self)
    }

    /// `x^p` for a scalar exponent.
    pub fn powf(&self, p: T) -> Tensor<T> {
        T::tensor_powf(self, p)
    }

    /// Clamps into `[min, max]`.
    pub fn clamp(&self, min: T, max: T) -> Tensor<T> {
        T::tensor_clamp(self, min, max)
    }
}

/// The bodies of the ops above, compiled once per element type in this crate: see
/// [`crate::compiled`].
impl<T: Element> Tensor<T> {
    pub(crate) fn add_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("add", self, other, GpuTensor::add) {
            return out;
        }
        self.zip_map(other, "add", |a, b| a + b)
    }

    pub(crate) fn sub_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("sub", self, other, GpuTensor::sub) {
            return out;
        }
        self.zip_map(other, "sub", |a, b| a - b)
    }

    pub(crate) fn mul_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("mul", self, other, GpuTensor::mul) {
            return out;
        }
        self.zip_map(other, "mul", |a, b| a * b)
    }

    pub(crate) fn div_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("div", self, other, GpuTensor::div) {
            return out;
        }
        self.zip_map(other, "div", |a, b| a / b)
    }

    pub(crate) fn maximum_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("maximum", self, other, GpuTensor::maximum) {
            return out;
        }
        self.zip_map(
            other,
            "maximum",
            |a, b| if a.is_nan() || a >= b { a } else { b },
        )
    }

    pub(crate) fn minimum_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("minimum", self, other, GpuTensor::minimum) {
            return out;
        }
        self.zip_map(
            other,
            "minimum",
            |a, b| if a.is_nan() || a <= b { a } else { b },
        )
    }

    pub(crate) fn add_scalar_impl(&self, s: T) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("add_scalar", self, |g| g.add_scalar(to_f32(s))) {
            return out;
        }
        self.map(|x| x + s)
    }

    pub(crate) fn mul_scalar_impl(&self, s: T) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("mul_scalar", self, |g| g.mul_scalar(to_f32(s))) {
            return out;
        }
        self.map(|x| x * s)
    }

    pub(crate) fn neg_impl(&self) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("neg", self, GpuTensor::neg) {
            return out;
        }
        self.map(|x| -x)
    }

    pub(crate) fn exp_impl(&self) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("exp", self, GpuTensor::exp) {
            return out;
        }
        self.map(|x| x.exp())
    }

    pub(crate) fn log_impl(&self) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("log", self, GpuTensor::log) {
            return out;
        }
        self.map(|x| x.ln())
    }

    pub(crate) fn sqrt_impl(&self) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("sqrt", self, GpuTensor::sqrt) {
            return out;
        }
        self.map(|x| x.sqrt())
    }

    pub(crate) fn abs_impl(&self) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("abs", self, GpuTensor::abs) {
            return out;
        }
        self.map(|x| x.abs())
    }

    pub(crate) fn sign_impl(&self) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("sign", self, GpuTensor::sign) {
            return out;
        }
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

    pub(crate) fn relu_impl(&self) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("relu", self, GpuTensor::relu) {
            return out;
        }
        self.map(|x| if x > T::zero() { x } else { T::zero() })
    }

    pub(crate) fn square_impl(&self) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("square", self, GpuTensor::square) {
            return out;
        }
        self.map(|x| x * x)
    }

    pub(crate) fn powf_impl(&self, p: T) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("powf", self, |g| g.powf(to_f32(p))) {
            return out;
        }
        self.map(|x| x.powf(p))
    }

    pub(crate) fn clamp_impl(&self, min: T, max: T) -> Tensor<T> {
        assert!(min <= max, "clamp: min {min} is above max {max}");
        if let Some(out) = on_gpu::unary("clamp", self, |g| g.clamp(to_f32(min), to_f32(max))) {
            return out;
        }
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

/// [`Tensor::relu`] in place over `values` (vectorised and parallel when large): each value
/// stays where it is above 0 and becomes 0 elsewhere (NaN included), the bits `relu` gives.
pub(crate) fn relu_in_place<T: Element>(values: &mut [T]) {
    for_each_chunk_mut(values, GRAIN, |_, chunk| {
        vectorized(
            #[inline(always)]
            || {
                for v in chunk.iter_mut() {
                    *v = if *v > T::zero() { *v } else { T::zero() };
                }
            },
        )
    });
}

/// A scalar parameter as the f32 a GPU kernel takes.
pub(crate) fn to_f32<T: Element>(v: T) -> f32 {
    v.to_f32().expect("an f32-representable scalar")
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
        vectorized(
            #[inline(always)]
            || match (ia, ib) {
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
            },
        )
    });
    Tensor::from_vec(out, out_shape)
}
