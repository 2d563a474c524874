//! Creation ops of float tensors (zeros, ones, arange, ...), conversions of their elements, and
//! the fills on a chosen device, which run a kernel on a GPU.

use crate::backend::BackendOps;
use crate::device::Device;
use crate::element::Element;
use crate::shape::Shape;
use crate::tensor::Tensor;

impl<T: Element> Tensor<T> {
    /// A tensor of `shape` filled with `value`, on `device` (a fill kernel on a GPU).
    pub fn full_on(shape: impl Into<Shape>, value: T, device: Device) -> Self {
        let shape = shape.into();
        match device {
            Device::Cpu => T::Cpu::full(device, shape, value),
            _ => Tensor::from_gpu_storage(T::Gpu::full(device, shape, value)),
        }
    }

    /// All zeros on `device`.
    pub fn zeros_on(shape: impl Into<Shape>, device: Device) -> Self {
        Tensor::full_on(shape, T::zero(), device)
    }

    /// All ones on `device`.
    pub fn ones_on(shape: impl Into<Shape>, device: Device) -> Self {
        Tensor::full_on(shape, T::one(), device)
    }

    /// All zeros.
    pub fn zeros(shape: impl Into<Shape>) -> Self {
        Tensor::full(shape, T::zero())
    }

    /// All ones.
    pub fn ones(shape: impl Into<Shape>) -> Self {
        Tensor::full(shape, T::one())
    }

    /// A rank-0 tensor holding `value`.
    pub fn scalar(value: T) -> Self {
        Tensor::from_vec(vec![value], Shape::scalar())
    }

    /// `[0, 1, ..., n-1]` as a 1-D tensor.
    pub fn arange(n: usize) -> Self {
        Tensor::from_vec((0..n).map(|i| T::from_usize(i).unwrap()).collect(), [n])
    }

    /// A tensor from f64 values (converted with rounding), handy in tests.
    pub fn from_f64s(values: &[f64], shape: impl Into<Shape>) -> Self {
        Tensor::from_vec(
            values.iter().map(|&v| T::from_f64_lossy(v)).collect(),
            shape,
        )
    }

    /// The elements as f64.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.to_cpu()
            .data()
            .iter()
            .map(|v| v.to_f64().unwrap())
            .collect()
    }

    /// The same values in another element type.
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        Tensor::from_vec(
            self.data()
                .iter()
                .map(|v| U::from_f64_lossy(v.to_f64().unwrap()))
                .collect(),
            self.shape().clone(),
        )
    }

    /// True when any element is NaN or infinite.
    pub fn has_non_finite(&self) -> bool {
        self.data().iter().any(|v| !v.is_finite())
    }
}
