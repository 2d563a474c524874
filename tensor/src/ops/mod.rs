//! The op set, one file per family. Every op is a method on [`crate::Tensor`].

pub mod channel;
pub mod compare;
pub mod conv;
pub mod elementwise;
pub mod fill;
pub mod index;
pub mod matmul;
pub mod movement;
pub mod optim;
pub mod packed_gemm;
pub(crate) mod placement;
pub mod pool;
mod pool_2x2;
pub mod random;
pub mod reduce;
pub mod scan;
pub mod softmax;
pub mod stats;
pub mod weight_cache;
pub mod winograd;
pub mod winograd_grad;
