//! Comparisons giving 0/1 masks, and `where` selecting by a mask.

use crate::cuda::GpuTensor;
use crate::element::Element;
use crate::ops::on_gpu;
use crate::tensor::Tensor;

/// 1 where `cond` holds, else 0.
fn mask<T: Element>(cond: bool) -> T {
    if cond { T::one() } else { T::zero() }
}

impl<T: Element> Tensor<T> {
    /// 1 where `self > other` (broadcast), else 0.
    pub fn gt(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_gt(self, other)
    }

    /// Gradient of [`Tensor::relu`] at `x` for the output gradient `self`: `self` where
    /// `x > 0`, else 0 (so a NaN gradient of a dead unit gives 0), in one pass as PyTorch's
    /// `threshold_backward`. On a GPU: the mask and the product, two kernels.
    pub fn relu_grad(&self, x: &Tensor<T>) -> Tensor<T> {
        T::tensor_relu_grad(self, x)
    }

    /// 1 where `self >= other` (broadcast), else 0.
    pub fn ge(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_ge(self, other)
    }

    /// 1 where `self < other` (broadcast), else 0.
    pub fn lt(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_lt(self, other)
    }

    /// 1 where `self <= other` (broadcast), else 0.
    pub fn le(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_le(self, other)
    }

    /// 1 where `self == other` (broadcast), else 0.
    pub fn eq_mask(&self, other: &Tensor<T>) -> Tensor<T> {
        T::tensor_eq_mask(self, other)
    }

    /// `on_true` where `self` is non-zero, else `on_false`; all three broadcast together.
    pub fn where_(&self, on_true: &Tensor<T>, on_false: &Tensor<T>) -> Tensor<T> {
        T::tensor_where_(self, on_true, on_false)
    }
}

/// The bodies of the ops above, compiled once per element type in this crate: see
/// [`crate::compiled`].
impl<T: Element> Tensor<T> {
    pub(crate) fn gt_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("gt", self, other, GpuTensor::gt) {
            return out;
        }
        self.zip_map(other, "gt", |a, b| mask(a > b))
    }

    pub(crate) fn relu_grad_impl(&self, x: &Tensor<T>) -> Tensor<T> {
        assert_eq!(
            self.shape(),
            x.shape(),
            "relu_grad: gradient {:?} and input {:?} differ",
            self.shape(),
            x.shape()
        );
        if self.device().is_gpu() || x.device().is_gpu() {
            return self.mul(&x.gt(&Tensor::scalar(T::zero())));
        }
        self.zip_map(
            x,
            "relu_grad",
            |g, x| if x > T::zero() { g } else { T::zero() },
        )
    }

    pub(crate) fn ge_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("ge", self, other, GpuTensor::ge) {
            return out;
        }
        self.zip_map(other, "ge", |a, b| mask(a >= b))
    }

    pub(crate) fn lt_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("lt", self, other, GpuTensor::lt) {
            return out;
        }
        self.zip_map(other, "lt", |a, b| mask(a < b))
    }

    pub(crate) fn le_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("le", self, other, GpuTensor::le) {
            return out;
        }
        self.zip_map(other, "le", |a, b| mask(a <= b))
    }

    pub(crate) fn eq_mask_impl(&self, other: &Tensor<T>) -> Tensor<T> {
        if let Some(out) = on_gpu::binary("eq_mask", self, other, GpuTensor::eq_mask) {
            return out;
        }
        self.zip_map(other, "eq", |a, b| mask(a == b))
    }

    pub(crate) fn where_impl(&self, on_true: &Tensor<T>, on_false: &Tensor<T>) -> Tensor<T> {
        let shape = self
            .shape()
            .broadcast_or_panic(on_true.shape(), "where")
            .broadcast_or_panic(on_false.shape(), "where");
        let device = on_gpu::agree(
            "where",
            &[
                (self.dims(), self.device()),
                (on_true.dims(), on_true.device()),
                (on_false.dims(), on_false.device()),
            ],
        );
        if device.is_gpu() {
            let (c, t, f) = (
                on_gpu::on::<T, f32>("where", self, device),
                on_gpu::on("where", on_true, device),
                on_gpu::on("where", on_false, device),
            );
            return on_gpu::done("where", c.where_(&t, &f));
        }
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
