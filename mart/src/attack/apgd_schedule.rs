//! APGD's step-size control (Croce and Hein, 2020, section 3.2), on the host: per example, the
//! loss of every iteration, the best loss so far and the step size, and at each checkpoint the
//! decision to halve the step and restart from the best point.
//!
//! Everything here is a few numbers per example; the images and gradients stay tensors in
//! `apgd_run`, which asks this module which examples improved and which restart.

/// The checkpoint constants of the reference for `n_iter` iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApgdSchedule {
    /// Iterations in the run.
    pub n_iter: usize,
    /// Iterations before the first checkpoint: `n_iter_2 = max(floor(0.22 N), 1)`.
    pub first_interval: usize,
    /// The shortest interval between checkpoints: `n_iter_min = max(floor(0.06 N), 1)`.
    pub min_interval: usize,
    /// How much each interval is shorter than the one before: `size_decr = max(floor(0.03 N), 1)`.
    pub interval_decrease: usize,
}

/// `max(floor(fraction * n), 1)`, computed in f64 as Python's `max(int(fraction * n), 1)`.
fn fraction_of(fraction: f64, n: usize) -> usize {
    ((fraction * n as f64).floor() as usize).max(1)
}

impl ApgdSchedule {
    /// The constants for `n_iter` iterations.
    pub fn new(n_iter: usize) -> ApgdSchedule {
        ApgdSchedule {
            n_iter,
            first_interval: fraction_of(0.22, n_iter),
            min_interval: fraction_of(0.06, n_iter),
            interval_decrease: fraction_of(0.03, n_iter),
        }
    }

    /// The interval that follows one of `interval` iterations: `max(k - size_decr, n_iter_min)`.
    pub fn next_interval(&self, interval: usize) -> usize {
        interval
            .saturating_sub(self.interval_decrease)
            .max(self.min_interval)
    }
}

/// The 0-based iterations at which APGD checks its step size in a run of `n_iter` iterations
/// (for 100: 21, 40, 56, 69, 79, 86, 92, 98).
pub fn apgd_checkpoints(n_iter: usize) -> Vec<usize> {
    let schedule = ApgdSchedule::new(n_iter);
    let (mut interval, mut since_check) = (schedule.first_interval, 0);
    let mut checkpoints = Vec::new();
    for i in 0..n_iter {
        since_check += 1;
        if since_check == interval {
            checkpoints.push(i);
            interval = schedule.next_interval(interval);
            since_check = 0;
        }
    }
    checkpoints
}

/// Per-example step sizes and the loss bookkeeping that decides when to halve them.
#[derive(Clone, Debug)]
pub struct StepSizeControl {
    schedule: ApgdSchedule,
    rho: f32,
    interval: usize,
    since_check: usize,
    /// The reference's `loss_steps`: row `i` holds iteration `i`'s losses, zero until then.
    loss_steps: Vec<Vec<f32>>,
    loss_best: Vec<f32>,
    loss_best_last_check: Vec<f32>,
    reduced_last_check: Vec<bool>,
    step_size: Vec<f32>,
}

impl StepSizeControl {
    /// The state before the first iteration: the best loss is the loss at the starting point,
    /// every step is `initial_step`, and the previous checkpoint counts as having reduced
    /// (so the first checkpoint looks only at the loss increases).
    pub fn new(
        schedule: ApgdSchedule,
        rho: f32,
        start_loss: Vec<f32>,
        initial_step: f32,
    ) -> StepSizeControl {
        let batch = start_loss.len();
        StepSizeControl {
            schedule,
            rho,
            interval: schedule.first_interval,
            since_check: 0,
            loss_steps: vec![vec![0.0; batch]; schedule.n_iter],
            loss_best_last_check: start_loss.clone(),
            loss_best: start_loss,
            reduced_last_check: vec![true; batch],
            step_size: vec![initial_step; batch],
        }
    }

    /// The current step size of every example.
    pub fn step_size(&self) -> &[f32] {
        &self.step_size
    }

    /// The best loss of every example so far.
    pub fn loss_best(&self) -> &[f32] {
        &self.loss_best
    }

    /// Records the losses of iteration `i`; returns, per example, whether the loss strictly
    /// exceeded its best so far (then the caller keeps this iterate and its gradient as best).
    pub fn record(&mut self, i: usize, losses: &[f32]) -> Vec<bool> {
        self.loss_steps[i].copy_from_slice(losses);
        losses
            .iter()
            .zip(&mut self.loss_best)
            .map(|(&loss, best)| {
                let improved = loss > *best;
                if improved {
                    *best = loss;
                }
                improved
            })
            .collect()
    }

    /// After [`record`](Self::record) of iteration `i`: `None` between checkpoints; at a
    /// checkpoint, per example, whether its step was halved, in which case the caller restarts
    /// it from its best point with the best point's gradient.
    ///
    /// An example is reduced when its loss increased in at most `rho * k` of the last `k`
    /// iterations, or when it was not reduced at the previous checkpoint and its best loss has
    /// not grown since.
    pub fn checkpoint(&mut self, i: usize) -> Option<Vec<bool>> {
        self.since_check += 1;
        if self.since_check != self.interval {
            return None;
        }
        let k = self.interval;
        // Python's float `k * rho`, rounded to f32 where it meets the f32 counts.
        let threshold = (k as f64 * f64::from(self.rho)) as f32;
        let reduce: Vec<bool> = (0..self.step_size.len())
            .map(|e| {
                let oscillating = self.increases(i, k, e) as f32 <= threshold;
                let stalled = !self.reduced_last_check[e]
                    && self.loss_best_last_check[e] >= self.loss_best[e];
                oscillating || stalled
            })
            .collect();
        for (step, _) in self.step_size.iter_mut().zip(&reduce).filter(|(_, r)| **r) {
            *step /= 2.0;
        }
        self.reduced_last_check.clone_from(&reduce);
        self.loss_best_last_check.clone_from(&self.loss_best);
        self.interval = self.schedule.next_interval(k);
        self.since_check = 0;
        Some(reduce)
    }

    /// How many of the `k` iterations up to `j` raised example `e`'s loss over the iteration
    /// before, as the reference's `check_oscillation`. Its index `j - k` is `-1` at the first
    /// checkpoint, which Python reads as the last row of `loss_steps`: still zero in a long
    /// run, so the first iteration counts as an increase when its loss is positive.
    fn increases(&self, j: usize, k: usize, e: usize) -> usize {
        let rows = self.loss_steps.len() as isize;
        let at = |offset: isize| self.loss_steps[offset.rem_euclid(rows) as usize][e];
        (0..k as isize)
            .filter(|&c| at(j as isize - c) > at(j as isize - c - 1))
            .count()
    }
}
