//! Data parallelism over a [`Collective`], as PyTorch's DistributedDataParallel with its
//! defaults: parameters and buffers broadcast from rank 0 at the start, each replica training
//! on its shard of every global batch, gradients averaged in one flat buffer per step, batch
//! statistics per replica with rank 0's running statistics broadcast before each forward.

use std::cell::{Cell, RefCell};
use std::ops::Range;

use anyhow::{Result, bail};
use nn::{Entry, EntryMut, Module, ParamGrads};
use tensor::Tensor;

use super::Collective;
use crate::defense::Defense;
use crate::device::moved;

/// A replica's view of its data-parallel group.
pub struct Replicas {
    collective: Box<dyn Collective>,
    /// Whether any replica asked to stop at the last step (Ctrl-C reaches ranks at different
    /// moments; they stop together after the step that first saw it).
    stop: Cell<bool>,
    /// The defense state all replicas agreed on last (see [`Replicas::sync_defense`]).
    defense_base: RefCell<Vec<f32>>,
}

/// One step's outcome on every replica once reduced: the global mean loss, and the averaged
/// gradients with the number of correct predictions (`None` when some replica's loss was not
/// finite).
pub type Reduced = (f64, Option<(ParamGrads<f32>, usize)>);

impl Replicas {
    /// The data-parallel view of `collective`'s group.
    pub fn new(collective: Box<dyn Collective>) -> Self {
        Replicas {
            collective,
            stop: Cell::new(false),
            defense_base: RefCell::new(Vec::new()),
        }
    }

    /// This replica's rank.
    pub fn rank(&self) -> usize {
        self.collective.rank()
    }

    /// Number of replicas.
    pub fn world(&self) -> usize {
        self.collective.world()
    }

    /// This replica's contiguous share of `n` items (a batch's rows, the test images): shares
    /// differ by at most one item and cover `0..n` in rank order.
    pub fn shard(&self, n: usize) -> Range<usize> {
        let (r, w) = (self.rank(), self.world());
        n * r / w..n * (r + 1) / w
    }

    /// Whether a replica asked to stop at the last reduced step.
    pub fn stop_agreed(&self) -> bool {
        self.stop.get()
    }

    /// Makes every replica's parameters and buffers rank 0's, and records the defense state
    /// replicas start from: the first thing a replicated run does after building or loading.
    pub fn start(&self, model: &mut dyn Module<f32>, defense: &dyn Defense) -> Result<()> {
        self.broadcast_state(model, true)?;
        *self.defense_base.borrow_mut() = defense.state();
        Ok(())
    }

    /// Broadcasts rank 0's float buffers (BatchNorm running statistics and counters) to every
    /// replica, as DDP does before each forward (`broadcast_buffers=True`); nothing to do for a
    /// model without buffers.
    pub fn broadcast_buffers(&self, model: &mut dyn Module<f32>) -> Result<()> {
        self.broadcast_state(model, false)
    }

    /// Broadcasts rank 0's buffers (and parameters, with `params`) in one flat buffer.
    fn broadcast_state(&self, model: &mut dyn Module<f32>, params: bool) -> Result<()> {
        let mut flat = Vec::new();
        model.visit("", &mut |_, entry| match entry {
            Entry::Param(p) if params => flat.extend(p.value().to_vec()),
            Entry::Param(_) => {}
            Entry::Buffer(b) => flat.extend(b.to_vec()),
            Entry::Count(c) => flat.push(c as f32),
        });
        if flat.is_empty() {
            return Ok(());
        }
        self.collective.broadcast(&mut flat, 0)?;
        let mut values = flat.into_iter();
        let mut next = |n: usize| -> Vec<f32> { values.by_ref().take(n).collect() };
        let take = |t: &mut Tensor<f32>, next: &mut dyn FnMut(usize) -> Vec<f32>| {
            let value = Tensor::from_vec(next(t.numel()), t.shape().clone());
            *t = moved(&value, t.device());
        };
        model.visit_mut("", &mut |_, entry| match entry {
            EntryMut::Param(p) if params => take(p.value_mut(), &mut next),
            EntryMut::Param(_) => {}
            EntryMut::Buffer(b) => take(b, &mut next),
            EntryMut::Count(c) => *c = next(1)[0] as i64,
        });
        Ok(())
    }

    /// All-reduces one step in one flat buffer: each parameter's gradient weighted by this
    /// replica's share `local / global` of the batch (so the sum is the gradient of the global
    /// batch's mean loss, also for uneven shares), a flag per parameter saying whether it has
    /// a gradient, the loss and correct-prediction sums, and the stop and non-finite flags.
    /// `step` is this replica's `(mean loss, gradients and correct count)` over its `local`
    /// examples, gradients `None` when its loss was not finite; `stop` whether it was asked
    /// to stop.
    pub fn reduce_step(
        &self,
        model: &dyn Module<f32>,
        (loss, step): Reduced,
        (local, global): (usize, usize),
        stop: bool,
    ) -> Result<Reduced> {
        let weight = local as f32 / global.max(1) as f32;
        let mut flat = Vec::new();
        let mut present = Vec::new();
        let mut shapes = Vec::new();
        model.visit("", &mut |_, entry| {
            if let Entry::Param(p) = entry {
                let grad = step.as_ref().and_then(|(grads, _)| grads.get(&p.id()));
                match grad {
                    Some(g) => flat.extend(g.to_vec().into_iter().map(|x| x * weight)),
                    None => flat.extend(std::iter::repeat_n(0.0, p.value().numel())),
                }
                present.push(f32::from(u8::from(grad.is_some())));
                shapes.push((p.id(), p.value().shape().clone(), p.value().device()));
            }
        });
        let grads_len = flat.len();
        flat.extend(present);
        let finite = step.is_some() && loss.is_finite();
        let correct = step.as_ref().map_or(0, |(_, c)| *c);
        flat.extend([
            if finite {
                (loss * local as f64) as f32
            } else {
                0.0
            },
            correct as f32,
            f32::from(u8::from(!finite)),
            f32::from(u8::from(stop)),
        ]);
        self.collective.all_reduce_sum(&mut flat)?;
        let tail = &flat[flat.len() - 4..];
        self.stop.set(tail[3] > 0.0);
        if tail[2] > 0.0 {
            return Ok((f64::NAN, None));
        }
        let loss = f64::from(tail[0]) / global.max(1) as f64;
        let correct = tail[1].round() as usize;
        let mut grads = ParamGrads::new();
        let mut at = 0;
        for (k, (id, shape, device)) in shapes.into_iter().enumerate() {
            let n = shape.numel();
            if flat[grads_len + k] > 0.0 {
                let g = Tensor::from_vec(flat[at..at + n].to_vec(), shape);
                grads.insert(id, moved(&g, device));
            }
            at += n;
        }
        Ok((loss, Some((grads, correct))))
    }

    /// Combines an accuracy table each replica computed on its `local` of `total` images
    /// into the table of all of them (accuracies in percent).
    pub fn reduce_table(
        &self,
        table: Vec<(String, f64)>,
        local: usize,
        total: usize,
    ) -> Result<Vec<(String, f64)>> {
        let mut flat: Vec<f32> = table
            .iter()
            .map(|(_, acc)| (acc / 100.0 * local as f64).round() as f32)
            .collect();
        self.collective.all_reduce_sum(&mut flat)?;
        Ok(table
            .into_iter()
            .zip(flat)
            .map(|((name, _), correct)| (name, 100.0 * f64::from(correct) / total.max(1) as f64))
            .collect())
    }

    /// Merges the defense state the replicas changed since they last agreed (MMA's margins of
    /// the examples each replica trained on): every replica's change is summed onto the
    /// agreed state, so each example's new value comes from the replica that saw it.
    pub fn sync_defense(&self, defense: &mut dyn Defense) -> Result<()> {
        let mine = defense.state();
        let mut base = self.defense_base.borrow_mut();
        if mine.is_empty() {
            return Ok(());
        }
        if mine.len() != base.len() {
            bail!(
                "the {} defense's state changed size from {} to {} values",
                defense.name(),
                base.len(),
                mine.len()
            );
        }
        let mut change: Vec<f32> = mine.iter().zip(base.iter()).map(|(m, b)| m - b).collect();
        self.collective.all_reduce_sum(&mut change)?;
        for (b, d) in base.iter_mut().zip(change) {
            *b += d;
        }
        defense.restore(base.clone()).map_err(anyhow::Error::msg)?;
        Ok(())
    }
}
