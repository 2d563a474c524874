//! The element types a [`Tensor`](crate::Tensor) can hold, and where each can live, decided at
//! compile time: `f32` values and `u32` indices in host memory or on a GPU, `f64` in host memory
//! only. Each type names its GPU storage: [`GpuTensor`] for the 4-byte types the PTX kernels
//! read, and for `f64` [`NoGpu`], an enum with no values, so that an `f64` tensor on a GPU cannot
//! be built and every GPU branch for it is `match *x {}`.

use crate::backend::{GpuBackend, MovementOps};
use crate::device::Device;
use crate::shape::Shape;
use tensor_gpu::{Gpu, GpuError, GpuScalar, GpuTensor};

mod sealed {
    /// Only this crate adds element types: each needs kernels on every backend.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for u32 {}
}

/// An element type a tensor stores (`f32`, `f64`, `u32`; sealed), with its GPU storage and the
/// GPU backend's movement ops for it.
pub trait Stored: Copy + Send + Sync + 'static + sealed::Sealed {
    /// This type's tensors on a GPU: [`GpuTensor`] of it, or [`NoGpu`] for `f64`.
    type GpuTensor: GpuStorage<Self>;
    /// The GPU backend for this type: [`GpuBackend`], or [`NoGpu`] for `f64`.
    type Gpu: MovementOps<Self, Tensor = Self::GpuTensor>;
}

impl Stored for f32 {
    type GpuTensor = GpuTensor<f32>;
    type Gpu = GpuBackend;
}

impl Stored for u32 {
    type GpuTensor = GpuTensor<u32>;
    type Gpu = GpuBackend;
}

impl Stored for f64 {
    type GpuTensor = NoGpu;
    type Gpu = NoGpu;
}

/// What a `Tensor` needs of its GPU storage besides the ops: moving data, sharing, reshaping.
pub trait GpuStorage<T>: Clone + Send + Sync + Sized {
    /// Copies host values of `shape` to `gpu`.
    fn upload(gpu: &Gpu, values: &[T], shape: Shape) -> Result<Self, GpuError>;
    /// A rank-0 tensor holding `value` on `gpu` (the constants ops take from the host; uploaded
    /// once per device and value).
    fn constant(gpu: &Gpu, value: T) -> Result<Self, GpuError>;
    /// The elements, copied back to the host (after the kernels that write them).
    fn download(&self) -> Result<Vec<T>, GpuError>;
    /// The device.
    fn device(&self) -> Device;
    /// The shape.
    fn shape(&self) -> &Shape;
    /// The same buffer under another shape of the same element count.
    fn reshape(&self, shape: Shape) -> Self;
    /// How many handles share the buffer.
    fn ref_count(&self) -> usize;
    /// True when both share one buffer.
    fn same_buffer(&self, other: &Self) -> bool;
}

impl<T: GpuScalar> GpuStorage<T> for GpuTensor<T> {
    fn upload(gpu: &Gpu, values: &[T], shape: Shape) -> Result<Self, GpuError> {
        GpuTensor::upload_slice(gpu, values, shape)
    }

    fn constant(gpu: &Gpu, value: T) -> Result<Self, GpuError> {
        GpuTensor::constant(gpu, value)
    }

    fn download(&self) -> Result<Vec<T>, GpuError> {
        self.download_vec()
    }

    fn device(&self) -> Device {
        self.gpu().device()
    }

    fn shape(&self) -> &Shape {
        GpuTensor::shape(self)
    }

    fn reshape(&self, shape: Shape) -> Self {
        GpuTensor::reshape(self, shape)
    }

    fn ref_count(&self) -> usize {
        self.buffer_ref_count()
    }

    fn same_buffer(&self, other: &Self) -> bool {
        self.shares_buffer(other)
    }
}

/// The GPU storage (and backend) of a type no GPU holds: `f64`. It has no values, so code that
/// would handle one is `match *self {}`; only moving host data to a GPU can ask for one, and
/// that is an error.
#[derive(Clone, Copy, Debug)]
pub enum NoGpu {}

impl GpuStorage<f64> for NoGpu {
    fn upload(gpu: &Gpu, _: &[f64], _: Shape) -> Result<Self, GpuError> {
        Err(GpuError::UnsupportedType {
            what: format!("moving a float64 tensor to {}", gpu.device()),
        })
    }

    fn constant(gpu: &Gpu, _: f64) -> Result<Self, GpuError> {
        Err(GpuError::UnsupportedType {
            what: format!("a float64 constant on {}", gpu.device()),
        })
    }

    fn download(&self) -> Result<Vec<f64>, GpuError> {
        match *self {}
    }

    fn device(&self) -> Device {
        match *self {}
    }

    fn shape(&self) -> &Shape {
        match *self {}
    }

    fn reshape(&self, _: Shape) -> Self {
        match *self {}
    }

    fn ref_count(&self) -> usize {
        match *self {}
    }

    fn same_buffer(&self, _: &Self) -> bool {
        match *self {}
    }
}
