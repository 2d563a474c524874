//! What the epoch loop does differently as one replica of a data-parallel group
//! ([`crate::distributed::Replicas`]); for a process training alone each helper is the identity
//! (or nothing), so a run without replicas is exactly the run it always was.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::Ordering;

use anyhow::{Result, bail};
use tensor::{IndexTensor, Tensor};

use super::{Parts, TrainRun};
use crate::distributed::Reduced;

/// Metadata key of the number of replicas in `resume.safetensors` (absent: one process).
const WORLD_KEY: &str = "mart.world_size";

impl TrainRun<'_> {
    /// Whether this process writes the run folder: rank 0, or the only process.
    pub(super) fn leads(&self) -> bool {
        self.replicas.is_none_or(|r| r.rank() == 0)
    }

    /// This process's share of `n` items.
    pub(super) fn share(&self, n: usize) -> Range<usize> {
        self.replicas.map_or(0..n, |r| r.shard(n))
    }

    /// The position of this replica's random streams (dropout, attack, evaluation) at step or
    /// epoch `at`: `at` alone, or interleaved by rank so that replicas draw independently.
    pub(super) fn position(&self, at: u64) -> u64 {
        self.replicas
            .map_or(at, |r| at * r.world() as u64 + r.rank() as u64)
    }

    /// Whether to stop after this step: Ctrl-C alone, or what the replicas agreed at the step.
    pub(super) fn stop_requested(&self) -> bool {
        match self.replicas {
            None => self.stop.load(Ordering::SeqCst),
            Some(r) => r.stop_agreed(),
        }
    }

    /// Makes every replica start from rank 0's model.
    pub(super) fn start_replicas(&self, parts: &mut Parts) -> Result<()> {
        match self.replicas {
            None => Ok(()),
            Some(r) => r.start(&mut *parts.model, &*parts.defense),
        }
    }

    /// This replica's share of a batch's images, labels and rows (augmented as a whole first,
    /// so the shares together are the batch one process would train on), after taking rank 0's
    /// running statistics as DDP does before each forward.
    pub(super) fn my_share<'r>(
        &self,
        parts: &mut Parts,
        images: Tensor<f32>,
        labels: IndexTensor,
        rows: &'r [usize],
    ) -> Result<(Tensor<f32>, IndexTensor, &'r [usize])> {
        let Some(r) = self.replicas else {
            return Ok((images, labels, rows));
        };
        r.broadcast_buffers(&mut *parts.model)?;
        let Range { start, end } = r.shard(rows.len());
        Ok((
            images.slice(0, start, end),
            labels.slice(0, start, end),
            &rows[start..end],
        ))
    }

    /// The step of the whole group from this replica's `local` outcome over `counts` (its
    /// examples, the batch's): gradients averaged, loss and accuracy summed, stop agreed.
    pub(super) fn reduce(
        &self,
        parts: &Parts,
        local: Reduced,
        counts: (usize, usize),
    ) -> Result<Reduced> {
        match self.replicas {
            None => Ok(local),
            Some(r) => {
                let stop = self.stop.load(Ordering::SeqCst);
                r.reduce_step(&*parts.model, local, counts, stop)
            }
        }
    }

    /// The accuracy table of all replicas' shares (`local` of `total` images here).
    pub(super) fn reduce_table(
        &self,
        table: Vec<(String, f64)>,
        local: usize,
        total: usize,
    ) -> Result<Vec<(String, f64)>> {
        match self.replicas {
            None => Ok(table),
            Some(r) => r.reduce_table(table, local, total),
        }
    }

    /// Brings the replicas into the state rank 0 saves: the defense state merged, rank 0's
    /// running statistics everywhere. Before each evaluation and each resumable checkpoint.
    pub(super) fn agree(&self, parts: &mut Parts) -> Result<()> {
        let Some(r) = self.replicas else {
            return Ok(());
        };
        r.sync_defense(&mut *parts.defense)?;
        r.broadcast_buffers(&mut *parts.model)
    }

    /// Records the number of replicas in a resumable checkpoint's metadata.
    pub(super) fn note_world(&self, metadata: &mut BTreeMap<String, String>) {
        if let Some(r) = self.replicas {
            metadata.insert(WORLD_KEY.into(), r.world().to_string());
        }
    }

    /// Refuses to resume a run with another number of replicas than it was saved with (the
    /// shares of each batch, the random streams and the per-replica batch statistics would
    /// differ from the uninterrupted run's).
    pub(super) fn check_world(&self, metadata: &BTreeMap<String, String>) -> Result<()> {
        let saved: usize = metadata.get(WORLD_KEY).map_or(Ok(1), |w| w.parse())?;
        let now = self.replicas.map_or(1, |r| r.world());
        if saved != now {
            bail!(
                "{} was trained by {saved} process(es) but this resume runs {now}: resume with the \
                 same world size (WORLD_SIZE / SLURM_NTASKS = {saved}{})",
                self.out.display(),
                if saved == 1 {
                    ", i.e. without a launcher"
                } else {
                    ""
                }
            );
        }
        Ok(())
    }
}
