//! `tensor-gpu`: the GPU backend of the `tensor` crate: our own PTX kernels, run on an NVIDIA GPU
//! through `cudarc`'s driver API ([`Gpu::cuda`]) or on [`Gpu::sim`], the [`ptx_sim`] interpreter
//! of the PTX subset below.
//!
//! # Where it sits
//! Below `tensor`, above `tensor-spec` and `ptx-sim`: it takes device buffers and shapes
//! ([`GpuTensor`] is a buffer plus a [`Shape`](tensor_spec::Shape)), never a `Tensor`, and gets
//! every shape check and geometry from `tensor_spec`, which the CPU kernels use too. The
//! [`Device`] enum (`cpu`, `sim`, `cuda:N`) lives here because opening a device (the
//! process-wide [`Gpu`] handle of each) is this crate's job. `tensor`'s GPU backend
//! (`tensor::backend`) maps each op of the op set to a launcher here, and `tensor` re-exports
//! this crate as `tensor::gpu`. Inside: the kernels (PTX generators and their launchers,
//! [`kernels`]), the driver ([`driver`], over cudarc, which only this crate links), the caching
//! allocator (`buffer_cache`), module loading ([`module`], [`jit`], [`library`]), launches
//! ([`launch`]) and device faults ([`faults`]).
//!
//! No CUDA C, no nvcc, no cuBLAS or cuDNN: every kernel is PTX text written by a small Rust
//! function in [`kernels`], which a reader can audit instruction by instruction; `cargo run -p
//! tensor-gpu --release --example dump_ptx -- DIR` writes them all out, and CI assembles them
//! with ptxas for sm_80 and sm_90. The CUDA driver is loaded at run time, so everything here
//! builds and runs (on the simulator) on machines with no CUDA at all.
//!
//! # The PTX subset
//! Kernels use only the PTX subset that the simulator, the [`ptx_sim`] crate, documents and
//! interprets: typed registers, global and shared memory (static and dynamic), guarded
//! instructions, integer and f32 arithmetic, `setp`/`selp`/`cvt`, a few atomics, branches and
//! `bar.sync`; no warp shuffles, no textures. Every module starts with [`module::PTX_HEADER`].

mod backend;
mod buffer_cache;
mod constants;
pub mod device;
pub mod device_tensor;
pub mod driver;
pub mod error;
pub mod faults;
pub mod gpu;
pub mod jit;
pub mod kernels;
pub mod launch;
pub mod library;
pub mod module;
pub mod test_devices;

pub use device::Device;
pub use device_tensor::{GpuScalar, GpuTensor};
pub use error::GpuError;
pub use gpu::{Gpu, GpuBuffer};
pub use launch::{KernelArg, LaunchConfig};
pub use module::PtxModule;
