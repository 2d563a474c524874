//! Tensors filled with one value on a chosen device: the creation ops that run a kernel (a fill)
//! when the device is a GPU.

use crate::cuda::GpuTensor;
use crate::device::Device;
use crate::element::Element;
use crate::ops::on_gpu;
use crate::shape::Shape;
use crate::tensor::Tensor;

impl<T: Element> Tensor<T> {
    /// A tensor of `shape` filled with `value`, on `device` (a fill kernel on a GPU).
    pub fn full_on(shape: impl Into<Shape>, value: T, device: Device) -> Self {
        let shape = shape.into();
        match device.gpu() {
            Ok(None) => Tensor::full(shape, value),
            Ok(Some(gpu)) => {
                let value = value.to_f32().expect("full_on: value is a float");
                on_gpu::done("full_on", GpuTensor::full(&gpu, shape, value))
            }
            Err(e) => panic!("full_on({device}): {e}"),
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
}
