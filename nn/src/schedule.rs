//! Learning-rate schedules: what the learning rate is at a given epoch or step.
//!
//! Epochs count from 1, as the reference scripts' `for epoch in range(1, args.epochs + 1)`,
//! and the schedule is asked before each epoch's training ([`Schedule::lr_at`]) or before
//! each optimiser step ([`Schedule::lr_at_step`], steps counting from 0).
//!
//! On the command line a schedule is named by one of (see [`Schedule::parse`]):
//!
//! | text               | schedule                                                        |
//! |--------------------|-----------------------------------------------------------------|
//! | `constant`         | the base learning rate throughout                               |
//! | `piecewise:75,90`  | divided by 10 from epoch 75 on, by 100 from epoch 90 on         |
//! | `cosine`           | cosine annealing from the base rate to 0 over the run           |

use std::f64::consts::PI;
use std::fmt;

/// A learning-rate schedule over a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// The base learning rate throughout (no scheduler in PyTorch).
    Constant {
        /// The learning rate.
        lr: f64,
    },
    /// The base rate divided by 10 at each milestone epoch: MART's and TRADES'
    /// `adjust_learning_rate` (`lr * 0.1` from epoch 75, `lr * 0.01` from epoch 90, ...), and
    /// `torch.optim.lr_scheduler.MultiStepLR(gamma=0.1)` stepped after each epoch up to
    /// rounding, with each milestone one less there (PyTorch counts epochs from 0: `[74, 89]`).
    Piecewise {
        /// The base learning rate.
        lr: f64,
        /// The epochs (from 1) from which the rate is divided by 10 once more.
        milestones: Vec<usize>,
    },
    /// `torch.optim.lr_scheduler.CosineAnnealingLR` with `T_max` the whole run:
    /// `min_lr + (lr - min_lr) * (1 + cos(pi * t / T_max)) / 2`, with `t` the epochs (or steps)
    /// done before this one.
    Cosine {
        /// The base (starting) learning rate.
        lr: f64,
        /// The length of the run in epochs (`T_max` in epochs).
        epochs: usize,
        /// The floor (`eta_min`).
        min_lr: f64,
    },
}

/// A schedule text that [`Schedule::parse`] does not understand.
#[derive(Debug, thiserror::Error)]
#[error(
    "bad learning-rate schedule '{text}': {reason}; expected constant, cosine or \
     piecewise:E1,E2,... (the epochs at which the rate is divided by 10, e.g. piecewise:75,90)"
)]
pub struct ScheduleError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Schedule {
    /// Parses a command-line name (the table in the module docs) for a run of `epochs` epochs
    /// starting at learning rate `lr`.
    pub fn parse(text: &str, lr: f64, epochs: usize) -> Result<Schedule, ScheduleError> {
        let error = |reason: String| ScheduleError {
            text: text.to_string(),
            reason,
        };
        match text.trim() {
            "constant" => Ok(Schedule::Constant { lr }),
            "cosine" if epochs == 0 => Err(error("cosine annealing needs epochs > 0".into())),
            "cosine" => Ok(Schedule::Cosine {
                lr,
                epochs,
                min_lr: 0.0,
            }),
            other => {
                let list = other
                    .strip_prefix("piecewise:")
                    .ok_or_else(|| error("unknown schedule".into()))?;
                let milestones = list
                    .split(',')
                    .map(|e| {
                        e.trim()
                            .parse::<usize>()
                            .map_err(|_| error(format!("milestone '{e}' is not an epoch number")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Schedule::Piecewise { lr, milestones })
            }
        }
    }

    /// The learning rate the run starts with.
    pub fn base_lr(&self) -> f64 {
        match self {
            Schedule::Constant { lr }
            | Schedule::Piecewise { lr, .. }
            | Schedule::Cosine { lr, .. } => *lr,
        }
    }

    /// The learning rate for epoch `epoch` (from 1). Past the end of a cosine run the rate
    /// stays at `min_lr`.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        assert!(epoch >= 1, "Schedule::lr_at: epochs count from 1, got 0");
        match self {
            Schedule::Cosine { lr, epochs, min_lr } => cosine(*lr, *min_lr, epoch - 1, *epochs),
            _ => self.lr_for_epoch(epoch),
        }
    }

    /// The learning rate for optimiser step `step` (from 0) of a run with `steps_per_epoch`
    /// steps an epoch: piecewise and constant schedules change only between epochs, cosine
    /// annealing changes every step (`CosineAnnealingLR` stepped per batch with
    /// `T_max = epochs * steps_per_epoch`).
    pub fn lr_at_step(&self, step: usize, steps_per_epoch: usize) -> f64 {
        assert!(
            steps_per_epoch >= 1,
            "Schedule::lr_at_step: steps_per_epoch must be >= 1"
        );
        match self {
            Schedule::Cosine { lr, epochs, min_lr } => {
                cosine(*lr, *min_lr, step, epochs * steps_per_epoch)
            }
            _ => self.lr_for_epoch(step / steps_per_epoch + 1),
        }
    }

    /// Constant and piecewise rates at an epoch (from 1).
    fn lr_for_epoch(&self, epoch: usize) -> f64 {
        match self {
            Schedule::Piecewise { lr, milestones } => {
                let passed = milestones.iter().filter(|&&m| epoch >= m).count();
                lr * DECADES[passed.min(DECADES.len() - 1)]
            }
            _ => self.base_lr(),
        }
    }
}

/// `0.1^k` written as the reference scripts write it (`lr * 0.01`, not `lr * 0.1 * 0.1`, which
/// rounds differently), down to a floor far below any useful learning rate.
const DECADES: [f64; 13] = [
    1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12,
];

/// The cosine rate after `t` of `t_max` epochs or steps (clamped at `t_max`).
fn cosine(lr: f64, min_lr: f64, t: usize, t_max: usize) -> f64 {
    let t = t.min(t_max) as f64;
    min_lr + (lr - min_lr) * (1.0 + (PI * t / t_max as f64).cos()) / 2.0
}

/// The command-line name, which [`Schedule::parse`] reads back given the same `lr` and
/// `epochs` (a cosine `min_lr` other than 0 has no command-line form).
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant { .. } => f.write_str("constant"),
            Schedule::Cosine { .. } => f.write_str("cosine"),
            Schedule::Piecewise { milestones, .. } => {
                let list: Vec<String> = milestones.iter().map(|m| m.to_string()).collect();
                write!(f, "piecewise:{}", list.join(","))
            }
        }
    }
}
