//! White-box attacks in the torchattacks vocabulary (eps, alpha, steps, random_start).
//!
//! Images are in [0, 1]; the model runs in attack mode (running statistics untouched) and only
//! the input's gradient is asked for, so no weight-gradient work is done.

mod apgd;
mod apgd_run;
mod apgd_schedule;
mod cascade;
mod chunks;
mod dlr;
mod fab;
mod fab_projection;
mod fgsm;
mod pgd;
mod spec;
mod spsa;
mod square;

pub use apgd::{
    APGD_RESTARTS, APGD_RHO, APGD_STEPS, APGD_TARGET_CLASSES, Apgd, ApgdLoss, ApgdTargeted,
};
pub use apgd_schedule::{ApgdSchedule, StepSizeControl, apgd_checkpoints};
pub use cascade::{AUTOATTACK_BATCH, CascadeOutcome, run_cascade};
pub use dlr::{dlr_loss, targeted_dlr_loss};
pub use fab::FabTargeted;
pub use fab_projection::projection_linf;
pub use fgsm::Fgsm;
pub use pgd::{Pgd, Start};
pub use spec::{
    ATTACK_NAMES, AttackSpec, AutoAttackPart, CW_KAPPA, CW_STEPS, SPSA_DIRECTIONS, SPSA_STEPS,
    default_eps,
};
pub use spsa::Spsa;
pub use square::{Square, SquareRun, margin, p_selection, window_side};

use autograd::{Tape, Var};
use nn::{Forward, Module};
use tensor::{IndexTensor, Rng, Tensor};

use crate::objective::Objective;

/// An attack: turns clean images into adversarial ones within its L-inf budget.
pub trait Attack {
    /// A short name for tables (e.g. `pgd20`).
    fn name(&self) -> String;

    /// Adversarial versions of `images` (NCHW in [0, 1]) for `labels`.
    fn perturb(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> Tensor<f32>;
}

/// The gradient of `objective` with respect to the input `x`, with the model in attack mode.
pub fn input_gradient(
    model: &dyn Module<f32>,
    x: &Tensor<f32>,
    labels: &IndexTensor,
    objective: &Objective,
    natural_probs: Option<&Tensor<f32>>,
) -> Tensor<f32> {
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let logits = model.forward(&xv, &mut Forward::attack());
    let loss = objective.value(&logits, labels, natural_probs);
    tape.backward(&loss, &[&xv]).remove(0)
}

/// The model's logits for `x` in attack mode (running statistics, no tape): what the
/// gradient-free steps and the success checks of every attack read.
/// On the CPU the rows go through the model in chunks ([`chunks::row_chunks`]).
pub fn attack_logits(model: &dyn Module<f32>, x: &Tensor<f32>) -> Tensor<f32> {
    let chunks = chunks::row_chunks(x.dims()[0], x.device());
    let whole = chunks.len() == 1;
    let parts = chunks
        .into_iter()
        .map(|rows| {
            let x = if whole {
                x.clone()
            } else {
                x.slice(0, rows.start, rows.end)
            };
            model
                .forward(&Var::constant(x), &mut Forward::attack())
                .into_value()
        })
        .collect();
    chunks::stack_rows(parts)
}

/// The model's predicted class per image.
pub fn predicted_labels(model: &dyn Module<f32>, x: &Tensor<f32>) -> IndexTensor {
    attack_logits(model, x).argmax_axis(1)
}

/// One value per example of `like` (`values[i]` for row `i`), shaped `[B, 1, ...]` to broadcast
/// over `like`'s other axes, on `like`'s device.
pub(crate) fn per_example(values: Vec<f32>, like: &Tensor<f32>) -> Tensor<f32> {
    let mut dims = vec![1; like.rank()];
    dims[0] = values.len();
    crate::device::beside(Tensor::from_vec(values, dims), like)
}

/// 1 for the examples flagged, 0 for the others, as [`per_example`] shapes them.
pub(crate) fn row_mask(flags: &[bool], like: &Tensor<f32>) -> Tensor<f32> {
    per_example(
        flags.iter().map(|&f| f32::from(u8::from(f))).collect(),
        like,
    )
}

/// One projected step: `x + alpha * sign(g)`, projected into the eps-ball around `natural`,
/// then clamped to [0, 1].
pub fn projected_step(
    x: &Tensor<f32>,
    grad: &Tensor<f32>,
    natural: &Tensor<f32>,
    alpha: f32,
    eps: f32,
) -> Tensor<f32> {
    let stepped = x.add(&grad.sign().mul_scalar(alpha));
    project(&stepped, natural, eps)
}

/// Projects `x` into the L-inf ball of radius `eps` around `natural`, then into [0, 1].
pub fn project(x: &Tensor<f32>, natural: &Tensor<f32>, eps: f32) -> Tensor<f32> {
    x.minimum(&natural.add_scalar(eps))
        .maximum(&natural.add_scalar(-eps))
        .clamp(0.0, 1.0)
}
