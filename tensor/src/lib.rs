//! `tensor`: contiguous, row-major n-d tensors and the kernels behind them, on the CPU or a GPU.
//!
//! Every tensor owns immutable storage behind an `Arc` plus a [`Shape`], on one [`Device`]: host
//! memory for the CPU kernels (`ops`), or a device buffer for our PTX kernels (the `tensor-gpu`
//! crate below this one, re-exported as [`gpu`]), run by an NVIDIA GPU or by the PTX simulator.
//! Ops return new tensors on their operands' device; movement ops (transpose, permute, slice,
//! pad, concat) copy, so every kernel only ever sees contiguous
//! memory. The op set is one trait that each backend implements ([`backend`]): the CPU's kernels
//! are generic over [`Element`] (`f32` for training, `f64` for exact gradient checks) and
//! compiled once, here; the GPU computes in `f32`, and a `f64` tensor on a GPU is a type error
//! ([`Stored`]). Shapes, geometry and shape checks come from `tensor-spec`, which both backends
//! use. Programmer errors (shape mismatch, bad axis, operands on different devices) panic with
//! the op's name and the shapes involved.

pub mod allocator;
pub mod backend;
pub mod counters;
pub mod element;
pub mod ops;
pub mod parallel;
pub mod rng;
pub mod scratch;
pub mod scratch_pool;
pub mod simd;
pub mod stored;
pub mod tensor;

/// The GPU backend, the `tensor-gpu` crate below this one (kernels, driver, allocator,
/// [`gpu::GpuTensor`]): a CUDA device through the driver or the PTX simulator.
pub use tensor_gpu as gpu;
/// Devices (`cpu`, `sim`, `cuda:N`), from `tensor-gpu`, which opens them.
pub use tensor_gpu::device;
/// Shapes, strides and broadcasting, from `tensor-spec`.
pub use tensor_spec::shape;

pub use device::Device;
pub use element::Element;
pub use ops::conv::Conv2dGeometry;
pub use ops::pool::Pool2dGeometry;
pub use rng::Rng;
pub use shape::Shape;
pub use stored::Stored;
pub use tensor::{IndexTensor, Tensor};
