//! MART (Wang et al., ICLR 2020): boosted cross-entropy on adversarial examples plus a KL term
//! weighted towards misclassified natural examples, exactly as the published code.

use crate::device::beside;
use autograd::Var;
use autograd::loss::{Reduction, cross_entropy, kl_div, nll_loss};
use nn::{Forward, Module};
use tensor::{Element, IndexTensor, Rng, Tensor};

use super::{Batch, Defense, StepLoss};
use crate::attack::Pgd;

/// The MART loss and the ablations of the paper's Figure 2. The defaults are the published
/// method.
#[derive(Clone, Debug, PartialEq)]
pub struct MartOptions {
    /// Weight of the robust (KL) term: 5 for ResNet-18 and MNIST, 6 for WideResNet.
    pub beta: f64,
    /// Ablation: drop the `(1 - p_y(x))` weight on the KL term.
    pub no_weight: bool,
    /// Ablation: drop the KL term entirely.
    pub no_kl: bool,
    /// Ablation: BCE -> CE (drop the margin term `-log(1 - max_{k!=y} p_k(x'))`).
    pub ce_instead_of_bce: bool,
    /// Ablation: compute the BCE term on natural instead of adversarial examples.
    pub bce_on_natural: bool,
    /// Ablation: apply the weighted KL to this random fraction of the batch only.
    pub kl_fraction: Option<f64>,
}

impl Default for MartOptions {
    fn default() -> Self {
        MartOptions {
            beta: 5.0,
            no_weight: false,
            no_kl: false,
            ce_instead_of_bce: false,
            bce_on_natural: false,
            kl_fraction: None,
        }
    }
}

/// For each row of `probs`, the most likely class other than the label (MART's `new_y`:
/// the top class, or the runner-up when the top class is the label).
pub fn most_likely_wrong<T: Element>(probs: &Tensor<T>, labels: &IndexTensor) -> IndexTensor {
    // Probabilities are in [0, 1]: pushing the label's column down by 2 puts it below every other
    // class, so the argmax is the top class when it is not the label and the runner-up when it
    // is, computed on the probabilities' device without a round trip to the host.
    let label_mask = Tensor::one_hot(labels, probs.dims()[1]).mul_scalar(T::from_f64_lossy(2.0));
    probs.sub(&label_mask).argmax_axis(1)
}

/// The boosted cross-entropy: `CE(logits, y) + mean_i -log(1.0001 - p[i, y_wrong_i] + 1e-12)`.
fn boosted_ce<'t, T: Element>(logits: &Var<'t, T>, labels: &IndexTensor) -> Var<'t, T> {
    let probs = logits.softmax(1);
    let wrong = most_likely_wrong(probs.value(), labels);
    let margin = probs
        .neg()
        .add_scalar(T::from_f64_lossy(1.0001))
        .add_scalar(T::from_f64_lossy(1e-12))
        .log();
    cross_entropy(logits, labels).add(&nll_loss(&margin, &wrong))
}

/// The MART loss of natural logits `logits_nat` and adversarial logits `logits_adv`:
/// `BCE(p(x'), y) + beta * (1/B) sum_i KL(p(x_i) || p(x'_i)) * (1.0000001 - p_y(x_i))`,
/// gradients through everything, including the natural branch (target of the KL and weight).
/// `rng` is used only by the `kl_fraction` ablation.
pub fn mart_loss<'t, T: Element>(
    logits_nat: &Var<'t, T>,
    logits_adv: &Var<'t, T>,
    labels: &IndexTensor,
    options: &MartOptions,
    rng: &mut Rng,
) -> Var<'t, T> {
    let bce_input = if options.bce_on_natural {
        logits_nat
    } else {
        logits_adv
    };
    let loss_adv = if options.ce_instead_of_bce {
        cross_entropy(bce_input, labels)
    } else {
        boosted_ce(bce_input, labels)
    };
    if options.no_kl {
        return loss_adv;
    }
    let batch = labels.numel();
    let p_nat = logits_nat.softmax(1);
    let p_adv = logits_adv.softmax(1);
    let log_adv = p_adv.add_scalar(T::from_f64_lossy(1e-12)).log();
    let kl = kl_div(&log_adv, &p_nat, Reduction::None).sum_axis(1, false);
    let mut per_example = if options.no_weight {
        kl
    } else {
        let true_probs = p_nat.gather(1, &labels.unsqueeze(1)).squeeze(1);
        kl.mul(&true_probs.neg().add_scalar(T::from_f64_lossy(1.0000001)))
    };
    if let Some(fraction) = options.kl_fraction {
        let mut order: Vec<usize> = (0..batch).collect();
        rng.shuffle(&mut order);
        let kept = ((fraction * batch as f64).round() as usize).min(batch);
        let mut mask = vec![T::zero(); batch];
        order[..kept].iter().for_each(|&i| mask[i] = T::one());
        let mask = beside(Tensor::from_vec(mask, [batch]), per_example.value());
        per_example = per_example.mul(&Var::constant(mask));
    }
    let robust = per_example
        .sum_all()
        .mul_scalar(T::one() / T::from_usize(batch).unwrap());
    loss_adv.add(&robust.mul_scalar(T::from_f64_lossy(options.beta)))
}

/// MART training: the attack (model in attack mode, start `x + 0.001 N(0,1)`, 10 steps of
/// 0.007 on CE at eps 0.031 on CIFAR-10), then two train-mode forwards, natural first, and
/// [`mart_loss`].
pub struct Mart {
    /// The training attack (CE objective; KL for the "KL inner maximisation" ablation).
    pub attack: Pgd,
    /// Loss options.
    pub options: MartOptions,
    /// Fraction of the attack's radius in use (an eps ramp), 1 by default.
    pub fraction: f32,
}

impl Mart {
    /// MART with this attack at its full radius and these options.
    pub fn new(attack: Pgd, options: MartOptions) -> Self {
        Mart {
            attack,
            options,
            fraction: 1.0,
        }
    }
}

impl Defense for Mart {
    fn name(&self) -> &'static str {
        "mart"
    }

    fn loss<'t>(
        &mut self,
        model: &dyn Module<f32>,
        batch: &Batch<'_>,
        fwd: &mut Forward<'t, f32>,
        rng: &mut Rng,
    ) -> StepLoss<'t> {
        let natural_probs = matches!(
            self.attack.objective,
            crate::objective::Objective::KlFromNatural
        )
        .then(|| {
            model
                .forward(&Var::constant(batch.images.clone()), &mut Forward::attack())
                .value()
                .softmax(1)
        });
        let adv = self.attack.scaled(self.fraction).run(
            model,
            batch.images,
            batch.labels,
            natural_probs.as_ref(),
            rng,
        );
        let logits_nat = model.forward(&Var::constant(batch.images.clone()), fwd);
        let logits_adv = model.forward(&Var::constant(adv), fwd);
        StepLoss {
            loss: mart_loss(&logits_nat, &logits_adv, batch.labels, &self.options, rng),
            logits: logits_nat.value().clone(),
        }
    }

    fn set_radius_fraction(&mut self, fraction: f32) {
        self.fraction = fraction;
    }
}
