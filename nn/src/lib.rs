//! `nn`: layers, the paper's models, SGD, learning-rate schedules and checkpoints.
//!
//! A [`Module`] runs forward over [`autograd::Var`]s under a [`Forward`] context that carries
//! the mode (train, eval, attack), and visits its parameters and buffers under their PyTorch
//! `state_dict` names, so checkpoints move between this project and PyTorch unchanged.

pub mod module;

pub use module::{Entry, EntryMut, Forward, Mode, Module, Param, ParamGrads, ParamId};
