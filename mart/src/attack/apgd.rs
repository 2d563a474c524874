//! Auto-PGD (Croce and Hein, ICML 2020) in AutoAttack's L-inf "standard" configuration: APGD on
//! cross-entropy or DLR (`APGDAttack`) and APGD-T on the targeted DLR (`APGDAttack_targeted`).
//!
//! APGD is PGD with momentum and a step size that halves whenever progress stalls, restarting
//! from the best point found; it needs no step-size tuning, which is why AutoAttack trusts it.
//! Each attack runs on the points the model still classifies correctly and returns, as the
//! reference's `perturb`, the adversarial example for the points it fooled and the clean image
//! for the others.

use autograd::Var;
use nn::{Forward, Module};
use tensor::{IndexTensor, Rng, Tensor};

use super::Attack;
use super::apgd_run::{Criterion, Robustness, RunSettings, single_run};
use crate::device::beside;

/// AutoAttack's iterations per run.
pub const APGD_STEPS: usize = 100;
/// AutoAttack's restarts.
pub const APGD_RESTARTS: usize = 1;
/// AutoAttack's target classes for APGD-T (the 2nd to the 10th largest clean logit).
pub const APGD_TARGET_CLASSES: usize = 9;
/// The fraction of increasing steps below which the step size halves.
pub const APGD_RHO: f32 = 0.75;

/// The loss untargeted APGD maximises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApgdLoss {
    /// Cross-entropy (APGD-CE, AutoAttack's first attack).
    CrossEntropy,
    /// The Difference of Logits Ratio, invariant to shifting and scaling the logits.
    Dlr,
}

/// Untargeted APGD within an L-inf ball (`apgd-ce`, `apgd-dlr`).
#[derive(Clone, Debug)]
pub struct Apgd {
    /// L-inf radius.
    pub eps: f32,
    /// Iterations per restart.
    pub steps: usize,
    /// Runs from fresh random starts, each on the points still robust.
    pub restarts: usize,
    /// What is maximised.
    pub loss: ApgdLoss,
    /// Step-size halving threshold (fraction of increasing steps).
    pub rho: f32,
}

impl Apgd {
    /// AutoAttack's standard settings: 100 iterations, 1 restart, rho 0.75.
    pub fn standard(eps: f32, loss: ApgdLoss) -> Apgd {
        Apgd {
            eps,
            steps: APGD_STEPS,
            restarts: APGD_RESTARTS,
            loss,
            rho: APGD_RHO,
        }
    }
}

impl Attack for Apgd {
    fn name(&self) -> String {
        match self.loss {
            ApgdLoss::CrossEntropy => "apgd-ce".into(),
            ApgdLoss::Dlr => "apgd-dlr".into(),
        }
    }

    fn perturb(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> Tensor<f32> {
        let criterion = match self.loss {
            ApgdLoss::CrossEntropy => Criterion::CrossEntropy,
            ApgdLoss::Dlr => Criterion::Dlr,
        };
        let settings = RunSettings {
            eps: self.eps,
            steps: self.steps,
            rho: self.rho,
        };
        let mut state = Robustness::of_clean(model, images, labels);
        for _ in 0..self.restarts {
            let rows = state.robust_rows();
            if rows.is_empty() {
                break;
            }
            let (x, y) = (images.select_rows(&rows), labels.select_rows(&rows));
            let outcome = single_run(model, &x, &y, &criterion, &settings, rng);
            state.record(&rows, outcome);
        }
        state.into_adversarial()
    }
}

/// APGD-T: APGD on the targeted DLR loss, once per target class (`apgd-t`). The targets are the
/// 2nd, 3rd, ... largest clean logits of each point, taken in turn on the points still robust;
/// success is untargeted (any wrong class).
#[derive(Clone, Debug)]
pub struct ApgdTargeted {
    /// L-inf radius.
    pub eps: f32,
    /// Iterations per run.
    pub steps: usize,
    /// Runs per target class.
    pub restarts: usize,
    /// How many targets: the 2nd to the `(target_classes + 1)`-th largest clean logit.
    pub target_classes: usize,
    /// Step-size halving threshold (fraction of increasing steps).
    pub rho: f32,
}

impl ApgdTargeted {
    /// AutoAttack's standard settings: 100 iterations, 1 restart, 9 targets, rho 0.75.
    pub fn standard(eps: f32) -> ApgdTargeted {
        ApgdTargeted {
            eps,
            steps: APGD_STEPS,
            restarts: APGD_RESTARTS,
            target_classes: APGD_TARGET_CLASSES,
            rho: APGD_RHO,
        }
    }
}

/// For each image of `x`, the class of its `rank`-th largest logit (rank 1 = the prediction),
/// read as the reference does from an ascending sort: `sort(logits)[1][:, -rank]`.
fn ranked_class(model: &dyn Module<f32>, x: &Tensor<f32>, rank: usize) -> IndexTensor {
    let logits = model
        .forward(&Var::constant(x.clone()), &mut Forward::attack())
        .into_value();
    let classes = logits.dims()[1];
    assert!(
        (1..=classes).contains(&rank),
        "apgd-t: target rank {rank} needs at least {rank} classes, the model has {classes}"
    );
    let (_, ascending) = logits.sort_axis(1, false);
    let column = ascending.slice(1, classes - rank, classes - rank + 1);
    beside(column.reshape([x.dims()[0]]), x)
}

impl Attack for ApgdTargeted {
    fn name(&self) -> String {
        "apgd-t".into()
    }

    fn perturb(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> Tensor<f32> {
        let settings = RunSettings {
            eps: self.eps,
            steps: self.steps,
            rho: self.rho,
        };
        let mut state = Robustness::of_clean(model, images, labels);
        for rank in 2..self.target_classes + 2 {
            for _ in 0..self.restarts {
                let rows = state.robust_rows();
                if rows.is_empty() {
                    return state.into_adversarial();
                }
                let (x, y) = (images.select_rows(&rows), labels.select_rows(&rows));
                let targets = ranked_class(model, &x, rank);
                let criterion = Criterion::TargetedDlr(targets);
                let outcome = single_run(model, &x, &y, &criterion, &settings, rng);
                state.record(&rows, outcome);
            }
        }
        state.into_adversarial()
    }
}
