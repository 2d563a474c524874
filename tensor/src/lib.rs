//! `tensor`: contiguous, row-major n-d tensors and the CPU kernels behind them.
//!
//! Every tensor owns immutable storage behind an `Arc` plus a [`Shape`]. Ops return new tensors;
//! movement ops (transpose, permute, slice, pad, concat) copy, so every kernel only ever sees
//! contiguous memory. Kernels are generic over [`Element`] (`f32` for training, `f64` for exact
//! gradient checks). Programmer errors (shape mismatch, bad axis) panic with the op's name and the
//! shapes involved.

pub mod allocator;
pub mod counters;
pub mod cuda;
pub mod device;
pub mod element;
pub mod ops;
pub mod parallel;
pub mod rng;
pub mod shape;
pub mod simd;
pub mod tensor;

pub use device::Device;
pub use element::Element;
pub use ops::conv::Conv2dGeometry;
pub use ops::pool::Pool2dGeometry;
pub use rng::Rng;
pub use shape::Shape;
pub use tensor::{IndexTensor, Tensor};
