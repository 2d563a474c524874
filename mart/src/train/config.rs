//! Everything a training run is configured by, with the paper's presets and the default run.

use nn::Init;
use serde::{Deserialize, Serialize};

use crate::train::semi_supervised::SemiSupervised;
use crate::train::subset::SubsetTreatment;

pub use crate::train::defense_kind::DefenseKind;

/// The optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// `torch.optim.SGD` with momentum and coupled weight decay (the paper's).
    Sgd,
    /// `torch.optim.Adam` (the short default run on the MNIST sample).
    Adam,
}

/// MART's ablations (the paper's Figure 2); all off is the published method.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MartAblations {
    /// Drop the `(1 - p_y)` weight of the KL term.
    pub no_weight: bool,
    /// Drop the KL term.
    pub no_kl: bool,
    /// Plain CE instead of the boosted CE.
    pub ce_instead_of_bce: bool,
    /// Boosted CE on natural instead of adversarial examples.
    pub bce_on_natural: bool,
    /// KL instead of CE in the inner maximisation.
    pub kl_inner: bool,
    /// Apply the weighted KL to this random fraction of each batch.
    pub kl_fraction: Option<f64>,
}

/// Where the FOSC measures the distance travelled from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FoscReference {
    /// The random start point (the published code; the FOSC can be negative).
    Start,
    /// The natural example (the paper's formula).
    Natural,
}

impl FoscReference {
    /// Parses `start|natural`.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "start" => Ok(FoscReference::Start),
            "natural" => Ok(FoscReference::Natural),
            other => Err(format!(
                "unknown FOSC reference '{other}': expected start or natural"
            )),
        }
    }
}

/// Dynamic adversarial training's constants (MART.md); the defaults are the published code's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DynamicSettings {
    /// FOSC threshold of epoch 0, decreasing linearly to 0 (0.5).
    pub c_max: f64,
    /// The epoch at which the threshold reaches 0; `None` for 5/6 of the run (100 of 120).
    pub t_prime: Option<usize>,
    /// The FOSC's reference point.
    pub reference: FoscReference,
}

impl Default for DynamicSettings {
    fn default() -> Self {
        DynamicSettings {
            c_max: 0.5,
            t_prime: None,
            reference: FoscReference::Start,
        }
    }
}

impl DynamicSettings {
    /// The epoch at which the threshold reaches 0 in a run of `epochs` epochs: `t_prime`, or
    /// 5/6 of the run rounded to the nearest epoch (at least 1).
    pub fn t_prime_for(&self, epochs: usize) -> usize {
        self.t_prime
            .unwrap_or_else(|| (5.0 * epochs as f64 / 6.0).round() as usize)
            .max(1)
    }
}

/// The weights of ALP's and CLP's logit-pairing terms and ALP's label smoothing (MART.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogitPairingSettings {
    /// ALP's weight of the mean squared logit difference (0.5).
    pub alp_lambda: f64,
    /// ALP's label smoothing of the mixed-batch CE (0 = off; the official code used 0.1).
    pub alp_label_smoothing: f64,
    /// CLP's weight of the mean squared logit difference (0.5).
    pub clp_lambda: f64,
}

impl Default for LogitPairingSettings {
    fn default() -> Self {
        LogitPairingSettings {
            alp_lambda: 0.5,
            alp_label_smoothing: 0.0,
            clp_lambda: 0.5,
        }
    }
}

/// How eps rises over the ramp's `R` epochs of `B` batches each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum EpsRamp {
    /// In equal steps at each epoch's start: `eps (e + 1) / R` through epoch `e` (0-based).
    #[default]
    PerEpoch,
    /// Linearly from 0, batch by batch: `eps (e B + b + 1) / (R B)` at batch `b` of epoch
    /// `e` (MART.md's PyTorch reference for the default run).
    PerBatch,
}

impl EpsRamp {
    /// Whether this is the per-epoch ramp (the configurations' default).
    pub fn is_per_epoch(&self) -> bool {
        *self == EpsRamp::PerEpoch
    }
}

/// A full training configuration. Every constant of MART.md is a field, so a flag can set it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// `mnist-sample`, `mnist` or `cifar10`.
    pub dataset: String,
    /// Model name (`smallcnn`, `resnet18`, ...).
    pub model: String,
    /// Training objective.
    pub defense: DefenseKind,
    /// Number of epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// L-inf radius of the training attack.
    pub eps: f32,
    /// Epochs over which eps ramps linearly up to `eps` (0: full eps from the start).
    pub eps_ramp_epochs: usize,
    /// Whether the ramp rises at each epoch or at each batch. Left out of the JSON when per
    /// epoch, so that configurations (and the run names hashed from them) from before the
    /// option are unchanged.
    #[serde(default, skip_serializing_if = "EpsRamp::is_per_epoch")]
    pub eps_ramp: EpsRamp,
    /// Steps of the training attack.
    pub attack_steps: usize,
    /// Step size of the training attack.
    pub step_size: f32,
    /// Weight of the robust term (MART, TRADES).
    pub beta: f64,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Initial learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay (coupled, as torch.optim.SGD).
    pub weight_decay: f64,
    /// Learning-rate schedule as `nn::schedule::Schedule::parse` reads it: `constant`,
    /// `cosine` or `piecewise:E1,E2,...` (divide by 10 from each epoch, counted from 1).
    pub schedule: String,
    /// Random crop and flip (CIFAR-10).
    pub augment: bool,
    /// Seed of every random stream of the run.
    pub seed: u64,
    /// Test images evaluated after each epoch (natural and PGD-20); `None` for all.
    pub eval_limit: Option<usize>,
    /// Test images of the final table (natural, FGSM, PGD-20, CW-inf of the best and last
    /// checkpoints); `None` for the whole test set.
    #[serde(default)]
    pub final_eval_limit: Option<usize>,
    /// Test images (the first N of the final table's) on which the final table also runs
    /// AutoAttack, standard version; 0 skips it. Absent from older run folders: 0.
    #[serde(default)]
    pub autoattack_limit: usize,
    /// Training images used (a prefix of the training set); `None` for all.
    pub train_limit: Option<usize>,
    /// MART's ablation switches.
    pub mart: MartAblations,
    /// MMA's largest trained margin; `None` for the data set's default.
    pub mma_dmax: Option<f32>,
    /// Dynamic adversarial training's constants. Absent from older run folders: the defaults.
    #[serde(default)]
    pub dynamic: DynamicSettings,
    /// ALP's and CLP's constants. Absent from older run folders: the defaults.
    #[serde(default)]
    pub logit_pairing: LogitPairingSettings,
    /// How the model's weights start: the reference code's (`trades`, the presets) or
    /// PyTorch's default (`torch`, the default run). Absent from older run folders: `trades`,
    /// what they all used.
    #[serde(default)]
    pub init: Init,
    /// Semi-supervised training (RST's batches): the pseudo-labelled set mixed into every
    /// batch; `None` for a supervised run (and in run folders older than the option).
    #[serde(default)]
    pub semi_supervised: Option<SemiSupervised>,
    /// A subset of the training examples that standard adversarial training treats apart (the
    /// paper's Figure 1); `None` treats every example alike. Left out of the JSON when `None`,
    /// so the configurations (and `mart paper`'s run names) of every other run are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<SubsetTreatment>,
}

/// Test images AutoAttack runs on in the default run's final table: the cascade costs about a
/// second per robust digit on 2 cores, so more would push the run past 10 minutes.
pub const DEFAULT_RUN_AUTOATTACK_LIMIT: usize = 100;
/// Test images AutoAttack runs on in the paper presets' final tables (as the MART and TRADES
/// papers' evaluations of 1,000 images).
pub const PRESET_AUTOATTACK_LIMIT: usize = 1000;

impl TrainConfig {
    /// The default run: MART on the embedded MNIST sample with SmallCNN at eps 0.3, with a
    /// schedule measured to finish within 10 minutes on a 2-core CPU (see the README).
    pub fn default_run() -> Self {
        TrainConfig {
            dataset: "mnist-sample".into(),
            model: "smallcnn".into(),
            defense: DefenseKind::Mart,
            epochs: 12,
            batch_size: 128,
            eps: 0.3,
            eps_ramp_epochs: 4,
            eps_ramp: EpsRamp::PerBatch,
            attack_steps: 10,
            step_size: 0.075,
            beta: 5.0,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 0.0,
            schedule: "constant".into(),
            augment: false,
            seed: 0,
            eval_limit: Some(500),
            final_eval_limit: None,
            autoattack_limit: DEFAULT_RUN_AUTOATTACK_LIMIT,
            train_limit: None,
            mart: MartAblations::default(),
            mma_dmax: None,
            dynamic: DynamicSettings::default(),
            logit_pairing: LogitPairingSettings::default(),
            init: Init::Torch,
            semi_supervised: None,
            subset: None,
        }
    }

    /// A preset of MART.md's settings table: `paper-mnist`, `paper-cifar-resnet18`,
    /// `paper-cifar-wrn34`.
    pub fn preset(name: &str) -> Result<Self, String> {
        let base = TrainConfig {
            autoattack_limit: PRESET_AUTOATTACK_LIMIT,
            init: Init::Trades,
            eps_ramp: EpsRamp::PerEpoch,
            ..TrainConfig::default_run()
        };
        match name {
            "paper-mnist" => Ok(TrainConfig {
                dataset: "mnist".into(),
                epochs: 100,
                eps_ramp_epochs: 0,
                step_size: 0.3 / 4.0,
                optimizer: OptimizerKind::Sgd,
                lr: 0.01,
                schedule: "piecewise:20,40".into(),
                eval_limit: None,
                ..base
            }),
            "paper-cifar-resnet18" => Ok(TrainConfig {
                dataset: "cifar10".into(),
                model: "resnet18".into(),
                epochs: 120,
                eps: 0.031,
                eps_ramp_epochs: 0,
                step_size: 0.007,
                optimizer: OptimizerKind::Sgd,
                lr: 0.01,
                weight_decay: 3.5e-3,
                schedule: "piecewise:75,90,100".into(),
                augment: true,
                eval_limit: None,
                ..base
            }),
            "paper-cifar-wrn34" => Ok(TrainConfig {
                dataset: "cifar10".into(),
                model: "wrn-34-10".into(),
                epochs: 100,
                eps: 0.031,
                eps_ramp_epochs: 0,
                step_size: 0.007,
                beta: 6.0,
                optimizer: OptimizerKind::Sgd,
                lr: 0.1,
                weight_decay: 7e-4,
                schedule: "piecewise:75,90".into(),
                augment: true,
                eval_limit: None,
                ..base
            }),
            other => Err(format!(
                "unknown preset '{other}': expected paper-mnist, paper-cifar-resnet18 or paper-cifar-wrn34"
            )),
        }
    }

    /// The training attack's radius at the end of `epoch` (0-based): a linear ramp over
    /// `eps_ramp_epochs`, never 0 (either ramp reaches the same value at an epoch's end).
    pub fn eps_at(&self, epoch: usize) -> f32 {
        if self.eps_ramp_epochs == 0 {
            self.eps
        } else {
            self.eps * ((epoch + 1).min(self.eps_ramp_epochs) as f32 / self.eps_ramp_epochs as f32)
        }
    }

    /// The training attack's radius at batch `batch` of `batches` in `epoch` (all 0-based):
    /// [`TrainConfig::eps_at`] for the per-epoch ramp, a linear rise over every batch of the
    /// ramp's epochs for the per-batch one; never 0.
    pub fn eps_at_batch(&self, epoch: usize, batch: usize, batches: usize) -> f32 {
        match self.eps_ramp {
            EpsRamp::PerEpoch => self.eps_at(epoch),
            EpsRamp::PerBatch if self.eps_ramp_epochs > 0 => {
                let done = (epoch * batches + batch + 1) as f64;
                let ramp = (self.eps_ramp_epochs * batches.max(1)) as f64;
                (f64::from(self.eps) * (done / ramp).min(1.0)) as f32
            }
            EpsRamp::PerBatch => self.eps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_follow_the_settings_table() {
        let r18 = TrainConfig::preset("paper-cifar-resnet18").unwrap();
        assert_eq!((r18.lr, r18.weight_decay, r18.beta), (0.01, 3.5e-3, 5.0));
        assert_eq!(
            (r18.eps, r18.step_size, r18.attack_steps),
            (0.031, 0.007, 10)
        );
        let wrn = TrainConfig::preset("paper-cifar-wrn34").unwrap();
        assert_eq!((wrn.lr, wrn.weight_decay, wrn.beta), (0.1, 7e-4, 6.0));
        assert!(TrainConfig::preset("paper-imagenet").is_err());
    }

    #[test]
    fn a_config_from_before_semi_supervised_training_loads_as_supervised() {
        let mut json = serde_json::to_value(TrainConfig::default_run()).unwrap();
        json.as_object_mut().unwrap().remove("semi_supervised");
        let config: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!(config, TrainConfig::default_run());
        assert!(config.semi_supervised.is_none());
    }

    #[test]
    fn eps_ramps_linearly_and_never_hits_zero() {
        let c = TrainConfig {
            eps_ramp: EpsRamp::PerEpoch,
            ..TrainConfig::default_run()
        };
        let ramp: Vec<f32> = (0..6).map(|e| c.eps_at(e)).collect();
        for (got, want) in ramp.iter().zip([0.075, 0.15, 0.225, 0.3, 0.3, 0.3]) {
            assert!((got - want).abs() < 1e-6, "{ramp:?}");
        }
    }

    #[test]
    fn the_per_batch_ramp_rises_by_eps_over_ramp_batches_each_batch() {
        let c = TrainConfig::default_run();
        assert_eq!(c.eps_ramp, EpsRamp::PerBatch);
        let batches = 63;
        let step = 0.3 / (4.0 * 63.0);
        for (epoch, batch) in [(0, 0), (0, 62), (1, 0), (2, 30), (3, 61)] {
            let want = step * (epoch * batches + batch + 1) as f64;
            let got = f64::from(c.eps_at_batch(epoch, batch, batches));
            assert!(
                (got - want).abs() < 1e-6,
                "epoch {epoch} batch {batch}: {got} vs {want}"
            );
        }
        for epoch in 0..6 {
            // Each epoch ends where the per-epoch ramp holds it.
            let end = c.eps_at_batch(epoch, batches - 1, batches);
            assert!((end - c.eps_at(epoch)).abs() < 1e-6, "epoch {epoch}: {end}");
        }
        assert_eq!(c.eps_at_batch(9, 5, batches), 0.3);
    }

    #[test]
    fn a_per_epoch_ramp_is_left_out_of_the_json_so_old_run_names_stay() {
        let per_epoch = TrainConfig {
            eps_ramp: EpsRamp::PerEpoch,
            ..TrainConfig::default_run()
        };
        let json = serde_json::to_value(&per_epoch).unwrap();
        assert!(json.get("eps_ramp").is_none(), "{json}");
        let back: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, per_epoch);
        let per_batch = serde_json::to_value(TrainConfig::default_run()).unwrap();
        assert_eq!(per_batch["eps_ramp"], "per-batch");
    }
}
