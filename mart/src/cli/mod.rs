//! The command line: `mart train`, `mart eval`, `mart audit`, `mart pseudo-label`, `mart data`,
//! `mart paper`, and the default run with no arguments. This file holds the command tree and the
//! flags of `mart data` and `mart paper`; `train.rs` those of `mart train` and the configuration
//! they make, `checkpoint.rs` those of the commands that run a trained checkpoint.

mod checkpoint;
mod train;

use std::path::PathBuf;
use tensor::Device;

use clap::{Args, Parser, Subcommand};

pub use checkpoint::{AuditArgs, CheckpointArgs, EvalArgs, PseudoLabelArgs};
pub use train::TrainArgs;

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
