//! The losses attacks maximise, written with autograd ops so their input gradients come from
//! the tape: cross-entropy, the Carlini-Wagner margin, and TRADES' KL divergence.

use autograd::Var;
use autograd::loss::{Reduction, cross_entropy, kl_div};
use tensor::{Element, IndexTensor, Tensor};

/// What an attack maximises.
#[derive(Clone, Debug, PartialEq)]
pub enum Objective {
    /// Mean cross-entropy against the true labels (FGSM, PGD, MART's and Madry's training attack).
    CrossEntropy,
    /// Carlini-Wagner margin `-max(z_y - max_{k!=y} z_k + kappa, 0)` (CW-inf).
    CwMargin {
        /// Confidence margin kappa (50 by default, as Madry and FAT).
        kappa: f64,
    },
    /// `sum KL(softmax(f(x_nat)) || softmax(f(x_adv)))` with the natural side constant
    /// (TRADES' training attack).
    KlFromNatural,
}

/// Value subtracted from the true class's logit so it never wins the max over other classes.
pub const TRUE_CLASS_MASK: f64 = 1e4;

/// Largest logit over the classes other than the label, `[B, 1]`, with the true class masked by
/// subtracting [`TRUE_CLASS_MASK`] (as the reference CW code does).
pub fn max_other_logit<'t, T: Element>(logits: &Var<'t, T>, labels: &IndexTensor) -> Var<'t, T> {
    let classes = logits.dims()[1];
    let mask = Tensor::<T>::one_hot(labels, classes).mul_scalar(T::from_f64_lossy(TRUE_CLASS_MASK));
    logits.sub(&Var::constant(mask)).max_axis(1, true)
}

/// The CW margin loss, summed over the batch: `sum_i -max(z_y - max_{k!=y} z_k + kappa, 0)`.
pub fn cw_margin<'t, T: Element>(
    logits: &Var<'t, T>,
    labels: &IndexTensor,
    kappa: f64,
) -> Var<'t, T> {
    let correct = logits.gather(1, &labels.unsqueeze(1));
    let other = max_other_logit(logits, labels);
    correct
        .sub(&other)
        .add_scalar(T::from_f64_lossy(kappa))
        .relu()
        .sum_all()
        .neg()
}

impl Objective {
    /// The scalar to maximise for adversarial logits `logits` (and, for KL, the natural
    /// probabilities `natural_probs`, a constant).
    pub fn value<'t, T: Element>(
        &self,
        logits: &Var<'t, T>,
        labels: &IndexTensor,
        natural_probs: Option<&Tensor<T>>,
    ) -> Var<'t, T> {
        match self {
            Objective::CrossEntropy => cross_entropy(logits, labels),
            Objective::CwMargin { kappa } => cw_margin(logits, labels, *kappa),
            Objective::KlFromNatural => {
                let target = natural_probs.expect("KL objective needs the natural probabilities");
                kl_div(
                    &logits.log_softmax(1),
                    &Var::constant(target.clone()),
                    Reduction::Sum,
                )
            }
        }
    }
}
