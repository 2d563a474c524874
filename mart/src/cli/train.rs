//! The flags of `mart train` and the [`TrainConfig`] they make: the preset (or the default run)
//! overridden by every flag given, each checked.

use std::path::PathBuf;
use tensor::Device;

use clap::Args;

use crate::train::config::{DefenseKind, EpsRamp, FoscReference, OptimizerKind, TrainConfig};
use crate::train::mixing::{DEFAULT_UNLABELED_FRACTION, SemiSupervised};

/// Flags of `mart train`. Unset flags come from `--preset` (or the default run).
#[derive(Args, Debug, Default)]
pub struct TrainArgs {
    /// Start from a preset: paper-mnist, paper-cifar-resnet18, paper-cifar-wrn34.
    #[arg(long)]
    pub preset: Option<String>,
    /// Data set: mnist-sample (embedded), mnist, cifar10.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Folder with the data set's files (mnist: the four IDX files, raw or .gz; cifar10: the
    /// binary batches); default: where `mart data fetch` puts them ($MART_DATA/<dataset>, else
    /// <cache folder>/mart/<dataset>).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Model: smallcnn, resnet18, resnet50, wrn-34-10, wrn-28-10, wrn-34-8.
    #[arg(long)]
    pub model: Option<String>,
    /// Defense: standard, trades, mart, mma, dynamic, alp, clp, natural (plain CE, no attack).
    #[arg(long)]
    pub defense: Option<String>,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long, alias = "batch")]
    pub batch_size: Option<usize>,
    /// L-inf radius of the training attack.
    #[arg(long)]
    pub eps: Option<f32>,
    /// Epochs over which eps ramps up linearly (0: none).
    #[arg(long)]
    pub eps_ramp_epochs: Option<usize>,
    /// Whether the ramp rises at each batch (linearly from 0; the default run) or at each
    /// epoch's start (eps (e + 1) / R in epoch e).
    #[arg(long, value_enum)]
    pub eps_ramp: Option<EpsRamp>,
    /// Steps of the training attack.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Step size of the training attack.
    #[arg(long)]
    pub step_size: Option<f32>,
    /// Weight of the robust term (MART: 5, 6 for WRN-34-10; TRADES: 1 on MNIST, 6 on CIFAR-10).
    #[arg(long)]
    pub beta: Option<f64>,
    /// Optimiser: sgd or adam.
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Initial learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule: piecewise:E1,E2,... (divide by 10 at each), cosine, constant.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Random crop and flip on/off (default: on for CIFAR-10).
    #[arg(long)]
    pub augment: Option<bool>,
    /// Seed of every random stream.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Test images evaluated after each epoch.
    #[arg(long)]
    pub eval_limit: Option<usize>,
    /// Test images of the final table of the best and last checkpoints (default: all).
    #[arg(long)]
    pub final_eval_limit: Option<usize>,
    /// Test images (the first N of the final table's) that AutoAttack also runs on; 0 skips
    /// it (default run: 100, presets: 1000).
    #[arg(long)]
    pub autoattack_limit: Option<usize>,
    /// Training images used (a prefix of the training set).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Output folder for checkpoints, metrics and the plot.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder exactly where it stopped (with its saved configuration;
    /// of the other flags only --data-dir is read).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Compute device: auto (cuda:0 when a CUDA driver and GPU answer, else cpu), cpu, cuda,
    /// cuda:N, or sim (the PTX simulator: every GPU kernel run on the CPU; slow, for checking).
    #[arg(long, default_value = "auto", value_parser = Device::parse)]
    pub device: Device,
    /// MART ablation: drop the (1 - p_y) weight of the KL term.
    #[arg(long)]
    pub mart_no_weight: bool,
    /// MART ablation: drop the KL term.
    #[arg(long)]
    pub mart_no_kl: bool,
    /// MART ablation: plain CE instead of the boosted CE.
    #[arg(long)]
    pub mart_ce: bool,
    /// MART ablation: boosted CE on natural instead of adversarial examples.
    #[arg(long)]
    pub mart_bce_natural: bool,
    /// MART ablation: KL instead of CE in the inner maximisation.
    #[arg(long)]
    pub mart_kl_inner: bool,
    /// MART ablation: apply the weighted KL to this random fraction of each batch.
    #[arg(long)]
    pub mart_kl_fraction: Option<f64>,
    /// MMA's largest trained margin d_max (default: 0.45 on MNIST, 12/255 on CIFAR-10).
    #[arg(long)]
    pub mma_dmax: Option<f32>,
    /// Dynamic: FOSC threshold of epoch 0, decreasing linearly to 0 [default: 0.5].
    #[arg(long)]
    pub dynamic_c_max: Option<f64>,
    /// Dynamic: the epoch at which the FOSC threshold reaches 0 [default: 5/6 of --epochs,
    /// rounded; the published code: 100 of 120].
    #[arg(long)]
    pub dynamic_t_prime: Option<usize>,
    /// Dynamic: the FOSC's reference point, start (the random start, as the published code)
    /// or natural (the natural example, as the paper) [default: start].
    #[arg(long)]
    pub fosc_reference: Option<String>,
    /// ALP: weight of the mean squared clean-adversarial logit difference [default: 0.5].
    #[arg(long)]
    pub alp_lambda: Option<f64>,
    /// ALP: label smoothing of the mixed-batch CE, in [0, 1) [default: 0 (off); the official
    /// code used 0.1].
    #[arg(long)]
    pub alp_label_smoothing: Option<f64>,
    /// CLP: weight of the mean squared logit difference of random clean pairs [default: 0.5].
    #[arg(long)]
    pub clp_lambda: Option<f64>,
    /// How the weights start: torch (PyTorch's default for every layer; the default run) or
    /// trades (the reference code's, e.g. SmallCNN's Kaiming-normal convolutions and zero last
    /// layer; the presets).
    #[arg(long)]
    pub init: Option<String>,
    /// Semi-supervised training: unlabelled images (MNIST IDX or CIFAR-10 binary records)
    /// mixed into every batch with their --pseudo-labels.
    #[arg(long, requires = "pseudo_labels")]
    pub unlabeled: Option<PathBuf>,
    /// The pseudo-labels of --unlabeled: an IDX labels file, as `mart pseudo-label` writes.
    #[arg(long, requires = "unlabeled")]
    pub pseudo_labels: Option<PathBuf>,
    /// Share of each batch drawn (with replacement) from the pseudo-labelled images (RST: 0.5).
    #[arg(long, requires = "unlabeled")]
    pub unlabeled_fraction: Option<f64>,
}

impl TrainArgs {
    /// The configuration: the preset (or the default run), overridden by every flag given.
    pub fn to_config(&self) -> Result<TrainConfig, String> {
        let mut c = match &self.preset {
            Some(p) => TrainConfig::preset(p)?,
            None => TrainConfig::default_run(),
        };
        if let Some(d) = &self.dataset {
            if !["mnist-sample", "mnist", "cifar10"].contains(&d.as_str()) {
                return Err(format!(
                    "unknown dataset '{d}': expected mnist-sample, mnist or cifar10"
                ));
            }
            c.augment = d == "cifar10";
            c.dataset = d.clone();
        }
        if let Some(m) = &self.model {
            c.model = m.clone();
        }
        if let Some(d) = &self.defense {
            c.defense = DefenseKind::from_name(d)?;
        }
        if let Some(o) = &self.optimizer {
            c.optimizer = match o.as_str() {
                "sgd" => OptimizerKind::Sgd,
                "adam" => OptimizerKind::Adam,
                other => return Err(format!("unknown optimizer '{other}': expected sgd or adam")),
            };
        }
        if let Some(s) = &self.schedule {
            nn::schedule::Schedule::parse(s, c.lr, c.epochs).map_err(|e| e.to_string())?;
            c.schedule = s.clone();
        }
        macro_rules! set {
            ($($field:ident <- $flag:ident),* $(,)?) => { $(if let Some(v) = self.$flag { c.$field = v; })* };
        }
        set!(epochs <- epochs, batch_size <- batch_size, eps <- eps, eps_ramp_epochs <- eps_ramp_epochs, eps_ramp <- eps_ramp,
            attack_steps <- steps, step_size <- step_size, beta <- beta, lr <- lr, momentum <- momentum,
            weight_decay <- weight_decay, augment <- augment, seed <- seed);
        if self.eval_limit.is_some() {
            c.eval_limit = self.eval_limit;
        }
        if c.defense == DefenseKind::Trades && self.beta.is_none() {
            // TRADES' published constants: 1 on MNIST, 6 on CIFAR-10 (MART.md).
            c.beta = if c.dataset == "cifar10" { 6.0 } else { 1.0 };
        }
        if self.final_eval_limit.is_some() {
            c.final_eval_limit = self.final_eval_limit;
        }
        if let Some(n) = self.autoattack_limit {
            c.autoattack_limit = n;
        }
        if self.train_limit.is_some() {
            c.train_limit = self.train_limit;
        }
        if self.eps.is_some() && self.step_size.is_none() {
            c.step_size = c.eps / 4.0;
        }
        c.mart.no_weight |= self.mart_no_weight;
        c.mart.no_kl |= self.mart_no_kl;
        c.mart.ce_instead_of_bce |= self.mart_ce;
        c.mart.bce_on_natural |= self.mart_bce_natural;
        c.mart.kl_inner |= self.mart_kl_inner;
        if self.mart_kl_fraction.is_some() {
            c.mart.kl_fraction = self.mart_kl_fraction;
        }
        if self.mma_dmax.is_some() {
            c.mma_dmax = self.mma_dmax;
        }
        self.set_dynamic_and_pairing(&mut c)?;
        if let Some(init) = &self.init {
            c.init = init.parse()?;
        }
        c.semi_supervised = match (&self.unlabeled, &self.pseudo_labels) {
            (Some(images), Some(labels)) => Some(SemiSupervised {
                images: images.clone(),
                pseudo_labels: labels.clone(),
                fraction: self
                    .unlabeled_fraction
                    .unwrap_or(DEFAULT_UNLABELED_FRACTION),
            }),
            (None, None) if self.unlabeled_fraction.is_none() => None,
            _ => return Err(
                "--unlabeled and --pseudo-labels go together (and --unlabeled-fraction needs them)"
                    .into(),
            ),
        };
        if let Some(semi) = &c.semi_supervised {
            semi.per_batch(c.batch_size)?;
        }
        if c.epochs == 0 || c.batch_size == 0 {
            return Err("--epochs and --batch-size must be positive".into());
        }
        if c.eps.is_nan() || c.eps <= 0.0 {
            return Err(format!("--eps must be positive, got {}", c.eps));
        }
        Ok(c)
    }

    /// Dynamic's, ALP's and CLP's flags, checked.
    fn set_dynamic_and_pairing(&self, c: &mut TrainConfig) -> Result<(), String> {
        let non_negative = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(format!("--{name} must be a non-negative number, got {v}"))
            }
        };
        if let Some(v) = self.dynamic_c_max {
            c.dynamic.c_max = non_negative("dynamic-c-max", v)?;
        }
        if let Some(t) = self.dynamic_t_prime {
            if t == 0 {
                return Err("--dynamic-t-prime must be at least 1 epoch".into());
            }
            c.dynamic.t_prime = Some(t);
        }
        if let Some(r) = &self.fosc_reference {
            c.dynamic.reference = FoscReference::from_name(r)?;
        }
        if let Some(v) = self.alp_lambda {
            c.logit_pairing.alp_lambda = non_negative("alp-lambda", v)?;
        }
        if let Some(v) = self.alp_label_smoothing {
            if !(0.0..1.0).contains(&v) {
                return Err(format!("--alp-label-smoothing must be in [0, 1), got {v}"));
            }
            c.logit_pairing.alp_label_smoothing = v;
        }
        if let Some(v) = self.clp_lambda {
            c.logit_pairing.clp_lambda = non_negative("clp-lambda", v)?;
        }
        Ok(())
    }
}
