//! Standard adversarial training (Madry et al.): cross-entropy on PGD examples.

use autograd::Var;
use autograd::loss::cross_entropy;
use nn::{Forward, Module};
use tensor::Rng;

use super::{Batch, Defense, StepLoss};
use crate::attack::Pgd;

/// Madry's PGD adversarial training: train-mode CE on PGD examples crafted in attack mode.
pub struct Standard {
    /// The training attack (uniform start; 10 x eps/4 on CIFAR-10, 40 x 0.01 on MNIST).
    pub attack: Pgd,
    /// Fraction of the attack's radius in use (an eps ramp), 1 by default.
    pub fraction: f32,
}

impl Standard {
    /// Standard training with this attack at its full radius.
    pub fn new(attack: Pgd) -> Self {
        Standard {
            attack,
            fraction: 1.0,
        }
    }
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
    ) -> StepLoss<'t> {
        let adv =
            self.attack
                .scaled(self.fraction)
                .run(model, batch.images, batch.labels, None, rng);
        let logits = model.forward(&Var::constant(adv), fwd);
        StepLoss {
            loss: cross_entropy(&logits, batch.labels),
            logits: logits.value().clone(),
        }
    }

    fn set_radius_fraction(&mut self, fraction: f32) {
        self.fraction = fraction;
    }
}
