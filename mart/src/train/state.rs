//! The resumable state of a run: where it stopped and what it has seen.

use serde::{Deserialize, Serialize};

use crate::report::EpochMetrics;
use crate::train::config::TrainConfig;

/// Everything besides the model and optimiser that an exact resume needs. Random streams are
/// derived from the seed and the position (epoch, step), so the position is their state too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The run's configuration (a resumed run keeps it).
    pub config: TrainConfig,
    /// The epoch to run next, from 0.
    pub epoch: usize,
    /// The batch of that epoch to run next, from 0.
    pub batch: usize,
    /// Optimiser steps taken so far.
    pub step: u64,
    /// Best PGD-20 test accuracy so far, in percent, and its epoch (from 1).
    pub best: Option<(f64, usize)>,
    /// Running sums of the unfinished epoch: loss, correct predictions, examples, seconds.
    pub partial: EpochTotals,
    /// The finished epochs' metrics, the source of `metrics.jsonl` (rewritten from it, so a
    /// run killed while writing that file resumes with it whole). Absent from run folders of
    /// older versions: read back from their `metrics.jsonl`.
    #[serde(default)]
    pub history: Vec<EpochMetrics>,
}

/// Sums over the batches of an epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochTotals {
    /// Sum of batch losses times batch sizes.
    pub loss: f64,
    /// Correct natural predictions in train mode.
    pub correct: usize,
    /// Examples seen.
    pub seen: usize,
    /// Seconds spent training.
    pub seconds: f64,
}

impl RunState {
    /// The state of a run that has not started.
    pub fn start(config: TrainConfig) -> Self {
        RunState {
            config,
            epoch: 0,
            batch: 0,
            step: 0,
            best: None,
            partial: EpochTotals::default(),
            history: Vec::new(),
        }
    }
}
