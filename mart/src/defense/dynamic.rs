//! Dynamic adversarial training (Wang et al., ICML 2019, `YisenWang/dynamic_adv_training`):
//! PGD whose examples stop once their first-order stationary condition (FOSC) falls to a
//! threshold that decreases linearly over training, and a CE on the adversarial examples
//! weighted by each example's own CE.

use autograd::{Tape, Var};
use nn::{Forward, Module};
use tensor::{Element, IndexTensor, Rng, Tensor};

use super::{Batch, Defense, StepLoss};
use crate::attack::{attack_logits, per_example, project};
use crate::device::beside;
use crate::train::config::FoscReference;

/// Dynamic adversarial training's constants (MART.md).
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicOptions {
    /// FOSC threshold of epoch 0 (0.5).
    pub c_max: f64,
    /// The epoch at which the threshold reaches 0 (100 of 120 in the published code).
    pub t_prime: usize,
    /// Where the FOSC measures the distance travelled from.
    pub reference: FoscReference,
}

/// The FOSC threshold of `epoch` (0-based): `max(c_max - c_max * epoch / t_prime, 0)`.
pub fn fosc_threshold(c_max: f64, t_prime: usize, epoch: usize) -> f64 {
    (c_max - c_max * epoch as f64 / t_prime.max(1) as f64).max(0.0)
}

/// The FOSC of each example, `[B]` on `grad`'s device: `eps * ||g_i||_1 - <g_i, x_i -
/// reference_i>`, with `grad` the input gradient of the example's CE at `x`.
pub fn fosc(grad: &Tensor<f32>, x: &Tensor<f32>, reference: &Tensor<f32>, eps: f32) -> Tensor<f32> {
    let rows = grad.dims()[0];
    let per_row = grad.numel() / rows.max(1);
    let flat = |t: &Tensor<f32>| t.reshape([rows, per_row]);
    let l1 = flat(grad).abs().sum_axis(1, false);
    let dot = flat(grad).mul(&flat(&x.sub(reference))).sum_axis(1, false);
    l1.mul_scalar(eps).sub(&dot)
}

/// Each example's CE at `x` (attack mode) and its input gradient. The CE is summed over the
/// batch, so each row holds its own example's gradient whatever the batch size, as the
/// published code's `tf.gradients` of the per-example loss vector: the FOSC threshold is an
/// absolute number.
fn per_example_ce_gradient(
    model: &dyn Module<f32>,
    x: &Tensor<f32>,
    labels: &IndexTensor,
) -> Tensor<f32> {
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let logits = model.forward(&xv, &mut Forward::attack());
    let loss = logits
        .log_softmax(1)
        .gather(1, &labels.unsqueeze(1))
        .sum_all()
        .neg();
    tape.backward(&loss, &[&xv]).remove(0)
}

/// The training attack of dynamic adversarial training: uniform start, `steps` signed steps
/// of `alpha` on CE within `eps`; step 0 moves every example, and each later step moves only
/// the examples whose FOSC has stayed above `threshold` after every step so far.
#[derive(Clone, Debug)]
pub struct FoscPgd {
    /// L-inf radius.
    pub eps: f32,
    /// Step size (eps/4 in the published code).
    pub alpha: f32,
    /// Number of steps (10).
    pub steps: usize,
    /// An example whose FOSC is at or below this stops for good.
    pub threshold: f64,
    /// Where the FOSC measures the distance travelled from.
    pub reference: FoscReference,
}

/// What [`FoscPgd`] found, on the images' device.
pub struct FoscOutcome {
    /// The adversarial examples.
    pub adversarial: Tensor<f32>,
    /// How many steps each example moved, `[B]` (0 only when `steps` is 0).
    pub steps_moved: Tensor<f32>,
}

impl FoscPgd {
    /// Runs the attack from `x + U(-eps, eps)` (not clamped before the first gradient).
    pub fn run(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> FoscOutcome {
        let eps = f64::from(self.eps);
        let start = images.add(&rng.uniform_on(images.device(), images.shape().clone(), -eps, eps));
        self.run_from(model, images, labels, start)
    }

    /// Runs the attack from the given start point.
    pub fn run_from(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        start: Tensor<f32>,
    ) -> FoscOutcome {
        let reference = match self.reference {
            FoscReference::Start => start.clone(),
            FoscReference::Natural => images.clone(),
        };
        // The mask of the examples still moving stays on the device: the attack never waits
        // for it.
        let rows = images.dims()[0];
        let mut moving = per_example(vec![1.0; rows], images);
        let mut steps_moved = beside(Tensor::zeros([rows]), images);
        let threshold = Tensor::scalar(self.threshold as f32);
        let mut x = start;
        for step in 0..self.steps {
            let grad = per_example_ce_gradient(model, &x, labels);
            if step > 0 {
                let above = fosc(&grad, &x, &reference, self.eps).gt(&threshold);
                moving = moving.mul(&above.reshape(moving.dims()));
            }
            let direction = grad.sign().mul(&moving);
            x = project(&x.add(&direction.mul_scalar(self.alpha)), images, self.eps);
            steps_moved = steps_moved.add(&moving.reshape([rows]));
        }
        let adversarial = if self.steps == 0 {
            project(&x, images, self.eps)
        } else {
            x
        };
        FoscOutcome {
            adversarial,
            steps_moved,
        }
    }
}

/// The published code's loss weight of each example, `[B]` on the logits' device: its CE
/// `max(-log(p_y + 1e-12), 0)` from attack-mode `logits` (Keras' `model.predict`), a constant.
pub fn ce_weights(logits: &Tensor<f32>, labels: &IndexTensor) -> Tensor<f32> {
    let rows = labels.numel();
    logits
        .softmax(1)
        .gather(1, &labels.unsqueeze(1))
        .reshape([rows])
        .add_scalar(1e-12)
        .log()
        .neg()
        .maximum(&Tensor::scalar(0.0))
}

/// Dynamic adversarial training's loss on adversarial logits: the mean CE without `weights`
/// (epoch 0); with them (`[B]`, on the logits' device), `sum_i w_i CE_i / B` divided by the
/// fraction of non-zero weights (Keras' `sample_weight`), which is `sum_i w_i CE_i / #{w_i != 0}`
/// (0 when every weight is 0).
pub fn dynamic_loss<'t, T: Element>(
    logits_adv: &Var<'t, T>,
    labels: &IndexTensor,
    weights: Option<&Tensor<T>>,
) -> Var<'t, T> {
    let ce = logits_adv
        .log_softmax(1)
        .gather(1, &labels.unsqueeze(1))
        .squeeze(1)
        .neg();
    let Some(weights) = weights else {
        return ce.mean_all();
    };
    let zero = Tensor::scalar(T::zero());
    let zeros = weights.eq_mask(&zero).sum_all();
    // At least 1: with no non-zero weight the weighted sum is 0 already.
    let nonzero = zeros
        .neg()
        .add_scalar(T::from_usize(weights.numel()).unwrap())
        .maximum(&Tensor::scalar(T::one()));
    ce.mul(&Var::constant(weights.clone()))
        .sum_all()
        .div(&Var::constant(nonzero))
}

/// Dynamic adversarial training: [`FoscPgd`] with the epoch's threshold (model in attack
/// mode), then [`dynamic_loss`] on one train-mode forward of the adversarial examples, weighted
/// from epoch 1 by each example's attack-mode CE at its adversarial example.
pub struct Dynamic {
    /// The training attack at its full radius; its threshold is set by each epoch.
    pub attack: FoscPgd,
    /// The schedule's constants.
    pub options: DynamicOptions,
    /// Fraction of the attack's radius in use (an eps ramp), 1 by default.
    pub fraction: f32,
    epoch: usize,
}

impl Dynamic {
    /// Dynamic adversarial training with this attack (radius, step, steps) and these options,
    /// at epoch 0.
    pub fn new(eps: f32, alpha: f32, steps: usize, options: DynamicOptions) -> Self {
        let attack = FoscPgd {
            eps,
            alpha,
            steps,
            threshold: fosc_threshold(options.c_max, options.t_prime, 0),
            reference: options.reference,
        };
        Dynamic {
            attack,
            options,
            fraction: 1.0,
            epoch: 0,
        }
    }
}

impl Defense for Dynamic {
    fn name(&self) -> &'static str {
        "dynamic"
    }

    fn loss<'t>(
        &mut self,
        model: &dyn Module<f32>,
        batch: &Batch<'_>,
        fwd: &mut Forward<'t, f32>,
        rng: &mut Rng,
    ) -> StepLoss<'t> {
        let attack = FoscPgd {
            eps: self.attack.eps * self.fraction,
            alpha: self.attack.alpha * self.fraction,
            ..self.attack.clone()
        };
        let adv = attack
            .run(model, batch.images, batch.labels, rng)
            .adversarial;
        let weights =
            (self.epoch > 0).then(|| ce_weights(&attack_logits(model, &adv), batch.labels));
        let logits = model.forward(&Var::constant(adv), fwd);
        StepLoss {
            loss: dynamic_loss(&logits, batch.labels, weights.as_ref()),
            logits: logits.value().clone(),
        }
    }

    fn set_radius_fraction(&mut self, fraction: f32) {
        self.fraction = fraction;
    }

    fn begin_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        self.attack.threshold = fosc_threshold(self.options.c_max, self.options.t_prime, epoch);
    }
}
