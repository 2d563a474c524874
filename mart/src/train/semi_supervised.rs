//! A semi-supervised run's settings: where its pseudo-labelled set comes from and its share of
//! each batch (a plain value of the configuration; the batches themselves are `mixing`'s job).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the pseudo-labelled set of a run comes from, and its share of each batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SemiSupervised {
    /// Unlabelled images: an MNIST IDX images file or CIFAR-10-style binary records.
    pub images: PathBuf,
    /// Their pseudo-labels: an IDX labels file (`mart pseudo-label` writes one).
    pub pseudo_labels: PathBuf,
    /// Share of each batch drawn from the pseudo-labelled images (RST: 0.5).
    pub fraction: f64,
}

/// RST's share of pseudo-labelled examples per batch.
pub const DEFAULT_UNLABELED_FRACTION: f64 = 0.5;

impl SemiSupervised {
    /// Labelled and pseudo-labelled examples per batch of `batch_size`; an error unless both
    /// are at least one.
    pub fn per_batch(&self, batch_size: usize) -> Result<(usize, usize), String> {
        let f = self.fraction;
        if !(f > 0.0 && f < 1.0) {
            return Err(format!(
                "--unlabeled-fraction must lie strictly between 0 and 1, got {f}"
            ));
        }
        let labelled = (batch_size as f64 * (1.0 - f)).round() as usize;
        if labelled == 0 || labelled >= batch_size {
            return Err(format!(
                "--unlabeled-fraction {f} with --batch-size {batch_size} leaves {labelled} labelled and {} \
                 pseudo-labelled examples per batch: each needs at least one",
                batch_size.saturating_sub(labelled)
            ));
        }
        Ok((labelled, batch_size - labelled))
    }
}
