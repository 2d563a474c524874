//! Attacks named on the command line (`natural,fgsm,pgd20,pgd100,cw`) and their paper defaults.

use super::{Attack, Fgsm, Pgd, Start};
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
}

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

impl AttackSpec {
    /// Parses one name: `natural`, `fgsm`, `pgdK` (e.g. `pgd20`), `cw`.
    pub fn parse(name: &str, cw_kappa: f64) -> Result<AttackSpec, String> {
        match name.trim() {
            "natural" => Ok(AttackSpec::Natural),
            "fgsm" => Ok(AttackSpec::Fgsm),
            "cw" => Ok(AttackSpec::Cw { kappa: cw_kappa }),
            other => other
                .strip_prefix("pgd")
                .and_then(|k| k.parse::<usize>().ok())
                .filter(|&k| k > 0)
                .map(|steps| AttackSpec::Pgd { steps })
                .ok_or_else(|| {
                    format!(
                        "unknown attack '{other}': expected natural, fgsm, pgdK (e.g. pgd20) or cw"
                    )
                }),
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
        }
    }

    /// The attack at radius `eps`, or `None` for natural accuracy.
    pub fn build(&self, eps: f32) -> Option<Box<dyn Attack>> {
        match self {
            AttackSpec::Natural => None,
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
        let specs = AttackSpec::parse_list("natural,fgsm,pgd20,pgd100,cw", CW_KAPPA).unwrap();
        let names: Vec<String> = specs.iter().map(AttackSpec::name).collect();
        assert_eq!(names, ["natural", "fgsm", "pgd20", "pgd100", "cw"]);
        assert!(AttackSpec::parse("pgd", CW_KAPPA).is_err());
        assert!(
            AttackSpec::parse("deepfool", CW_KAPPA)
                .unwrap_err()
                .contains("deepfool")
        );
    }
}
