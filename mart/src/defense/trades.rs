//! TRADES (Zhang et al.): natural CE plus beta times the KL between natural and adversarial
//! predictions, with the adversarial examples maximising that KL.

use autograd::Var;
use autograd::loss::{Reduction, cross_entropy, kl_div};
use nn::{Forward, Module};
use tensor::{Element, IndexTensor, Rng};

use super::{Batch, Defense, StepLoss};
use crate::attack::Pgd;

/// `CE(f(x), y) + beta * (1/B) * sum KL(softmax(f(x)) || softmax(f(x')))`, gradients through
/// both sides, exact log-softmax.
pub fn trades_loss<'t, T: Element>(
    logits_nat: &Var<'t, T>,
    logits_adv: &Var<'t, T>,
    labels: &IndexTensor,
    beta: f64,
) -> Var<'t, T> {
    let batch = T::from_usize(labels.numel()).unwrap();
    let kl = kl_div(
        &logits_adv.log_softmax(1),
        &logits_nat.softmax(1),
        Reduction::Sum,
    );
    let robust = kl.mul_scalar(T::one() / batch);
    cross_entropy(logits_nat, labels).add(&robust.mul_scalar(T::from_f64_lossy(beta)))
}

/// TRADES training: the attack maximises the KL from the natural predictions (start
/// `x + 0.001 N(0,1)`, 10 x 0.007 on CIFAR-10), then [`trades_loss`] in train mode.
pub struct Trades {
    /// The training attack; its objective must be [`crate::objective::Objective::KlFromNatural`].
    pub attack: Pgd,
    /// Weight of the KL term (6 on CIFAR-10, 1 on MNIST in TRADES' code).
    pub beta: f64,
    /// Fraction of the attack's radius in use (an eps ramp), 1 by default.
    pub fraction: f32,
}

impl Trades {
    /// TRADES with this attack at its full radius and this beta.
    pub fn new(attack: Pgd, beta: f64) -> Self {
        Trades {
            attack,
            beta,
            fraction: 1.0,
        }
    }
}

impl Defense for Trades {
    fn name(&self) -> &'static str {
        "trades"
    }

    fn loss<'t>(
        &mut self,
        model: &dyn Module<f32>,
        batch: &Batch<'_>,
        fwd: &mut Forward<'t, f32>,
        rng: &mut Rng,
    ) -> StepLoss<'t> {
        let natural_probs = model
            .forward(&Var::constant(batch.images.clone()), &mut Forward::attack())
            .value()
            .softmax(1);
        let adv = self.attack.scaled(self.fraction).run(
            model,
            batch.images,
            batch.labels,
            Some(&natural_probs),
            rng,
        );
        let logits_nat = model.forward(&Var::constant(batch.images.clone()), fwd);
        let logits_adv = model.forward(&Var::constant(adv), fwd);
        StepLoss {
            loss: trades_loss(&logits_nat, &logits_adv, batch.labels, self.beta),
            logits: logits_nat.value().clone(),
        }
    }

    fn set_radius_fraction(&mut self, fraction: f32) {
        self.fraction = fraction;
    }
}
