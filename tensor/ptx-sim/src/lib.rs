//! `ptx-sim`: an interpreter of a small PTX subset, so that GPU kernels written as PTX text run
//! on the CPU, every memory access checked, on machines without a GPU.
//!
//! [`SimDevice`] is the whole interface: allocate and copy simulated global memory, then launch a
//! kernel of a PTX module with a [`LaunchConfig`] and [`KernelArg`]s, the values
//! `cuLaunchKernel` takes. It knows nothing of tensors or of CUDA: the `tensor` crate's GPU
//! backend and the `mockcuda` mock driver both run their kernels on it.
//!
//! # The PTX subset
//! It interprets exactly this (the `tensor` crate's kernels use only this):
//! - Module: `.version 7.8`, `.target sm_80`, `.address_size 64` (the directives are read and
//!   their values not checked); one or more `.visible .entry name(.param .u64 a, .param .u32 n,
//!   ...)` with parameters of type `.u32 .s32 .u64 .f32`; `//` and `/* */` comments.
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
//!
//! # The pieces, one job each
//! - Reading: [`lex`] splits the text into tokens; [`parse`] reads the module structure, the
//!   declarations into a [`scope::Scope`] per entry, and each instruction statement with its
//!   operands; [`decode`] turns a statement into a [`program::Op`] with every operand resolved
//!   and checked by [`operand`] against its declared type; [`program`] and [`kinds`] are the
//!   decoded form.
//! - Running: [`exec`] runs a grid block by block with barriers, [`thread`] runs one thread's
//!   instructions, [`ops`] is the arithmetic of each instruction, [`memory`] is bounds-checked
//!   global memory, [`race`] catches memory races between threads.
//!
//! # What it reports as errors, never panics
//! [`SimError::Ptx`] at load, [`SimError::Kernel`] at launch or run time, each naming the line,
//! and at run time the block and thread:
//! - PTX outside the subset, or that ptxas would reject (type classes such as `add.b32`, operands
//!   whose registers have the wrong type, `.extern .shared` inside an entry);
//! - launches whose arguments do not match the parameters (count, size, float or integer), with
//!   more than 1024 threads per block, or more than 48 KiB of shared memory per block;
//! - misaligned or out-of-bounds accesses (global memory: outside every allocation; shared:
//!   outside the block's static plus dynamic area), integer division by zero;
//! - a `bar.sync` that not every thread of the block reaches (some exited, or they wait at
//!   different ones), memory races (see [`race`]), and endless loops.
//!
//! Arithmetic is exact IEEE f32 (the `.approx` instructions too), so results may differ from a
//! GPU's by the few ulp the hardware's approximations allow, and NaN payloads are unspecified.

pub mod decode;
pub mod device;
pub mod error;
pub mod exec;
pub mod kinds;
pub mod launch;
pub mod lex;
pub mod memory;
pub mod module;
pub mod operand;
pub mod ops;
pub mod parse;
pub mod program;
pub mod race;
pub mod scope;
pub mod thread;

pub use device::SimDevice;
pub use error::SimError;
pub use launch::{KernelArg, LaunchConfig};
