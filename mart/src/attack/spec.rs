//! Attacks named on the command line (`natural,fgsm,pgd20,pgd100,cw,autoattack,...`) and their
//! paper defaults.

use super::{Apgd, ApgdLoss, ApgdTargeted, Attack, FabTargeted, Fgsm, Pgd, Spsa, Square, Start};
use crate::objective::Objective;

/// An attack of the evaluation table, by name.
#[derive(Clone, Debug, PartialEq)]
pub enum AttackSpec {
    /// No attack: clean accuracy.
    Natural,
    /// FGSM with step eps.
    Fgsm,
    /// PGD-k: uniform random start, k steps of eps/10 on cross-entropy (the paper's section 4.2).
    Pgd {
        /// Number of steps k.
        steps: usize,
    },
    /// CW-inf: PGD on the CW margin, uniform start, 30 steps of eps/4.
    Cw {
        /// Confidence margin kappa.
        kappa: f64,
    },
    /// AutoAttack, standard version: APGD-CE, APGD-T, FAB-T and Square as one cascade.
    AutoAttack,
    /// One attack of AutoAttack's family, run alone as a cascade of one (on the clean-correct
    /// points), with the standard version's settings.
    AutoAttackPart(AutoAttackPart),
    /// SPSA, the gradient-free check: `steps` Adam steps on an estimate from `directions`
    /// Rademacher directions; `2 * directions` forward passes per image per step.
    Spsa {
        /// Iterations.
        steps: usize,
        /// Directions per iteration.
        directions: usize,
    },
}

/// AutoAttack's attacks, by their reference names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoAttackPart {
    /// APGD on cross-entropy (`apgd-ce`).
    ApgdCe,
    /// APGD on the DLR loss (`apgd-dlr`, not in the standard cascade).
    ApgdDlr,
    /// Targeted APGD on the targeted DLR loss, 9 targets (`apgd-t`).
    ApgdT,
    /// Targeted FAB, 9 targets (`fab-t`).
    FabT,
    /// Square, 5000 queries (`square`).
    Square,
}

impl AutoAttackPart {
    /// The standard version's cascade, in order.
    pub const STANDARD: [AutoAttackPart; 4] = [
        AutoAttackPart::ApgdCe,
        AutoAttackPart::ApgdT,
        AutoAttackPart::FabT,
        AutoAttackPart::Square,
    ];

    /// The reference's name.
    pub fn name(self) -> &'static str {
        match self {
            AutoAttackPart::ApgdCe => "apgd-ce",
            AutoAttackPart::ApgdDlr => "apgd-dlr",
            AutoAttackPart::ApgdT => "apgd-t",
            AutoAttackPart::FabT => "fab-t",
            AutoAttackPart::Square => "square",
        }
    }

    /// The attack with the standard version's settings at radius `eps`.
    pub fn build(self, eps: f32) -> Box<dyn Attack> {
        match self {
            AutoAttackPart::ApgdCe => Box::new(Apgd::standard(eps, ApgdLoss::CrossEntropy)),
            AutoAttackPart::ApgdDlr => Box::new(Apgd::standard(eps, ApgdLoss::Dlr)),
            AutoAttackPart::ApgdT => Box::new(ApgdTargeted::standard(eps)),
            AutoAttackPart::FabT => Box::new(FabTargeted::standard(eps)),
            AutoAttackPart::Square => Box::new(Square::standard(eps)),
        }
    }
}

/// SPSA's default iterations (Uesato et al. 2018 run 100 and more).
pub const SPSA_STEPS: usize = 100;
/// SPSA's default directions per iteration (EVAL.md: 128).
pub const SPSA_DIRECTIONS: usize = 128;

/// Steps of the CW-inf attack.
pub const CW_STEPS: usize = 30;
/// Default CW kappa (Madry, FAT).
pub const CW_KAPPA: f64 = 50.0;

/// The paper's L-inf radius for a data set: 0.3 for MNIST, 8/255 for CIFAR-10.
pub fn default_eps(dataset: &str) -> f32 {
    if dataset.starts_with("cifar") {
        8.0 / 255.0
    } else {
        0.3
    }
}

/// Every name `parse` takes, for messages.
pub const ATTACK_NAMES: &str = "natural, fgsm, pgdK (e.g. pgd20), cw, autoattack, apgd-ce, apgd-dlr, apgd-t, fab-t, square or spsa";

impl AutoAttackPart {
    /// The part called `name` (`apgd-ce`, `apgd-dlr`, `apgd-t`, `fab-t`, `square`).
    pub fn from_name(name: &str) -> Option<AutoAttackPart> {
        [
            AutoAttackPart::ApgdCe,
            AutoAttackPart::ApgdDlr,
            AutoAttackPart::ApgdT,
            AutoAttackPart::FabT,
            AutoAttackPart::Square,
        ]
        .into_iter()
        .find(|part| part.name() == name)
    }
}

impl AttackSpec {
    /// Parses one name: `natural`, `fgsm`, `pgdK` (e.g. `pgd20`), `cw`, `autoattack`, one of
    /// AutoAttack's parts, or `spsa` (with the default iterations and directions).
    pub fn parse(name: &str, cw_kappa: f64) -> Result<AttackSpec, String> {
        match name.trim() {
            "natural" => Ok(AttackSpec::Natural),
            "fgsm" => Ok(AttackSpec::Fgsm),
            "cw" => Ok(AttackSpec::Cw { kappa: cw_kappa }),
            "autoattack" => Ok(AttackSpec::AutoAttack),
            "spsa" => Ok(AttackSpec::Spsa {
                steps: SPSA_STEPS,
                directions: SPSA_DIRECTIONS,
            }),
            other if AutoAttackPart::from_name(other).is_some() => Ok(AttackSpec::AutoAttackPart(
                AutoAttackPart::from_name(other).expect("checked"),
            )),
            other => other
                .strip_prefix("pgd")
                .and_then(|k| k.parse::<usize>().ok())
                .filter(|&k| k > 0)
                .map(|steps| AttackSpec::Pgd { steps })
                .ok_or_else(|| format!("unknown attack '{other}': expected {}", ATTACK_NAMES)),
        }
    }

    /// Parses a comma-separated list.
    pub fn parse_list(names: &str, cw_kappa: f64) -> Result<Vec<AttackSpec>, String> {
        names
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|n| AttackSpec::parse(n, cw_kappa))
            .collect()
    }

    /// The name as given on the command line (the JSON key of `mart eval --json`).
    pub fn name(&self) -> String {
        match self {
            AttackSpec::Natural => "natural".into(),
            AttackSpec::Fgsm => "fgsm".into(),
            AttackSpec::Pgd { steps } => format!("pgd{steps}"),
            AttackSpec::Cw { .. } => "cw".into(),
            AttackSpec::AutoAttack => "autoattack".into(),
            AttackSpec::AutoAttackPart(part) => part.name().into(),
            AttackSpec::Spsa { .. } => "spsa".into(),
        }
    }

    /// The attacks of a cascade (AutoAttack or one of its parts) at radius `eps`, or `None`
    /// for an attack that runs batch by batch.
    pub fn cascade(&self, eps: f32) -> Option<Vec<Box<dyn Attack>>> {
        match self {
            AttackSpec::AutoAttack => Some(
                AutoAttackPart::STANDARD
                    .iter()
                    .map(|part| part.build(eps))
                    .collect(),
            ),
            AttackSpec::AutoAttackPart(part) => Some(vec![part.build(eps)]),
            _ => None,
        }
    }

    /// The attack at radius `eps`, or `None` for natural accuracy. AutoAttack's cascade is
    /// [`AttackSpec::cascade`]; here it is its first attack's batch-by-batch form.
    pub fn build(&self, eps: f32) -> Option<Box<dyn Attack>> {
        match self {
            AttackSpec::Natural => None,
            AttackSpec::AutoAttack => Some(AutoAttackPart::ApgdCe.build(eps)),
            AttackSpec::AutoAttackPart(part) => Some(part.build(eps)),
            AttackSpec::Spsa { steps, directions } => {
                Some(Box::new(Spsa::new(eps, *steps, *directions)))
            }
            AttackSpec::Fgsm => Some(Box::new(Fgsm { eps })),
            AttackSpec::Pgd { steps } => Some(Box::new(Pgd {
                eps,
                alpha: eps / 10.0,
                steps: *steps,
                start: Start::Uniform,
                objective: Objective::CrossEntropy,
                label: self.name(),
            })),
            AttackSpec::Cw { kappa } => Some(Box::new(Pgd {
                eps,
                alpha: eps / 4.0,
                steps: CW_STEPS,
                start: Start::Uniform,
                objective: Objective::CwMargin { kappa: *kappa },
                label: self.name(),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let all =
            "natural,fgsm,pgd20,pgd100,cw,autoattack,apgd-ce,apgd-dlr,apgd-t,fab-t,square,spsa";
        let specs = AttackSpec::parse_list(all, CW_KAPPA).unwrap();
        let names: Vec<String> = specs.iter().map(AttackSpec::name).collect();
        assert_eq!(names.join(","), all);
        assert_eq!(
            AttackSpec::AutoAttack
                .cascade(0.3)
                .unwrap()
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>(),
            ["apgd-ce", "apgd-t", "fab-t", "square"]
        );
        assert!(AttackSpec::Fgsm.cascade(0.3).is_none());
        assert!(AttackSpec::parse("pgd", CW_KAPPA).is_err());
        assert!(
            AttackSpec::parse("deepfool", CW_KAPPA)
                .unwrap_err()
                .contains("deepfool")
        );
    }
}
