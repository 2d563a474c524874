//! Comparisons giving 0/1 masks, and `where` selecting by a mask.

use crate::backend::{BackendOps, BinaryOp};
use crate::device::Device;
use crate::element::Element;
use crate::ops::elementwise::relu_grad_of;
use crate::ops::placement::agree;
use crate::tensor::Tensor;

/// 1 where `cond` holds, else 0.
fn mask<T: Element>(cond: bool) -> T {
    if cond { T::one() } else { T::zero() }
}

impl<T: Element> Tensor<T> {
    /// 1 where `self > other` (broadcast), else 0.
    pub fn gt(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Gt, other)
    }

    /// Gradient of [`Tensor::relu`] at `x` for the output gradient `self`: `self` where
    /// `x > 0`, else 0 (so a NaN gradient of a dead unit gives 0), in one pass as PyTorch's
    /// `threshold_backward`. On a GPU: the mask and the product, two kernels.
    pub fn relu_grad(&self, x: &Tensor<T>) -> Tensor<T> {
        assert_eq!(
            self.shape(),
            x.shape(),
            "relu_grad: gradient {:?} and input {:?} differ",
            self.shape(),
            x.shape()
        );
        match agree("relu_grad", &[self.placed(), x.placed()]) {
            Device::Cpu => T::Cpu::relu_grad(self, x),
            device => Tensor::from_gpu_storage(T::Gpu::relu_grad(
                &self.gpu_operand("relu_grad", device),
                &x.gpu_operand("relu_grad", device),
            )),
        }
    }

    /// 1 where `self >= other` (broadcast), else 0.
    pub fn ge(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Ge, other)
    }

    /// 1 where `self < other` (broadcast), else 0.
    pub fn lt(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Lt, other)
    }

    /// 1 where `self <= other` (broadcast), else 0.
    pub fn le(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Le, other)
    }

    /// 1 where `self == other` (broadcast), else 0.
    pub fn eq_mask(&self, other: &Tensor<T>) -> Tensor<T> {
        self.binary(BinaryOp::Eq, other)
    }

    /// `on_true` where `self` is non-zero, else `on_false`; all three broadcast together.
    pub fn where_(&self, on_true: &Tensor<T>, on_false: &Tensor<T>) -> Tensor<T> {
        self.shape()
            .broadcast_or_panic(on_true.shape(), "where")
            .broadcast_or_panic(on_false.shape(), "where");
        let operands = [self.placed(), on_true.placed(), on_false.placed()];
        match agree("where", &operands) {
            Device::Cpu => T::Cpu::where_(self, on_true, on_false),
            device => Tensor::from_gpu_storage(T::Gpu::where_(
                &self.gpu_operand("where", device),
                &on_true.gpu_operand("where", device),
                &on_false.gpu_operand("where", device),
            )),
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn gt_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "gt", |a, b| mask(a > b))
    }

    pub(crate) fn relu_grad_impl(&self, x: &Tensor<T>) -> Tensor<T> {
        self.zip_map(x, "relu_grad", relu_grad_of)
    }

    pub(crate) fn ge_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "ge", |a, b| mask(a >= b))
    }

    pub(crate) fn lt_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "lt", |a, b| mask(a < b))
    }

    pub(crate) fn le_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "le", |a, b| mask(a <= b))
    }

    pub(crate) fn eq_mask_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "eq", |a, b| mask(a == b))
    }

    pub(crate) fn where_impl(&self, on_true: &Tensor<T>, on_false: &Tensor<T>) -> Tensor<T> {
        let shape = self
            .shape()
            .broadcast_or_panic(on_true.shape(), "where")
            .broadcast_or_panic(on_false.shape(), "where");
        let cond = self.broadcast_to(shape.clone());
        let on_true = on_true.broadcast_to(shape.clone());
        let on_false = on_false.broadcast_to(shape.clone());
        let picked = cond
            .data()
            .iter()
            .zip(on_true.data())
            .zip(on_false.data())
            .map(|((&c, &t), &f)| if c != T::zero() { t } else { f })
            .collect();
        Tensor::from_vec(picked, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_grad_passes_the_gradient_where_the_input_is_positive() {
        let x = Tensor::<f64>::from_vec(vec![2.0, 0.0, -1.0, f64::NAN, 1e-300], [5]);
        let g = Tensor::<f64>::from_vec(vec![3.0, 4.0, f64::NAN, 5.0, -6.0], [5]);
        let got = g.relu_grad(&x).to_vec();
        assert_eq!(got, vec![3.0, 0.0, 0.0, 0.0, -6.0]);
    }
}
