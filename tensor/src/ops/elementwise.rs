//! Elementwise unary and binary ops with numpy broadcasting.

use crate::backend::{BackendOps, BinaryOp, ScalarOp, UnaryOp};
use crate::device::Device;
use crate::element::Element;
use crate::ops::placement::agree;
use crate::parallel::{GRAIN, collect_chunks, for_each_chunk_mut};
use crate::shape::Shape;
use crate::simd::vectorized;
use crate::tensor::{Storage, Tensor};

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
        self.binary(BinaryOp::Add, other)
    }

    /// Elementwise difference with broadcasting.
    pub fn sub(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Sub, other)
    }

    /// Elementwise product with broadcasting.
    pub fn mul(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Mul, other)
    }

    /// Elementwise quotient with broadcasting.
    pub fn div(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Div, other)
    }

    /// `relu(self + other)` with broadcasting, in one pass and with the bits of the two ops: a
    /// residual block's sum and ReLU (`F.relu(out + shortcut)`).
    pub fn add_relu(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::AddRelu, other)
    }

    /// Elementwise maximum with broadcasting (NaN-propagating like `torch.maximum`).
    pub fn maximum(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Maximum, other)
    }

    /// Elementwise minimum with broadcasting (NaN-propagating like `torch.minimum`).
    pub fn minimum(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Minimum, other)
    }

    /// `self + s` for a scalar `s`.
    pub fn add_scalar(&self, s: T) -> Tensor<T> {
        self.with_scalar(ScalarOp::Add, s)
    }

    /// `self * s` for a scalar `s`.
    pub fn mul_scalar(&self, s: T) -> Tensor<T> {
        self.with_scalar(ScalarOp::Mul, s)
    }

    /// `-self`.
    pub fn neg(&self) -> Tensor<T> {
        self.unary(UnaryOp::Neg)
    }

    /// `e^self`.
    pub fn exp(&self) -> Tensor<T> {
        self.unary(UnaryOp::Exp)
    }

    /// Natural logarithm.
    pub fn log(&self) -> Tensor<T> {
        self.unary(UnaryOp::Log)
    }

    /// Square root.
    pub fn sqrt(&self) -> Tensor<T> {
        self.unary(UnaryOp::Sqrt)
    }

    /// Absolute value.
    pub fn abs(&self) -> Tensor<T> {
        self.unary(UnaryOp::Abs)
    }

    /// -1, 0 or 1 by the sign of each element (0 at 0, as `torch.sign`).
    pub fn sign(&self) -> Tensor<T> {
        self.unary(UnaryOp::Sign)
    }

    /// `max(x, 0)`.
    pub fn relu(&self) -> Tensor<T> {
        self.unary(UnaryOp::Relu)
    }

    /// `x * x`.
    pub fn square(&self) -> Tensor<T> {
        self.unary(UnaryOp::Square)
    }

    /// `x^p` for a scalar exponent.
    pub fn powf(&self, p: T) -> Tensor<T> {
        self.with_scalar(ScalarOp::Pow, p)
    }

    /// Clamps into `[min, max]`.
    pub fn clamp(&self, min: T, max: T) -> Tensor<T> {
        assert!(min <= max, "clamp: min {min} is above max {max}");
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::clamp(self, min, max),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::clamp(x, min, max)),
        }
    }
}

/// Each op's one dispatch: on the backend that holds its operands.
impl<T: Element> Tensor<T> {
    /// A broadcasting binary op (arithmetic or comparison), on the device the operands agree on.
    pub(crate) fn binary(&self, op: BinaryOp, other: &Tensor<T>) -> Tensor<T> {
        let name = op.name();
        match agree(name, &[self.placed(), other.placed()]) {
            Device::Cpu => T::Cpu::binary(op, self, other),
            device => Tensor::from_gpu_storage(T::Gpu::binary(
                op,
                &self.gpu_operand(name, device),
                &other.gpu_operand(name, device),
            )),
        }
    }

    /// A unary op, on the backend that holds `self`.
    fn unary(&self, op: UnaryOp) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::unary(op, self),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::unary(op, x)),
        }
    }

    /// An op with a scalar parameter, on the backend that holds `self`.
    fn with_scalar(&self, op: ScalarOp, s: T) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::scalar(op, self, s),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::scalar(op, x, s)),
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn add_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "add", |a, b| a + b)
    }

    pub(crate) fn sub_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "sub", |a, b| a - b)
    }

    pub(crate) fn mul_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "mul", |a, b| a * b)
    }

    pub(crate) fn div_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "div", |a, b| a / b)
    }

    pub(crate) fn add_relu_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "add_relu", |a, b| relu_of(a + b))
    }

    pub(crate) fn maximum_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(
            other,
            "maximum",
            |a, b| if a.is_nan() || a >= b { a } else { b },
        )
    }

    pub(crate) fn minimum_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(
            other,
            "minimum",
            |a, b| if a.is_nan() || a <= b { a } else { b },
        )
    }

    pub(crate) fn add_scalar_impl(&self, s: T) -> Tensor<T> {
        self.map(|x| x + s)
    }

    pub(crate) fn mul_scalar_impl(&self, s: T) -> Tensor<T> {
        self.map(|x| x * s)
    }

    pub(crate) fn neg_impl(&self) -> Tensor<T> {
        self.map(|x| -x)
    }

    pub(crate) fn exp_impl(&self) -> Tensor<T> {
        self.map(|x| x.exp())
    }

    pub(crate) fn log_impl(&self) -> Tensor<T> {
        self.map(|x| x.ln())
    }

    pub(crate) fn sqrt_impl(&self) -> Tensor<T> {
        self.map(|x| x.sqrt())
    }

    pub(crate) fn abs_impl(&self) -> Tensor<T> {
        self.map(|x| x.abs())
    }

    pub(crate) fn sign_impl(&self) -> Tensor<T> {
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
        self.map(relu_of)
    }

    pub(crate) fn square_impl(&self) -> Tensor<T> {
        self.map(|x| x * x)
    }

    pub(crate) fn powf_impl(&self, p: T) -> Tensor<T> {
        self.map(|x| x.powf(p))
    }

    pub(crate) fn clamp_impl(&self, min: T, max: T) -> Tensor<T> {
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

/// [`Tensor::relu`] of one value: `x` where `x > 0`, else 0 (NaN included); every CPU path that
/// applies a ReLU (the op, the fused convolutions) calls this, so that all give the same bits.
#[inline(always)]
pub(crate) fn relu_of<T: Element>(x: T) -> T {
    if x > T::zero() { x } else { T::zero() }
}

/// [`Tensor::relu_grad`] of one value: the gradient `g` where the ReLU's input (or output) `y`
/// is above 0, else 0 (NaN included); the op and the input gradients that mask as they copy
/// call this, so that all give the same bits.
#[inline(always)]
pub(crate) fn relu_grad_of<T: Element>(g: T, y: T) -> T {
    if y > T::zero() { g } else { T::zero() }
}

/// [`Tensor::relu`] in place over `values` (vectorised and parallel when large): each value
/// stays where it is above 0 and becomes 0 elsewhere (NaN included), the bits `relu` gives.
pub(crate) fn relu_in_place<T: Element>(values: &mut [T]) {
    for_each_chunk_mut(values, GRAIN, |_, chunk| {
        vectorized(
            #[inline(always)]
            || {
                for v in chunk.iter_mut() {
                    *v = relu_of(*v);
                }
            },
        )
    });
}

/// The general broadcasting path: the output is written once, a row at a time, each input read
/// through its broadcast strides. The axes are merged first ([`Shape::collapsed_broadcast`], as
/// the GPU's broadcast does), so that the rows are as long as the operands allow:
/// `[N, C, H, W] * [1, C, 1, 1]` (batch-norm's per-channel scale) runs rows of `H * W` values
/// against one constant, not rows of `W`.
fn broadcast_general<T: Element>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    out_shape: Shape,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Tensor<T> {
    let numel = out_shape.numel();
    if numel == 0 {
        return Tensor::from_vec(Vec::new(), out_shape);
    }
    let (dims, strides) = out_shape.collapsed_broadcast(&[a.shape(), b.shape()]);
    let (sa, sb) = (&strides[0], &strides[1]);
    let inner_axis = dims.len() - 1;
    let inner = dims[inner_axis];
    let (ia, ib) = (sa[inner_axis], sb[inner_axis]);
    let (ad, bd) = (a.data(), b.data());
    let rows_per_chunk = (GRAIN / inner).max(1);
    let out = collect_chunks(numel, rows_per_chunk * inner, |start, chunk| {
        for (r, dst) in chunk.chunks_mut(inner).enumerate() {
            let (mut oa, mut ob) = (0, 0);
            let mut rest = start / inner + r;
            for axis in (0..inner_axis).rev() {
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
                            d.write(f(x, y));
                        }
                    }
                    (1, 0) => {
                        let y = bd[ob];
                        for (d, &x) in dst.iter_mut().zip(&ad[oa..oa + inner]) {
                            d.write(f(x, y));
                        }
                    }
                    (0, 1) => {
                        let x = ad[oa];
                        for (d, &y) in dst.iter_mut().zip(&bd[ob..ob + inner]) {
                            d.write(f(x, y));
                        }
                    }
                    _ => {
                        for (j, d) in dst.iter_mut().enumerate() {
                            d.write(f(ad[oa + j * ia], bd[ob + j * ib]));
                        }
                    }
                },
            )
        }
    });
    Tensor::from_vec(out, out_shape)
}
