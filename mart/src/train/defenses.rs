//! Builds the configured defense with its training attack, constants as MART.md.

use crate::attack::{Pgd, Start};
use crate::defense::{
    Alp, Clp, Defense, Dynamic, DynamicOptions, Mart, MartOptions, Mma, MmaOptions, Natural,
    Standard, Trades, Treated,
};
use crate::objective::Objective;
use crate::train::config::{DefenseKind, TrainConfig};

/// Standard deviation of the Gaussian start of MART's and TRADES' training attacks.
pub const GAUSSIAN_START_STD: f64 = 0.001;

/// The defense of `config`, for a training set of `train_size` examples (MMA keeps one margin
/// per example).
pub fn build_defense(config: &TrainConfig, train_size: usize) -> Box<dyn Defense> {
    let attack = |start: Start, objective: Objective| Pgd {
        eps: config.eps,
        alpha: config.step_size,
        steps: config.attack_steps,
        start,
        objective,
        label: format!("train-pgd{}", config.attack_steps),
    };
    if let Some(subset) = &config.subset {
        // Standard adversarial training with a subset treated apart (checked by the caller).
        return Box::new(Treated::new(
            attack(Start::Uniform, Objective::CrossEntropy),
            subset.clone(),
            config.beta,
        ));
    }
    match config.defense {
        DefenseKind::Standard => Box::new(Standard::new(attack(
            Start::Uniform,
            Objective::CrossEntropy,
        ))),
        DefenseKind::Trades => Box::new(Trades::new(
            attack(
                Start::Gaussian(GAUSSIAN_START_STD),
                Objective::KlFromNatural,
            ),
            config.beta,
        )),
        DefenseKind::Mart => {
            let a = &config.mart;
            let objective = if a.kl_inner {
                Objective::KlFromNatural
            } else {
                Objective::CrossEntropy
            };
            let options = MartOptions {
                beta: config.beta,
                no_weight: a.no_weight,
                no_kl: a.no_kl,
                ce_instead_of_bce: a.ce_instead_of_bce,
                bce_on_natural: a.bce_on_natural,
                kl_fraction: a.kl_fraction,
            };
            Box::new(Mart::new(
                attack(Start::Gaussian(GAUSSIAN_START_STD), objective),
                options,
            ))
        }
        DefenseKind::Mma => {
            let d_max = config
                .mma_dmax
                .unwrap_or(if config.dataset.starts_with("cifar") {
                    12.0 / 255.0
                } else {
                    0.45
                });
            Box::new(Mma::new(MmaOptions::for_d_max(d_max), train_size))
        }
        DefenseKind::Dynamic => {
            let d = &config.dynamic;
            let options = DynamicOptions {
                c_max: d.c_max,
                t_prime: d.t_prime_for(config.epochs),
                reference: d.reference,
            };
            Box::new(Dynamic::new(
                config.eps,
                config.step_size,
                config.attack_steps,
                options,
            ))
        }
        DefenseKind::Alp => Box::new(Alp::new(
            attack(Start::Uniform, Objective::CrossEntropy),
            config.logit_pairing.alp_lambda,
            config.logit_pairing.alp_label_smoothing,
        )),
        DefenseKind::Clp => Box::new(Clp {
            lambda: config.logit_pairing.clp_lambda,
        }),
        DefenseKind::Natural => Box::new(Natural),
    }
}
