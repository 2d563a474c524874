//! One APGD run (the reference's `attack_single_run`, L-inf) and the bookkeeping that runs it
//! only on the points still robust (its `perturb`).
//!
//! Images and gradients stay tensors on the model's device; the per-example losses, predictions
//! and step sizes are `[B]` vectors on the host, where [`StepSizeControl`] decides, and come back
//! as `[B, 1, 1, 1]` masks and step sizes.

use autograd::{Tape, Var};
use nn::{Forward, Module};
use tensor::{IndexTensor, Rng, Tensor};

use std::ops::Range;

use super::apgd_schedule::{ApgdSchedule, StepSizeControl};
use super::chunks::{row_chunks, stack_rows};
use super::dlr::{dlr_loss, targeted_dlr_loss};
use super::{per_example, project};

/// Momentum of every iteration after the first (the reference's `a = 0.75`).
const MOMENTUM_WEIGHT: f32 = 0.75;

/// The reference adds this to the L-inf norm of the random start's direction.
const NORM_GUARD: f32 = 1e-12;

/// The per-example loss a run maximises.
pub(crate) enum Criterion {
    /// Cross-entropy against the label.
    CrossEntropy,
    /// Untargeted DLR.
    Dlr,
    /// Targeted DLR towards these classes (`[B]`, on the model's device).
    TargetedDlr(IndexTensor),
}

impl Criterion {
    /// The criterion of the examples `rows` of the batch.
    fn rows(&self, rows: &Range<usize>) -> Criterion {
        match self {
            Criterion::CrossEntropy => Criterion::CrossEntropy,
            Criterion::Dlr => Criterion::Dlr,
            Criterion::TargetedDlr(targets) => {
                Criterion::TargetedDlr(targets.slice(0, rows.start, rows.end))
            }
        }
    }

    /// The loss of each example, `[B]`.
    fn per_example<'t>(&self, logits: &Var<'t, f32>, labels: &IndexTensor) -> Var<'t, f32> {
        match self {
            Criterion::CrossEntropy => {
                let batch = labels.dims()[0];
                logits
                    .log_softmax(1)
                    .gather(1, &labels.unsqueeze(1))
                    .neg()
                    .reshape([batch])
            }
            Criterion::Dlr => dlr_loss(logits, labels),
            Criterion::TargetedDlr(targets) => targeted_dlr_loss(logits, labels, targets),
        }
    }
}

/// What the model says at one point: the loss and whether the label still wins, per example,
/// and the gradient of the summed loss with respect to the input.
struct Probe {
    loss: Vec<f32>,
    correct: Vec<bool>,
    grad: Tensor<f32>,
}

/// The model at `x`, the batch in row chunks on the CPU ([`row_chunks`]): each chunk's
/// gradient is that of its own summed loss, which for per-example losses is its rows of the
/// whole batch's.
fn probe(
    model: &dyn Module<f32>,
    x: &Tensor<f32>,
    labels: &IndexTensor,
    labels_host: &[usize],
    criterion: &Criterion,
) -> Probe {
    let chunks = row_chunks(x.dims()[0], x.device());
    if chunks.len() == 1 {
        return probe_rows(model, x, labels, labels_host, criterion);
    }
    let parts: Vec<Probe> = chunks
        .iter()
        .map(|rows| {
            probe_rows(
                model,
                &x.slice(0, rows.start, rows.end),
                &labels.slice(0, rows.start, rows.end),
                &labels_host[rows.clone()],
                &criterion.rows(rows),
            )
        })
        .collect();
    Probe {
        loss: parts.iter().flat_map(|p| p.loss.iter().copied()).collect(),
        correct: parts
            .iter()
            .flat_map(|p| p.correct.iter().copied())
            .collect(),
        grad: stack_rows(parts.into_iter().map(|p| p.grad).collect()),
    }
}

/// [`probe`] on one chunk.
fn probe_rows(
    model: &dyn Module<f32>,
    x: &Tensor<f32>,
    labels: &IndexTensor,
    labels_host: &[usize],
    criterion: &Criterion,
) -> Probe {
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let logits = model.forward(&xv, &mut Forward::attack());
    let loss = criterion.per_example(&logits, labels);
    let grad = tape.backward(&loss.sum_all(), &[&xv]).remove(0);
    let predicted = logits.value().argmax_axis(1).to_usizes();
    Probe {
        loss: loss.value().to_vec(),
        correct: predicted
            .iter()
            .zip(labels_host)
            .map(|(p, y)| p == y)
            .collect(),
        grad,
    }
}

/// `on_true` for the examples flagged, `on_false` for the others (no work when none is).
fn pick(flags: &[bool], on_true: &Tensor<f32>, on_false: &Tensor<f32>) -> Tensor<f32> {
    if !flags.contains(&true) {
        return on_false.clone();
    }
    let mask = flags.iter().map(|&f| if f { 1.0 } else { 0.0 }).collect();
    per_example(mask, on_false).where_(on_true, on_false)
}

/// The random start: `clamp01(x + eps * t / (||t||_inf + 1e-12))`, `t ~ U(-1, 1)`, the norm
/// per example.
fn random_start(x: &Tensor<f32>, eps: f32, rng: &mut Rng) -> Tensor<f32> {
    let t = rng.uniform_on::<f32>(x.device(), x.shape().clone(), -1.0, 1.0);
    let batch = x.dims()[0];
    let mut norm_dims = vec![1; x.rank()];
    norm_dims[0] = batch;
    let norm = t
        .abs()
        .reshape([batch, x.numel() / batch.max(1)])
        .max_axis(1, true)
        .reshape(norm_dims)
        .add_scalar(NORM_GUARD);
    x.add(&t.div(&norm).mul_scalar(eps)).clamp(0.0, 1.0)
}

/// The settings of one run.
pub(crate) struct RunSettings {
    pub eps: f32,
    pub steps: usize,
    pub rho: f32,
}

/// What a run found: which examples it misclassified at some iterate (or at the start) and,
/// for those, the last misclassified iterate (the others hold the starting point).
pub(crate) struct RunOutcome {
    pub fooled: Vec<bool>,
    pub adversarial: Tensor<f32>,
}

/// One APGD run from a random start on `x` (labels `y`), as `attack_single_run`.
pub(crate) fn single_run(
    model: &dyn Module<f32>,
    x: &Tensor<f32>,
    y: &IndexTensor,
    criterion: &Criterion,
    settings: &RunSettings,
    rng: &mut Rng,
) -> RunOutcome {
    let eps = settings.eps;
    let y_host = y.to_usizes();
    let mut x_adv = random_start(x, eps, rng);
    let mut x_best = x_adv.clone();
    let mut x_best_adv = x_adv.clone();
    let start = probe(model, &x_adv, y, &y_host, criterion);
    let mut grad = start.grad;
    let mut grad_best = grad.clone();
    let mut robust = start.correct;
    let schedule = ApgdSchedule::new(settings.steps);
    let mut control = StepSizeControl::new(schedule, settings.rho, start.loss, 2.0 * eps);
    let mut x_adv_old = x_adv.clone();

    for i in 0..settings.steps {
        let momentum = x_adv.sub(&x_adv_old);
        x_adv_old = x_adv.clone();
        let a = if i > 0 { MOMENTUM_WEIGHT } else { 1.0 };
        let step = per_example(control.step_size().to_vec(), x);
        let z = project(&x_adv.add(&step.mul(&grad.sign())), x, eps);
        let blended = x_adv
            .add(&z.sub(&x_adv).mul_scalar(a))
            .add(&momentum.mul_scalar(1.0 - a));
        x_adv = project(&blended, x, eps);

        let at = probe(model, &x_adv, y, &y_host, criterion);
        grad = at.grad;
        let fooled_now: Vec<bool> = at.correct.iter().map(|c| !c).collect();
        for (r, c) in robust.iter_mut().zip(&at.correct) {
            *r &= c;
        }
        x_best_adv = pick(&fooled_now, &x_adv, &x_best_adv);

        let improved = control.record(i, &at.loss);
        x_best = pick(&improved, &x_adv, &x_best);
        grad_best = pick(&improved, &grad, &grad_best);
        if let Some(reduced) = control.checkpoint(i) {
            x_adv = pick(&reduced, &x_best, &x_adv);
            grad = pick(&reduced, &grad_best, &grad);
        }
    }
    RunOutcome {
        fooled: robust.iter().map(|r| !r).collect(),
        adversarial: x_best_adv,
    }
}

/// The state of an APGD `perturb`: which points are still robust, and the batch to return
/// (adversarial where found, clean elsewhere).
pub(crate) struct Robustness {
    robust: Vec<bool>,
    adversarial: Tensor<f32>,
}

impl Robustness {
    /// Robust = classified correctly on the clean `images`.
    pub fn of_clean(model: &dyn Module<f32>, images: &Tensor<f32>, labels: &IndexTensor) -> Self {
        let logits = model.forward(&Var::constant(images.clone()), &mut Forward::attack());
        let predicted = logits.value().argmax_axis(1).to_usizes();
        Robustness {
            robust: predicted
                .iter()
                .zip(labels.to_usizes())
                .map(|(&p, y)| p == y)
                .collect(),
            adversarial: images.clone(),
        }
    }

    /// The rows of the points still robust, in ascending order.
    pub fn robust_rows(&self) -> Vec<usize> {
        (0..self.robust.len()).filter(|&r| self.robust[r]).collect()
    }

    /// Takes in a run on the rows `rows`: each point it fooled is no longer robust and its
    /// adversarial example replaces the clean image.
    pub fn record(&mut self, rows: &[usize], outcome: RunOutcome) {
        let batch = self.robust.len();
        let mut source: Vec<usize> = (0..batch).collect();
        for (j, (&row, &fooled)) in rows.iter().zip(&outcome.fooled).enumerate() {
            if fooled {
                self.robust[row] = false;
                source[row] = batch + j;
            }
        }
        if outcome.fooled.contains(&true) {
            self.adversarial =
                Tensor::concat(&[&self.adversarial, &outcome.adversarial], 0).select_rows(&source);
        }
    }

    /// The batch to return.
    pub fn into_adversarial(self) -> Tensor<f32> {
        self.adversarial
    }
}
