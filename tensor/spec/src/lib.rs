//! `tensor-spec`: what the tensor crate's two backends agree on, written once.
//!
//! The CPU kernels (in `tensor`) and the GPU kernels (in `tensor-gpu`) each take buffers and a
//! [`Shape`], never a `Tensor`; this crate, below both, holds what they must share so that a
//! check or a size is computed in one place: shapes, strides and broadcasting ([`shape`]), the
//! geometry of convolution, pooling and matrix products and the shape checks on them ([`conv`],
//! [`pool`], [`matmul`], [`checks`]), the op kinds a backend's entry points take ([`op`]), the
//! optimiser steps' hyper-parameters ([`optim`]), and Philox4x32-10 ([`philox`]), the random
//! generator both backends must run bit for bit. It depends on nothing; `tensor-gpu` and
//! `tensor` stand on it, and `tensor` re-exports the public names at their old paths.

pub mod checks;
pub mod conv;
pub mod matmul;
pub mod op;
pub mod optim;
pub mod philox;
pub mod pool;
pub mod shape;

pub use conv::Conv2dGeometry;
pub use matmul::MatmulShape;
pub use op::{BinaryOp, Draw, ReduceOp, ScalarOp, SoftmaxOp, UnaryOp};
pub use optim::{AdamStep, SgdStep};
pub use pool::Pool2dGeometry;
pub use shape::Shape;
