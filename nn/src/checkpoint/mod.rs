//! Checkpoints: a model's `state_dict` as a safetensors file that PyTorch reads and writes.
//!
//! The file holds every parameter and float buffer under its PyTorch `state_dict` name, in the
//! model's element type (`F32` for an f32 model, `F64` for an f64 one), and each integer
//! counter (`num_batches_tracked`) as an `I64` scalar of shape `[]`, exactly as
//! `safetensors.torch.save_file(model.state_dict(), path)` writes them. So
//! `model.load_state_dict(safetensors.torch.load_file(path), strict=True)` loads a checkpoint
//! written here, and [`load`] reads one written by PyTorch.
//!
//! Besides the model a checkpoint can carry [`Extras`], for an exact resume:
//! - the optimiser's state: each buffer as the tensor `optimizer.<buffer name>` (e.g.
//!   `optimizer.momentum.conv1.weight`) and its step count as the metadata key `optimizer.step`
//!   (PyTorch's `strict=True` loading would refuse these names: pass
//!   `{k: v for k, v in d.items() if not k.startswith("optimizer.")}` there);
//! - the [`TrainingState`] as JSON under the metadata key `training_state`;
//! - any other string metadata (the metadata key `format` is `pt`, as PyTorch writes it).
//!
//! Element types: float tensors stored as `F32` or `F64` load into either model type,
//! converted (widening is exact; `F64` into an f32 model rounds as `tensor.float()` does), so
//! an f64 model can load PyTorch's f32 checkpoints; counters must be `I64`; anything else is
//! refused. A checkpoint whose type matches the model round-trips bit for bit.
//!
//! Saving writes a temporary file in the same folder, flushes it to disk and renames it over
//! the destination, so a crash never leaves a half-written checkpoint. Loading checks every
//! name, shape and type before it changes anything, and reports every difference in one
//! [`CheckpointError::Mismatch`].

mod dtype;
mod error;
mod header;
mod load;
mod parse;
mod save;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tensor::Element;

use crate::optim::OptimizerState;

pub use error::{CheckpointError, Problem};
pub use header::{Header, read_header};
pub use load::load;
pub use save::{save, write_file_atomically};

/// The prefix of the optimiser's state tensors in the file.
const OPTIMIZER_PREFIX: &str = "optimizer.";
/// The metadata key of the optimiser's step count.
const OPTIMIZER_STEP_KEY: &str = "optimizer.step";
/// The metadata key of the [`TrainingState`] JSON.
const TRAINING_STATE_KEY: &str = "training_state";
/// The metadata key PyTorch's `save_file` writes (`"pt"`).
const FORMAT_KEY: &str = "format";
/// The metadata keys [`Extras::metadata`] may not use.
const RESERVED_KEYS: [&str; 3] = [OPTIMIZER_STEP_KEY, TRAINING_STATE_KEY, FORMAT_KEY];

/// What a checkpoint carries besides the model's `state_dict`; all optional.
#[derive(Clone, Debug, Default)]
pub struct Extras<T: Element> {
    /// The optimiser's state (`optimizer.state_dict()`).
    pub optimizer: Option<OptimizerState<T>>,
    /// Where the run stands.
    pub training: Option<TrainingState>,
    /// Free-form string metadata (e.g. the model name, the configuration as JSON); the keys
    /// `format`, `optimizer.step` and `training_state` are the checkpoint's own.
    pub metadata: BTreeMap<String, String>,
}

/// Where a training run stands, so that a resumed run continues exactly where it stopped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps completed.
    pub step: u64,
    /// The best value so far of the metric that selects the "best" checkpoint (JSON has no
    /// NaN: a NaN is saved as `None`).
    pub best_metric: Option<f64>,
    /// Random streams by name, each as `tensor::Rng::state()` `(seed, offset)`.
    pub rngs: BTreeMap<String, (u64, u64)>,
}
