//! 2-D convolution (NCHW input, OIHW weights) and its two gradient ops, by im2col + GEMM.
//!
//! Each output is the weight matrix `[O, C*KH*KW]` times the image's column matrix (im2col).
//! Where the packed AVX-512 kernel applies, these routes, fastest first:
//! - a 3x3 kernel, stride 1, 16 or more channels on both sides: Winograd's F(2x2, 3x3), or
//!   F(4x4, 3x3) from 64 channels on images large enough, for the forward pass and the input
//!   gradient ([`crate::ops::winograd`]), F(3x3, 2x2) for the weight
//!   gradient when the batch has enough tiles ([`crate::ops::winograd_grad`]).
//! - stride 1 with few wasted columns: the column matrix is never written; its rows are read
//!   straight from a zero-padded copy of the image (`Implicit`). The input gradient of such a
//!   convolution is again one (flipped weights, see `grad_input_as_conv`).
//! - otherwise the forward unfolds [`NR`](crate::ops::packed_gemm::NR) columns at a time into a
//!   small contiguous panel, and the input gradient computes `W^T dy` by tiles and scatters them
//!   back (col2im).
//!
//! Elsewhere (other element types, shallow column matrices) `matrixmultiply` multiplies im2col
//! tiles sized for L2; a 1x1 kernel with stride 1 and no padding skips im2col: the image is
//! already the column matrix. Images run in parallel, each with a single-threaded GEMM.
//!
//! One file per job: the column matrix and its tiles (`unfold`), which route each op takes
//! (`route`), the routes themselves (`packed`, `implicit`, `gemm`, and
//! [`crate::ops::winograd`]), the three public ops on [`crate::Tensor`] (`api`), and the
//! convolution + ReLU + max pooling as one op with its input gradient (`pooled`).
//! [`Conv2dGeometry`] and the shape check live in `tensor_spec::conv`, shared with the GPU.

mod api;
mod gemm;
mod implicit;
mod packed;
mod pooled;
mod route;
#[cfg(test)]
pub(crate) mod tests;
mod unfold;

pub use tensor_spec::Conv2dGeometry;
