//! The flags of the commands that run a trained checkpoint: `mart eval`, `mart audit` and
//! `mart pseudo-label`.

use std::path::PathBuf;
use tensor::Device;

use clap::Args;

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
