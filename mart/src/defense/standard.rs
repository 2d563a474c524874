//! Standard adversarial training (Madry et al.): cross-entropy on PGD examples.

use autograd::Var;
use autograd::loss::cross_entropy;
use nn::{Forward, Module};
use tensor::Rng;

use super::{Batch, Defense};
use crate::attack::Pgd;

/// Madry's PGD adversarial training: train-mode CE on PGD examples crafted in attack mode.
pub struct Standard {
    /// The training attack (uniform start; 10 x eps/4 on CIFAR-10, 40 x 0.01 on MNIST).
    pub attack: Pgd,
}

impl Defense for Standard {
    fn name(&self) -> &'static str {
        "standard"
    }

    fn loss<'t>(
        &mut self,
        model: &dyn Module<f32>,
        batch: &Batch<'_>,
        fwd: &mut Forward<'t, f32>,
        rng: &mut Rng,
    ) -> Var<'t, f32> {
        let adv = self
            .attack
            .run(model, batch.images, batch.labels, None, rng);
        let logits = model.forward(&Var::constant(adv), fwd);
        cross_entropy(&logits, batch.labels)
    }

    fn set_eps(&mut self, eps: f32) {
        self.attack.set_eps(eps);
    }
}
