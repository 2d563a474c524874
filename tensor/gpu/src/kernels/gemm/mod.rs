//! Batched SGEMM, `C = op(A) op(B) (+ bias)`, the way fast FP32 GEMMs are written for NVIDIA GPUs,
//! and `matmul`/`matmul_t` on [`GpuTensor`](crate::GpuTensor)s built on it (convolution
//! uses it too).
//!
//! # The kernel
//! A block of 256 threads computes one `S x S` tile of `C` (`S` = 128, or 64 for small products).
//! It walks along the inner dimension in slices of `BK` = 8:
//! - **Global to shared.** Each thread loads a few elements of the `S x 8` slice of `op(A)` and of
//!   the `8 x S` slice of `op(B)` with coalesced loads: consecutive threads read consecutive
//!   addresses, along `k` when the operand is stored with `k` contiguous, along the tile's long
//!   side otherwise (one load path per layout: the four transpose variants are four entries).
//!   Both slices land in shared memory as `[k][S]` rows (`A` transposed), padded by four floats
//!   per row so that the transposing stores hit 32 different banks.
//! - **Double buffering.** Shared memory holds two such pairs of slices. While the block
//!   multiplies out of one, each thread already has the next slice's loads in flight into
//!   registers, and stores them into the other buffer afterwards: one barrier per slice.
//! - **Register blocking.** Each thread owns an `8 x 8` (or `4 x 4`) micro-tile of `C` in
//!   registers. For every `k` it reads its 8 values of `A` and 8 of `B` with four `ld.shared.v4`
//!   and does 64 independent FMAs (one byte of shared memory per FMA; 4x4: two bytes).
//! - **Edges.** Loads outside `M x K` or `K x N` read as zero and stores outside `M x N` are
//!   skipped, so any sizes work, down to 1.
//! - **Batches.** `grid.z` runs over output matrices, each with its own offset of `A`, `B`, `C`
//!   (an offset of 0 shares the operand). A matrix may also be the *sum* of several consecutive
//!   products (`sum` > 1): the weight gradient of a convolution sums over images that way.
//!
//! `tile.rs` holds the tile sizes, `loader.rs` and `ptx.rs` write the kernels' text, and
//! `launch.rs` chooses the tile and launches them (`sgemm`, which convolution uses too).

pub(crate) mod launch;
mod loader;
mod ptx;
mod tile;

pub use ptx::MODULE;
