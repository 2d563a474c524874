//! Movement ops on the GPU: broadcast_to, permute, transpose, slice, concat, pad, select_rows,
//! (un)squeeze, and a plain copy (`duplicate`), mirroring `tensor::ops::movement`.
//!
//! Like the CPU ops they copy into a fresh contiguous tensor (reshape, squeeze and unsqueeze
//! share the buffer). Kernels move 32-bit words, so they serve `f32` values and `u32` indices
//! alike. In the one-thread-per-element kernels, neighbouring threads write neighbouring
//! addresses (coalesced stores); the reads follow the op's strides.
//!
//! Most ops are one kernel, `strided_copy`: output element `i` reads `src[offset + sum_a c_a *
//! stride_a]`, where `c_a` are the coordinates of `i` in the output shape. Before launching, the
//! host merges axes that stay contiguous and drops size-1 axes, so a typical copy walks two or
//! three axes, whatever the tensor's rank; up to [`MAX_RANK`] axes remain. When the output's
//! innermost axis is strided in the source (a transpose or a permute that moves the last axis),
//! reading one element per thread would scatter the reads; such copies go to
//! `transpose_tiles`, which stages 32 x 32 tiles in shared memory so that both the reads and the
//! writes are coalesced.
//!
//! `ptx.rs` writes the kernels' text; `snippets.rs` holds the PTX pieces the other kernel files
//! of this family (index, stats, rng, optim, scan) share too: the thread-index prologue, element
//! addressing and the strided walk; `launch.rs` merges the axes of a copy, chooses its kernel
//! and holds the [`GpuTensor`](crate::GpuTensor) methods.

pub(crate) mod launch;
mod ptx;
pub(crate) mod snippets;

pub use ptx::MODULE;
pub use snippets::MAX_RANK;
