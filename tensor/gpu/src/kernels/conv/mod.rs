//! 2-D convolution over NCHW [`GpuTensor`](crate::GpuTensor)s (OIHW weights) and its two
//! gradients, by im2col and the batched SGEMM of [`super::gemm`]: the GPU twins of the CPU ops
//! in `tensor::ops::conv`.
//!
//! For a chunk of images at a time, `im2col` unfolds every image into its column matrix
//! `[C*KH*KW, OH*OW]` (zeros where the kernel hangs over the padding), then:
//! - forward: `y_n = W col_n + bias`, one GEMM batched over the images (`W` shared);
//! - input gradient: `col_n = W^T dy_n` (one batched GEMM), then `col2im` *gathers* for each
//!   input pixel the column entries that came from it: no atomics, deterministic;
//! - weight gradient: `dW = sum_n dy_n col_n^T`, as a GEMM whose outputs each sum a group of
//!   images, followed by an in-order sum of the groups' partials (deterministic again).
//!
//! A 1x1 kernel with stride 1 and no padding needs no unfolding: the image is its own column
//! matrix, and the input gradient comes straight out of the GEMM.
//!
//! `ptx.rs` writes the kernels' text (`im2col`, `col2im`, `sum_partials`); `launch.rs` sizes the
//! chunks of images, launches them and the GEMMs, and holds the
//! [`GpuTensor`](crate::GpuTensor) methods.

mod launch;
mod ptx;

pub use ptx::MODULE;
