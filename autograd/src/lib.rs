//! `autograd`: reverse-mode automatic differentiation over the ops of the `tensor` crate.
//!
//! A [`Tape`] is a Wengert list: every recorded op appends one node holding the ids of its inputs
//! and a closure that maps the output's gradient to its inputs' gradients. Creation order is a
//! topological order, so [`Tape::backward`] is one reverse loop. A [`Var`] is a value plus an
//! optional place on a tape; values with no place are constants, so the same model code runs
//! recorded (training, attacks) or unrecorded (evaluation).
//!
//! Each op's backward rule sits beside its forward in `ops/`; losses as PyTorch defines them are
//! in [`loss`].

mod backward;
pub mod loss;
pub mod ops;
pub mod tape;
pub mod var;

pub use loss::Reduction;
pub use tape::Tape;
pub use var::Var;
