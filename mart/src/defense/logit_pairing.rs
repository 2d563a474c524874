//! Logit pairing (Kannan et al. 2018) as its official code: ALP pairs each clean example's
//! logits with its adversarial example's, CLP pairs the logits of random pairs of clean
//! examples; both add `lambda` times the mean squared difference of the paired logits.

use autograd::Var;
use autograd::loss::{cross_entropy, mse_loss};
use nn::{Forward, Module};
use tensor::{Element, IndexTensor, Rng, Tensor};

use super::{Batch, Defense, StepLoss};
use crate::attack::Pgd;
use crate::device::beside;

/// Mean cross-entropy of `logits` `[B, K]` against labels smoothed by `smoothing` as
/// TensorFlow's `softmax_cross_entropy(label_smoothing=s)`: target `1 - s + s/K` on the label
/// and `s/K` elsewhere, i.e. `mean_i [-(1 - s) log p_iy - (s/K) sum_k log p_ik]`. With `s = 0`
/// it is the exact CE.
pub fn smoothed_cross_entropy<'t, T: Element>(
    logits: &Var<'t, T>,
    labels: &IndexTensor,
    smoothing: f64,
) -> Var<'t, T> {
    if smoothing == 0.0 {
        return cross_entropy(logits, labels);
    }
    let log_probs = logits.log_softmax(1);
    let nll = log_probs.gather(1, &labels.unsqueeze(1)).mean_all().neg();
    let uniform = log_probs.mean_axis(1, false).mean_all().neg();
    nll.mul_scalar(T::from_f64_lossy(1.0 - smoothing))
        .add(&uniform.mul_scalar(T::from_f64_lossy(smoothing)))
}

/// ALP's loss: the (smoothed) CE over the mixed batch `[clean; adversarial]`, which is half
/// the clean CE plus half the adversarial CE, plus `lambda * mean over B*K of
/// (z_clean - z_adv)^2`.
pub fn alp_loss<'t, T: Element>(
    logits_clean: &Var<'t, T>,
    logits_adv: &Var<'t, T>,
    labels: &IndexTensor,
    lambda: f64,
    smoothing: f64,
) -> Var<'t, T> {
    let half = T::from_f64_lossy(0.5);
    let ce = smoothed_cross_entropy(logits_clean, labels, smoothing)
        .add(&smoothed_cross_entropy(logits_adv, labels, smoothing))
        .mul_scalar(half);
    ce.add(&mse_loss(logits_clean, logits_adv).mul_scalar(T::from_f64_lossy(lambda)))
}

/// CLP's pairing of a batch of `size`: a random order of its rows; row `order[i]` is paired
/// with row `order[size / 2 + i]` for `i < size / 2` (an odd batch leaves its last row of the
/// order unpaired).
pub fn clp_order(size: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..size).collect();
    rng.shuffle(&mut order);
    order
}

/// The rows `rows` of `logits` `[B, K]`, in that order.
fn select_rows<'t, T: Element>(logits: &Var<'t, T>, rows: &[usize]) -> Var<'t, T> {
    let classes = logits.dims()[1];
    let index: Vec<u32> = rows
        .iter()
        .flat_map(|&r| std::iter::repeat_n(r as u32, classes))
        .collect();
    let index = beside(
        Tensor::from_vec(index, [rows.len(), classes]),
        logits.value(),
    );
    logits.gather(0, &index)
}

/// CLP's loss: `CE(logits, y) + lambda * mean((z_a - z_b)^2)` over the pairs of
/// [`clp_order`]'s `order` and the K classes; the CE alone when the batch has no pair.
pub fn clp_loss<'t, T: Element>(
    logits: &Var<'t, T>,
    labels: &IndexTensor,
    order: &[usize],
    lambda: f64,
) -> Var<'t, T> {
    let ce = cross_entropy(logits, labels);
    let half = order.len() / 2;
    if half == 0 {
        return ce;
    }
    let a = select_rows(logits, &order[..half]);
    let b = select_rows(logits, &order[half..2 * half]);
    ce.add(&mse_loss(&a, &b).mul_scalar(T::from_f64_lossy(lambda)))
}

/// Adversarial logit pairing: PGD examples crafted in attack mode against the true labels,
/// then one train-mode forward of the mixed batch `[clean; adversarial]` and [`alp_loss`].
pub struct Alp {
    /// The training attack (uniform start, CE, as Standard's).
    pub attack: Pgd,
    /// Weight of the logit-pairing term (0.5).
    pub lambda: f64,
    /// Label smoothing of the CE (0 = off; the official code used 0.1).
    pub label_smoothing: f64,
    /// Fraction of the attack's radius in use (an eps ramp), 1 by default.
    pub fraction: f32,
}

impl Alp {
    /// ALP with this attack at its full radius and these constants.
    pub fn new(attack: Pgd, lambda: f64, label_smoothing: f64) -> Self {
        Alp {
            attack,
            lambda,
            label_smoothing,
            fraction: 1.0,
        }
    }
}

impl Defense for Alp {
    fn name(&self) -> &'static str {
        "alp"
    }

    fn loss<'t>(
        &mut self,
        model: &dyn Module<f32>,
        batch: &Batch<'_>,
        fwd: &mut Forward<'t, f32>,
        rng: &mut Rng,
    ) -> StepLoss<'t> {
        let adv =
            self.attack
                .scaled(self.fraction)
                .run(model, batch.images, batch.labels, None, rng);
        let size = batch.labels.numel();
        let mixed = Tensor::concat(&[batch.images, &adv], 0);
        let logits = model.forward(&Var::constant(mixed), fwd);
        let clean = logits.slice(0, 0, size);
        let adversarial = logits.slice(0, size, 2 * size);
        StepLoss {
            loss: alp_loss(
                &clean,
                &adversarial,
                batch.labels,
                self.lambda,
                self.label_smoothing,
            ),
            logits: clean.value().clone(),
        }
    }

    fn set_radius_fraction(&mut self, fraction: f32) {
        self.fraction = fraction;
    }
}

/// Clean logit pairing: one train-mode forward of the clean batch and [`clp_loss`] over the
/// random pairs of [`clp_order`]; no adversarial examples (the eps ramp has nothing to scale).
pub struct Clp {
    /// Weight of the logit-pairing term (0.5).
    pub lambda: f64,
}

impl Defense for Clp {
    fn name(&self) -> &'static str {
        "clp"
    }

    fn loss<'t>(
        &mut self,
        model: &dyn Module<f32>,
        batch: &Batch<'_>,
        fwd: &mut Forward<'t, f32>,
        rng: &mut Rng,
    ) -> StepLoss<'t> {
        let order = clp_order(batch.labels.numel(), rng);
        let logits = model.forward(&Var::constant(batch.images.clone()), fwd);
        StepLoss {
            loss: clp_loss(&logits, batch.labels, &order, self.lambda),
            logits: logits.value().clone(),
        }
    }

    fn set_radius_fraction(&mut self, _fraction: f32) {}
}
