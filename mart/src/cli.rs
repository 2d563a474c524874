//! The command line: `mart train`, `mart eval`, `mart audit`, `mart pseudo-label`, `mart data`,
//! `mart paper`, and the default run with no arguments.

use std::path::PathBuf;
use tensor::Device;

use clap::{Args, Parser, Subcommand};

use crate::train::config::{DefenseKind, FoscReference, OptimizerKind, TrainConfig};
use crate::train::mixing::{DEFAULT_UNLABELED_FRACTION, SemiSupervised};

/// MART adversarial training from the tensor up.
#[derive(Parser, Debug)]
#[command(name = "mart", version, about)]
pub struct Cli {
    /// What to do; with none, train MART on the embedded MNIST sample and print its robustness.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model with a defense, evaluating natural and PGD-20 accuracy every epoch.
    Train(Box<TrainArgs>),
    /// Evaluate a checkpoint under a table of attacks (white-box, or transferred from a
    /// surrogate).
    Eval(Box<EvalArgs>),
    /// Run the gradient-masking checks on a checkpoint; exits non-zero when one warns.
    Audit(Box<AuditArgs>),
    /// Label unlabelled images with a model's predictions, for semi-supervised training.
    PseudoLabel(Box<PseudoLabelArgs>),
    /// Download MNIST or CIFAR-10, checked against SHA-256 digests compiled into mart, or
    /// re-check what was downloaded.
    Data(DataArgs),
    /// Reproduce a table or figure of the MART paper: train (or reuse) its runs, evaluate them,
    /// and write Markdown and CSV tables with the published numbers beside ours (and SVGs).
    Paper(Box<PaperArgs>),
}

/// `mart data`: its subcommand.
#[derive(Args, Debug)]
pub struct DataArgs {
    /// fetch or verify.
    #[command(subcommand)]
    pub action: DataCommand,
}

/// The subcommands of `mart data`.
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download a data set (official sites, then mirrors), verify its SHA-256, unpack it, and
    /// print where it is; files already there and verified are kept, broken downloads resume.
    Fetch(FetchArgs),
    /// Re-check the SHA-256 and sizes of the downloaded data sets; exits non-zero on a mismatch.
    Verify(VerifyArgs),
}

/// Flags of `mart data fetch`.
#[derive(Args, Debug, Clone)]
pub struct FetchArgs {
    /// mnist, cifar10 or all.
    #[arg(value_parser = ["mnist", "cifar10", "all"])]
    pub dataset: String,
    /// Data root; each data set goes to its own folder in it (default: $MART_DATA, else
    /// <cache folder>/mart, where `mart train/eval --dataset` look without --data-dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// A base URL of your own, tried before the official ones, the official file names
    /// following it (e.g. https://host/mnist/ serves .../train-images-idx3-ubyte.gz);
    /// repeatable, tried in the order given.
    #[arg(long)]
    pub mirror: Vec<String>,
}

/// Flags of `mart data verify`.
#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// mnist, cifar10 or all (all: the data sets whose folder exists).
    #[arg(default_value = "all", value_parser = ["mnist", "cifar10", "all"])]
    pub dataset: String,
    /// Data root (default: $MART_DATA, else <cache folder>/mart).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Flags of `mart paper`.
#[derive(Args, Debug, Clone)]
pub struct PaperArgs {
    /// The table or figure.
    #[arg(value_enum)]
    pub experiment: crate::paper::Experiment,
    /// Data set: mnist-sample (embedded), mnist, cifar10.
    #[arg(long, default_value = "mnist-sample")]
    pub dataset: String,
    /// Folder with the data set's files (mnist: the four IDX files; cifar10: the binary batches).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// quick: the default run's recipe shortened to finish each experiment within an hour on
    /// a 2-core CPU (MNIST only); paper: the paper's settings and the whole test set.
    #[arg(long, value_enum, default_value = "quick")]
    pub budget: crate::paper::Budget,
    /// Compute device: auto, cpu, cuda, cuda:N or sim (as for `mart train`).
    #[arg(long, default_value = "auto", value_parser = Device::parse)]
    pub device: Device,
    /// Output folder: <experiment>.md, .csv (and .svg), and runs/ with every run.
    #[arg(long, default_value = "runs/paper")]
    pub out: PathBuf,
    /// Seed of every run (the black-box surrogate takes seed + 1).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// table5 with --budget paper: the unlabelled images (an IDX images file or CIFAR-10-style
    /// binary records; the paper used 500K TinyImages). The quick budget splits the training set.
    #[arg(long)]
    pub unlabeled: Option<PathBuf>,
}

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

/// Flags of `mart pseudo-label`.
#[derive(Args, Debug, Clone)]
pub struct PseudoLabelArgs {
    /// The labelling model's checkpoint (a naturally trained one, as RST's).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Its model: smallcnn, resnet18, resnet50, wrn-34-10, wrn-28-10, wrn-34-8.
    #[arg(long)]
    pub model: String,
    /// Images to label: an MNIST IDX images file (raw or .gz) or CIFAR-10-style binary records
    /// (their label bytes are ignored).
    #[arg(long, required_unless_present = "dataset", conflicts_with = "dataset")]
    pub images: Option<PathBuf>,
    /// Or label the training images of a data set (mnist-sample, mnist, cifar10); its labels
    /// are ignored, except to report how many pseudo-labels agree with them.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Folder with the data set's files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Skip the first N images (e.g. the N that `mart train --train-limit N` keeps labelled).
    #[arg(long, default_value_t = 0)]
    pub skip: usize,
    /// Label at most N images after the skipped ones.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Where the pseudo-labels go: an IDX labels file (magic 2049, one byte per label).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the labelled images (IDX images for MNIST, CIFAR-10 binary records carrying
    /// the pseudo-label for CIFAR-10), to give `mart train --unlabeled`.
    #[arg(long)]
    pub images_out: Option<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    /// Compute device: auto, cpu, cuda, cuda:N or sim (as for `mart train`).
    #[arg(long, default_value = "auto", value_parser = Device::parse)]
    pub device: Device,
}

/// The checkpoint judged and the data it is judged on: the flags `mart eval` and `mart audit`
/// share.
#[derive(Args, Debug, Clone)]
pub struct CheckpointArgs {
    /// The checkpoint (safetensors with PyTorch state_dict names).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Its model: smallcnn, resnet18, resnet50, wrn-34-10, wrn-28-10, wrn-34-8.
    #[arg(long)]
    pub model: String,
    /// Data set: mnist-sample, mnist, cifar10.
    #[arg(long)]
    pub dataset: String,
    /// Folder with the data set's files (default: where `mart data fetch` puts them).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Evaluate the first N test images only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// L-inf radius (default: 0.3 on MNIST, 8/255 on CIFAR-10).
    #[arg(long)]
    pub eps: Option<f32>,
    /// Batch size of the batch-by-batch attacks (AutoAttack's cascade always takes chunks of
    /// 250, as the reference).
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    /// Seed of the attacks' random streams: the same seed gives the same numbers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute device: auto, cpu, cuda, cuda:N or sim (as for `mart train`).
    #[arg(long, default_value = "auto", value_parser = Device::parse)]
    pub device: Device,
    /// Black-box transfer: a surrogate checkpoint on which the attacks are crafted; the
    /// checkpoint above only classifies the examples (the paper's Table 3).
    #[arg(long, alias = "surrogate", requires = "surrogate_model")]
    pub transfer_from: Option<PathBuf>,
    /// The surrogate's model (same names as --model).
    #[arg(long, requires = "transfer_from")]
    pub surrogate_model: Option<String>,
}

/// Flags of `mart eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The checkpoint, data, device and seed.
    #[command(flatten)]
    pub target: CheckpointArgs,
    /// Comma-separated attacks: natural, fgsm, pgdK (e.g. pgd20), cw; autoattack (the standard
    /// version: apgd-ce, apgd-t, fab-t, square as one cascade) or any part alone (apgd-ce,
    /// apgd-dlr, apgd-t, fab-t, square); spsa. Cost in forward+backward passes per robust image:
    /// pgdK k, apgd-ce 100, apgd-t and fab-t 900 each, square up to 5000 forwards, spsa
    /// 2 x directions x steps forwards (25,600 by default: use --limit).
    #[arg(long, default_value = "natural,fgsm,pgd20,cw")]
    pub attacks: String,
    /// CW-inf confidence kappa.
    #[arg(long, default_value_t = crate::attack::CW_KAPPA)]
    pub cw_kappa: f64,
    /// SPSA iterations (each costs 2 x --spsa-directions forward passes per image).
    #[arg(long, default_value_t = crate::attack::SPSA_STEPS)]
    pub spsa_steps: usize,
    /// SPSA Rademacher directions per iteration.
    #[arg(long, default_value_t = crate::attack::SPSA_DIRECTIONS)]
    pub spsa_directions: usize,
    /// Print one JSON object (attack name -> accuracy in percent) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `mart audit`.
#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// The checkpoint, data, device and seed; with --transfer-from (or --surrogate) and
    /// --surrogate-model, the white-box vs transfer check runs too.
    #[command(flatten)]
    pub target: CheckpointArgs,
    /// Images SPSA runs on (the first N of the table's images): SPSA costs
    /// 2 x --spsa-directions x --spsa-steps forward passes per image.
    #[arg(long, default_value_t = 100)]
    pub spsa_limit: usize,
    /// SPSA iterations.
    #[arg(long, default_value_t = crate::attack::SPSA_STEPS)]
    pub spsa_steps: usize,
    /// SPSA Rademacher directions per iteration.
    #[arg(long, default_value_t = crate::attack::SPSA_DIRECTIONS)]
    pub spsa_directions: usize,
    /// The largest drop from PGD-20 to AutoAttack, in points, that passes.
    #[arg(long, default_value_t = 5.0)]
    pub max_autoattack_drop: f64,
    /// The highest accuracy, in percent, that passes at eps 1.0 of the sweep.
    #[arg(long, default_value_t = 1.0)]
    pub sweep_floor: f64,
    /// Folder for audit.json and eps_sweep.svg (default: audit/ beside the checkpoint).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as one JSON object on stdout instead of the lines.
    #[arg(long)]
    pub json: bool,
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
        set!(epochs <- epochs, batch_size <- batch_size, eps <- eps, eps_ramp_epochs <- eps_ramp_epochs,
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
