//! The GPU backend: our own PTX kernels, run on an NVIDIA GPU through `cudarc`'s driver API
//! ([`Gpu::cuda`]) or on [`Gpu::sim`], an interpreter of exactly the PTX subset below.
//!
//! No CUDA C, no nvcc, no cuBLAS or cuDNN: every kernel is PTX text written by a small Rust
//! function in [`kernels`], which a reader can audit instruction by instruction; `cargo run -p
//! tensor --example dump_ptx -- DIR` writes them all out, and CI assembles them with ptxas for
//! sm_80 and sm_90. The CUDA driver is loaded at run time, so everything here builds and runs
//! (on the simulator) on machines with no CUDA at all.
//!
//! # The PTX subset
//! Kernels use only this, and the simulator implements exactly this:
//! - Module: `.version 7.8`, `.target sm_80`, `.address_size 64` ([`module::PTX_HEADER`]); one or
//!   more `.visible .entry name(.param .u64 a, .param .u32 n, ...)` with parameters of type
//!   `.u32 .s32 .u64 .f32`; `//` and `/* */` comments.
//! - Declarations in an entry: `.reg .pred|.b32|.u32|.s32|.f32|.b64|.u64|.s64 %name<N>;` (or one
//!   register `%name`); `.shared .align A .b8|.f32|.u32 name[N];`. At module scope (ptxas
//!   rejects it inside an entry): `.extern .shared .align A .b8 name[];`, dynamic shared memory
//!   sized by [`LaunchConfig::shared_bytes`].
//! - Special registers `%tid.{x,y,z}`, `%ntid.{x,y,z}`, `%ctaid.{x,y,z}`, `%nctaid.{x,y,z}`.
//! - Operands: registers, integer immediates (decimal, `0x` hex, negative), f32 immediates only
//!   as `0fXXXXXXXX` (the IEEE bits), addresses `[%rd]`, `[%rd+imm]`, `[name]`, `[name+imm]`.
//! - Any instruction may be guarded: `@%p` or `@!%p`.
//! - Data movement: `ld.param`; `ld.global[.nc]`, `st.global`, `ld.shared`, `st.shared` of `.f32
//!   .u32 .s32 .b32 .u64 .b64`, also `.v2` and `.v4` of 32-bit types (`{%f1, %f2, %f3, %f4}`);
//!   `mov` (register, immediate, special register, or the address of a shared array);
//!   `cvta.to.global.u64`.
//! - Integer (`.u32 .s32 .u64 .s64 .b32 .b64` where PTX allows): `add sub mul.lo mul.hi mul.wide
//!   mad.lo mad.hi mad.wide div rem min max neg abs and or xor not shl shr`; `and or xor not` of
//!   `.pred`.
//! - f32: `add sub mul` (optionally `.rn`), `fma.rn`, `div.rn`, `div.approx`, `neg abs min max`,
//!   `sqrt.rn`, `rcp.rn`, `rsqrt.approx`, `ex2.approx`, `lg2.approx` (the simulator computes the
//!   `.approx` forms exactly; tests allow for the hardware's few ulp).
//! - `setp.{eq,ne,lt,le,gt,ge}` for signed and float types, `setp.{lo,ls,hi,hs}` for unsigned,
//!   `setp.{equ,neu,ltu,leu,gtu,geu,num,nan}.f32`; `selp`; `cvt` between `.f32` and `.u32/.s32`
//!   (`.rn` to float, `.rzi .rmi .rni` to integer), `cvt.rmi/.rzi/.rni.f32.f32`, and between
//!   32- and 64-bit integers.
//! - `atom.global.add.{f32,u32}` and `red.global.add.{f32,u32}`; `atom.global.max.u32`.
//! - Control: `bra[.uni] LABEL`, `bar.sync 0`, `ret`, `exit`. No warp shuffles, no textures.

pub mod buffer;
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
pub mod sim;
pub mod test_devices;

pub use buffer::GpuBuffer;
pub use device_tensor::{GpuScalar, GpuTensor};
pub use error::GpuError;
pub use gpu::Gpu;
pub use launch::{KernelArg, LaunchConfig};
pub use module::PtxModule;
