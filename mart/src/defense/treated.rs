//! Standard adversarial training with a subset of the training examples treated apart, the
//! experiment of the paper's Figure 1: the subset is (a) not perturbed, (b) perturbed by FGSM
//! instead of PGD, or (c) regularised by a KL term; every other example is trained on PGD
//! examples with cross-entropy, as [`super::Standard`] does.

use autograd::Var;
use autograd::loss::{Reduction, cross_entropy, kl_div};
use nn::{Forward, Module};
use tensor::{Element, IndexTensor, Rng, Tensor};

use super::{Batch, Defense, StepLoss};
use crate::attack::{Attack, Fgsm, Pgd, row_mask};
use crate::device::beside;
use crate::train::subset::{SubsetTreatment, Treatment};

/// The regularised CE of Figure 1(c):
/// `CE(f(x'), y) + beta * (1/B) * sum_i m_i KL(softmax(f(x_i)) || softmax(f(x'_i)))`, with
/// `m_i = 1` for the batch's members of the subset and 0 for the others; exact log-softmax and
/// gradients through both sides, as TRADES' KL term (the one the paper names).
pub fn subset_regularized_loss<'t, T: Element>(
    logits_nat: &Var<'t, T>,
    logits_adv: &Var<'t, T>,
    labels: &IndexTensor,
    members: &[bool],
    beta: f64,
) -> Var<'t, T> {
    let batch = labels.numel();
    assert_eq!(
        members.len(),
        batch,
        "subset_regularized_loss: {} membership flags for a batch of {batch}",
        members.len()
    );
    let kl = kl_div(
        &logits_adv.log_softmax(1),
        &logits_nat.softmax(1),
        Reduction::None,
    )
    .sum_axis(1, false);
    let mask: Vec<T> = members
        .iter()
        .map(|&m| if m { T::one() } else { T::zero() })
        .collect();
    let mask = Var::constant(beside(Tensor::from_vec(mask, [batch]), kl.value()));
    let robust = kl
        .mul(&mask)
        .sum_all()
        .mul_scalar(T::one() / T::from_usize(batch).unwrap());
    cross_entropy(logits_adv, labels).add(&robust.mul_scalar(T::from_f64_lossy(beta)))
}

/// `base` with the rows flagged in `members` taken from `replacement` (exactly: each row is
/// one or the other, no arithmetic mixes them).
fn replace_rows(base: &Tensor<f32>, replacement: &Tensor<f32>, members: &[bool]) -> Tensor<f32> {
    let keep: Vec<bool> = members.iter().map(|m| !m).collect();
    base.mul(&row_mask(&keep, base))
        .add(&replacement.mul(&row_mask(members, base)))
}

/// Standard adversarial training with `subset` treated as its [`Treatment`] says.
pub struct Treated {
    /// Standard's training attack (uniform start, CE), used on every example not in the
    /// subset, and on the subset too under [`Treatment::Regularized`].
    pub attack: Pgd,
    /// The treated examples and their treatment.
    pub subset: SubsetTreatment,
    /// Weight of the KL term of [`Treatment::Regularized`].
    pub beta: f64,
    /// Fraction of the attack's radius in use (an eps ramp), 1 by default; FGSM's step is the
    /// scaled radius too.
    pub fraction: f32,
}

impl Treated {
    /// The defense at the attack's full radius.
    pub fn new(attack: Pgd, subset: SubsetTreatment, beta: f64) -> Self {
        Treated {
            attack,
            subset,
            beta,
            fraction: 1.0,
        }
    }
}

impl Defense for Treated {
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
        let attack = self.attack.scaled(self.fraction);
        let members = self.subset.members(batch.indices);
        let any = members.iter().any(|&m| m);
        let pgd = attack.run(model, batch.images, batch.labels, None, rng);
        let adv = match self.subset.treatment {
            Treatment::NotPerturbed if any => replace_rows(&pgd, batch.images, &members),
            Treatment::Fgsm if any => {
                let fgsm = Fgsm { eps: attack.eps }.perturb(model, batch.images, batch.labels, rng);
                replace_rows(&pgd, &fgsm, &members)
            }
            _ => pgd,
        };
        if self.subset.treatment == Treatment::Regularized {
            let logits_nat = model.forward(&Var::constant(batch.images.clone()), fwd);
            let logits_adv = model.forward(&Var::constant(adv), fwd);
            let loss = subset_regularized_loss(
                &logits_nat,
                &logits_adv,
                batch.labels,
                &members,
                self.beta,
            );
            return StepLoss {
                loss,
                logits: logits_adv.value().clone(),
            };
        }
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
