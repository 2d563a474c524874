//! Natural (non-robust) training: train-mode cross-entropy on the clean images, no attack. The
//! "standard model" that gives RST's and semi-supervised MART's pseudo-labels.

use autograd::Var;
use autograd::loss::cross_entropy;
use nn::{Forward, Module};
use tensor::Rng;

use super::{Batch, Defense, StepLoss};

/// Plain cross-entropy training on clean images.
pub struct Natural;

impl Defense for Natural {
    fn name(&self) -> &'static str {
        "natural"
    }

    fn loss<'t>(
        &mut self,
        model: &dyn Module<f32>,
        batch: &Batch<'_>,
        fwd: &mut Forward<'t, f32>,
        _rng: &mut Rng,
    ) -> StepLoss<'t> {
        let logits = model.forward(&Var::constant(batch.images.clone()), fwd);
        StepLoss {
            loss: cross_entropy(&logits, batch.labels),
            logits: logits.value().clone(),
        }
    }

    /// No attack, so no radius to scale.
    fn set_radius_fraction(&mut self, _fraction: f32) {}
}
