//! What the runs of `mart paper` are: the budgets' training recipes, the paper's defenses and
//! MART's variants as [`RunSpec`]s, and the run names that let experiments share a run.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::train::config::{DefenseKind, EpsRamp, TrainConfig};

/// How large the experiments' runs are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Budget {
    /// The default run's recipe (Adam, eps ramp, PyTorch initialisation), shortened so that
    /// each experiment finishes in under an hour on a 2-core CPU on the embedded sample
    /// (Figure 2's eighteen runs shorter than the tables' five).
    Quick,
    /// The paper's settings (the `mart train` presets), evaluated on the whole test set.
    Paper,
}

impl Budget {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Budget::Quick => "quick",
            Budget::Paper => "paper",
        }
    }
}

/// Epochs of a quick-budget run of Tables 2 to 4 (five runs in the hour).
pub const QUICK_TABLE_EPOCHS: usize = 6;
/// Epochs over which eps ramps up to 0.3 in a quick-budget run of Tables 2 to 4.
pub const QUICK_TABLE_RAMP_EPOCHS: usize = 3;
/// Training images of a quick-budget run of Tables 2 to 4 (the embedded sample's 8,000).
pub const QUICK_TABLE_TRAIN_IMAGES: usize = 8000;
/// Epochs of a quick-budget run of Figure 2 (eighteen runs in the hour).
pub const QUICK_ABLATION_EPOCHS: usize = 3;
/// Epochs over which eps ramps up to 0.3 in a quick-budget run of Figure 2.
pub const QUICK_ABLATION_RAMP_EPOCHS: usize = 2;
/// Training images of a quick-budget run of Figure 2 (a prefix of the embedded sample).
pub const QUICK_ABLATION_TRAIN_IMAGES: usize = 6000;
/// Test images of a quick-budget run's per-epoch evaluation (natural, PGD-20).
pub const QUICK_EPOCH_EVAL_IMAGES: usize = 200;
/// Test images of the quick budget's final tables (the first N of the test split).
pub const QUICK_FINAL_IMAGES: usize = 500;
/// Epochs of a quick-budget run of Figure 1 (seven runs in the hour).
pub const QUICK_SUBSET_EPOCHS: usize = 8;
/// Epochs over which eps ramps up to 0.3 in a quick-budget run of Figure 1.
pub const QUICK_SUBSET_RAMP_EPOCHS: usize = 4;
/// Training images of a quick-budget run of Figure 1 (a prefix of the embedded sample).
pub const QUICK_SUBSET_TRAIN_IMAGES: usize = 4000;
/// Labelled training images of the quick budget's Table 5 (the README's semi-supervised split).
pub const QUICK_LABELLED_IMAGES: usize = 2000;
/// Training images after the labelled ones that the quick budget's Table 5 treats as unlabelled.
pub const QUICK_UNLABELED_IMAGES: usize = 6000;
/// Epochs of a quick-budget robust run of Table 5 (16 batches each on 2,000 digits: the
/// README's manual semi-supervised runs).
pub const QUICK_SEMI_EPOCHS: usize = 32;
/// Epochs over which eps ramps up to 0.3 in a quick-budget robust run of Table 5.
pub const QUICK_SEMI_RAMP_EPOCHS: usize = 16;
/// Epochs of the quick budget's natural model that pseudo-labels (as the README's manual run).
pub const QUICK_LABELLER_EPOCHS: usize = 20;
/// Test images of the quick budget's AutoAttack column (about a second per robust digit).
pub const QUICK_AUTOATTACK_IMAGES: usize = 100;
/// Test images of the paper budget's AutoAttack column (as the MART and TRADES papers' 1,000).
pub const PAPER_AUTOATTACK_IMAGES: usize = 1000;

/// The training recipes and evaluation sizes of one budget on one data set. Its fields are
/// public so that a test can shrink every run.
#[derive(Clone, Debug)]
pub struct Recipe {
    /// The budget's name, written beside every number (`quick`, `paper`).
    pub budget: String,
    /// The data set every run trains and is judged on.
    pub dataset: String,
    /// The defenses' runs of Tables 2 and 3 (MART's configuration; the other defenses change
    /// only the objective).
    pub white_box: TrainConfig,
    /// The runs of Table 4 (the paper: WRN-34-10 on CIFAR-10; otherwise `white_box`).
    pub wide: TrainConfig,
    /// The runs of Figure 2 (the paper's section 4.1 on CIFAR-10; otherwise `white_box`).
    pub ablation: TrainConfig,
    /// The runs of Figure 1: the standard model that picks S- and S+ (also the figure's
    /// baseline) and the retrained variants.
    pub subsets: TrainConfig,
    /// The robust runs of Table 5 (quick: `train_limit` is the labelled part).
    pub semi: TrainConfig,
    /// Table 5's natural model that pseudo-labels the unlabelled images.
    pub labeller: TrainConfig,
    /// Where Table 5's unlabelled images come from.
    pub unlabeled: UnlabeledSource,
    /// The black-box surrogate's model (a copy of the architecture, ResNet-50 on CIFAR-10).
    pub surrogate_model: String,
    /// Test images of the final tables and of the cached evaluations (`None`: all).
    pub final_images: Option<usize>,
    /// Test images (a prefix) of the AutoAttack column; 0 leaves the column out.
    pub autoattack_images: usize,
}

impl Recipe {
    /// The recipe of `budget` on `dataset` with every run seeded by `seed`.
    pub fn new(budget: Budget, dataset: &str, seed: u64) -> Result<Recipe> {
        let mnist = match dataset {
            "mnist-sample" | "mnist" => true,
            "cifar10" => false,
            other => bail!("unknown dataset '{other}': expected mnist-sample, mnist or cifar10"),
        };
        let recipe = match (budget, mnist) {
            (Budget::Quick, false) => bail!(
                "the quick budget is sized for MNIST (SmallCNN on the embedded sample); use --budget paper with cifar10"
            ),
            (Budget::Quick, true) => {
                let base = TrainConfig {
                    dataset: dataset.into(),
                    epochs: QUICK_TABLE_EPOCHS,
                    eps_ramp_epochs: QUICK_TABLE_RAMP_EPOCHS,
                    // The per-epoch ramp every quick-budget run was measured with (the README's
                    // tables); the default run has since moved to the per-batch one.
                    eps_ramp: EpsRamp::PerEpoch,
                    train_limit: Some(QUICK_TABLE_TRAIN_IMAGES),
                    eval_limit: Some(QUICK_EPOCH_EVAL_IMAGES),
                    final_eval_limit: Some(QUICK_FINAL_IMAGES),
                    ..TrainConfig::default_run()
                };
                // Figure 2 has eighteen runs: shorter ones, of their own (not shared with
                // the tables' runs in this budget).
                let ablation = TrainConfig {
                    epochs: QUICK_ABLATION_EPOCHS,
                    eps_ramp_epochs: QUICK_ABLATION_RAMP_EPOCHS,
                    train_limit: Some(QUICK_ABLATION_TRAIN_IMAGES),
                    ..base.clone()
                };
                let subsets = TrainConfig {
                    epochs: QUICK_SUBSET_EPOCHS,
                    eps_ramp_epochs: QUICK_SUBSET_RAMP_EPOCHS,
                    train_limit: Some(QUICK_SUBSET_TRAIN_IMAGES),
                    ..base.clone()
                };
                let semi = TrainConfig {
                    epochs: QUICK_SEMI_EPOCHS,
                    eps_ramp_epochs: QUICK_SEMI_RAMP_EPOCHS,
                    train_limit: Some(QUICK_LABELLED_IMAGES),
                    ..base.clone()
                };
                let labeller = TrainConfig {
                    epochs: QUICK_LABELLER_EPOCHS,
                    ..semi.clone()
                };
                Recipe {
                    budget: budget.name().into(),
                    dataset: dataset.into(),
                    white_box: base.clone(),
                    wide: base,
                    ablation,
                    subsets,
                    semi,
                    labeller,
                    unlabeled: UnlabeledSource::Split(QUICK_UNLABELED_IMAGES),
                    surrogate_model: "smallcnn".into(),
                    final_images: Some(QUICK_FINAL_IMAGES),
                    autoattack_images: QUICK_AUTOATTACK_IMAGES,
                }
            }
            (Budget::Paper, true) => {
                let base = TrainConfig {
                    dataset: dataset.into(),
                    ..TrainConfig::preset("paper-mnist").map_err(anyhow::Error::msg)?
                };
                Recipe {
                    budget: budget.name().into(),
                    dataset: dataset.into(),
                    white_box: base.clone(),
                    wide: base.clone(),
                    ablation: base.clone(),
                    subsets: base.clone(),
                    semi: base.clone(),
                    labeller: base,
                    unlabeled: UnlabeledSource::File(None),
                    surrogate_model: "smallcnn".into(),
                    final_images: None,
                    autoattack_images: PAPER_AUTOATTACK_IMAGES,
                }
            }
            (Budget::Paper, false) => {
                let resnet =
                    TrainConfig::preset("paper-cifar-resnet18").map_err(anyhow::Error::msg)?;
                // Section 4.1: SGD 0.1, weight decay 2e-4, /10 at epochs 75 and 90, lambda 6,
                // 100 epochs (Figure 2's x-axis).
                let ablation = TrainConfig {
                    lr: 0.1,
                    weight_decay: 2e-4,
                    schedule: "piecewise:75,90".into(),
                    epochs: 100,
                    beta: 6.0,
                    ..resnet.clone()
                };
                // Figure 1: standard adversarial training with PGD-10 of step eps/4 (section 1;
                // the paper's 8-layer CNN is not one of our models, ResNet-18 stands in).
                let subsets = TrainConfig {
                    step_size: resnet.eps / 4.0,
                    ..resnet.clone()
                };
                let wide = TrainConfig::preset("paper-cifar-wrn34").map_err(anyhow::Error::msg)?;
                // Table 5 (b): RST's recipe (robust_self_training.py's defaults): WRN-28-10,
                // SGD 0.1 (plain momentum here; RST's is Nesterov), weight decay 5e-4, cosine
                // schedule, 200 epochs of batch 256, beta 6 (MART.md: MART's loss in RST's
                // pipeline); its natural model the same recipe with cross-entropy alone.
                let semi = TrainConfig {
                    model: "wrn-28-10".into(),
                    lr: 0.1,
                    weight_decay: 5e-4,
                    schedule: "cosine".into(),
                    epochs: 200,
                    batch_size: 256,
                    beta: 6.0,
                    ..wide.clone()
                };
                Recipe {
                    budget: budget.name().into(),
                    dataset: dataset.into(),
                    white_box: resnet,
                    wide,
                    ablation,
                    subsets,
                    labeller: semi.clone(),
                    semi,
                    unlabeled: UnlabeledSource::File(None),
                    surrogate_model: "resnet50".into(),
                    final_images: None,
                    autoattack_images: PAPER_AUTOATTACK_IMAGES,
                }
            }
        };
        Ok(recipe.seeded(seed))
    }

    /// Every base configuration with `seed`, and with AutoAttack left out of the runs' own
    /// final tables (the runs are shared; Table 2 runs AutoAttack as an evaluation of its own).
    fn seeded(mut self, seed: u64) -> Recipe {
        self.map_configs(|c| {
            c.seed = seed;
            c.autoattack_limit = 0;
        });
        self
    }

    /// Applies `f` to every base configuration (tests shrink the runs with it).
    pub fn map_configs(&mut self, f: impl Fn(&mut TrainConfig)) {
        for c in [
            &mut self.white_box,
            &mut self.wide,
            &mut self.ablation,
            &mut self.subsets,
            &mut self.semi,
            &mut self.labeller,
        ] {
            f(c);
        }
    }

    /// The recipe with Table 5's unlabelled images taken from `file` (`--unlabeled`), made
    /// absolute so that the runs find it from any folder; refused by the quick budget, which
    /// splits the training set instead.
    pub fn with_unlabeled(mut self, file: Option<PathBuf>) -> Result<Recipe> {
        let Some(file) = file else {
            return Ok(self);
        };
        if let UnlabeledSource::Split(n) = self.unlabeled {
            bail!(
                "--unlabeled is for --budget paper: the quick budget keeps the labels of the first {} \
                 training images and treats the next {n} as unlabelled",
                self.semi.train_limit.unwrap_or(0)
            );
        }
        let file = std::fs::canonicalize(&file)
            .with_context(|| format!("--unlabeled {}", file.display()))?;
        self.unlabeled = UnlabeledSource::File(Some(file));
        Ok(self)
    }

    /// The paper's published column for this data set: `MNIST` or `CIFAR-10`.
    pub fn published_column(&self) -> &'static str {
        if self.dataset == "cifar10" {
            "CIFAR-10"
        } else {
            "MNIST"
        }
    }
}

/// Where Table 5's unlabelled images come from.
#[derive(Clone, Debug, PartialEq)]
pub enum UnlabeledSource {
    /// The training images after the labelled ones (`semi.train_limit`), this many of them:
    /// the quick budget's split of the embedded sample.
    Split(usize),
    /// A file of unlabelled images (`--unlabeled`: IDX images or CIFAR-10-style binary
    /// records); `None` until the user gives one (the paper used 500K TinyImages).
    File(Option<PathBuf>),
}

/// One training run of an experiment: a label for the tables and its configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSpec {
    /// Short name of the variant (`mart`, `trades-beta0.5`, `mart-no-weight`, ...).
    pub slug: String,
    /// How the tables name it (`MART`, `TRADES, lambda 0.5`, ...).
    pub label: String,
    /// The run's configuration.
    pub config: TrainConfig,
}

impl RunSpec {
    /// The run's folder name: `<slug>-<model>-<dataset>-<hash of the configuration>`. Two
    /// experiments that need the same configuration get the same folder, so the run is
    /// trained once; any difference (budget, seed, a constant) gives another folder.
    pub fn name(&self) -> String {
        let json = serde_json::to_string(&self.config).expect("a configuration serialises");
        format!(
            "{}-{}-{}-{:08x}",
            self.slug,
            self.config.model,
            self.config.dataset,
            fnv1a(json.as_bytes()) as u32
        )
    }
}

/// FNV-1a, 64 bits: a stable hash (the same in every process and version of Rust).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The paper's name of a defense.
pub fn defense_label(defense: DefenseKind) -> &'static str {
    match defense {
        DefenseKind::Standard => "Standard",
        DefenseKind::Trades => "TRADES",
        DefenseKind::Mart => "MART",
        DefenseKind::Mma => "MMA",
        DefenseKind::Dynamic => "Dynamic",
        DefenseKind::Alp => "ALP",
        DefenseKind::Clp => "CLP",
        DefenseKind::Natural => "Natural",
    }
}

/// The run of `defense` on `base`: MART keeps the base's beta; TRADES takes its published
/// beta (1 on MNIST, 6 on CIFAR-10, as `mart train`); the others ignore beta.
pub fn defense_run(base: &TrainConfig, defense: DefenseKind) -> RunSpec {
    let mut config = TrainConfig {
        defense,
        ..base.clone()
    };
    if defense == DefenseKind::Trades {
        config.beta = if config.dataset == "cifar10" {
            6.0
        } else {
            1.0
        };
    }
    RunSpec {
        slug: defense.name().into(),
        label: defense_label(defense).into(),
        config,
    }
}

/// The black-box surrogate: `model`, trained naturally (cross-entropy on clean images,
/// `--defense natural`) with another seed on the same training images.
pub fn surrogate_run(base: &TrainConfig, model: &str) -> RunSpec {
    let config = TrainConfig {
        defense: DefenseKind::Natural,
        model: model.into(),
        seed: base.seed + 1,
        ..base.clone()
    };
    RunSpec {
        slug: "surrogate-natural".into(),
        label: format!("surrogate ({model}, natural training)"),
        config,
    }
}

/// `beta` as it appears in names: `0.5`, `5`, `50`.
pub fn beta_text(beta: f64) -> String {
    format!("{beta}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_configuration() {
        let recipe = Recipe::new(Budget::Quick, "mnist-sample", 0).unwrap();
        let mart = defense_run(&recipe.white_box, DefenseKind::Mart);
        let again = defense_run(&recipe.wide, DefenseKind::Mart);
        assert_eq!(mart.name(), again.name());
        assert!(mart.name().starts_with("mart-smallcnn-mnist-sample-"));
        let short = defense_run(&recipe.ablation, DefenseKind::Mart);
        assert_ne!(mart.name(), short.name());
        let paper = Recipe::new(Budget::Paper, "mnist", 0).unwrap();
        assert_eq!(
            defense_run(&paper.white_box, DefenseKind::Mart).name(),
            defense_run(&paper.ablation, DefenseKind::Mart).name()
        );
        let seeded = Recipe::new(Budget::Quick, "mnist-sample", 1).unwrap();
        assert_ne!(
            mart.name(),
            defense_run(&seeded.white_box, DefenseKind::Mart).name()
        );
        let paper = Recipe::new(Budget::Paper, "mnist-sample", 0).unwrap();
        assert_ne!(
            mart.name(),
            defense_run(&paper.white_box, DefenseKind::Mart).name()
        );
    }

    #[test]
    fn table5_and_figure1_recipes() {
        let quick = Recipe::new(Budget::Quick, "mnist-sample", 2).unwrap();
        assert_eq!(quick.semi.train_limit, Some(2000));
        assert_eq!(quick.unlabeled, UnlabeledSource::Split(6000));
        assert_eq!((quick.labeller.epochs, quick.labeller.seed), (20, 2));
        assert_eq!(
            (quick.subsets.epochs, quick.subsets.train_limit),
            (8, Some(4000))
        );
        let cifar = Recipe::new(Budget::Paper, "cifar10", 0).unwrap();
        let semi = &cifar.semi;
        assert_eq!(
            (semi.model.as_str(), semi.epochs, semi.batch_size),
            ("wrn-28-10", 200, 256)
        );
        assert_eq!((semi.lr, semi.weight_decay, semi.beta), (0.1, 5e-4, 6.0));
        assert_eq!(semi.schedule, "cosine");
        assert_eq!(cifar.labeller, cifar.semi);
        assert_eq!(cifar.unlabeled, UnlabeledSource::File(None));
        assert_eq!(cifar.subsets.step_size, cifar.subsets.eps / 4.0);
        assert_eq!(cifar.subsets.model, "resnet18");
    }

    #[test]
    fn budgets_and_datasets_are_checked() {
        let err = Recipe::new(Budget::Quick, "cifar10", 0).unwrap_err();
        assert!(err.to_string().contains("--budget paper"), "{err}");
        let err = Recipe::new(Budget::Paper, "svhn", 0).unwrap_err();
        assert!(err.to_string().contains("unknown dataset 'svhn'"), "{err}");
        let cifar = Recipe::new(Budget::Paper, "cifar10", 3).unwrap();
        assert_eq!(cifar.wide.model, "wrn-34-10");
        assert_eq!((cifar.ablation.lr, cifar.ablation.beta), (0.1, 6.0));
        assert_eq!(cifar.surrogate_model, "resnet50");
        assert_eq!(cifar.white_box.seed, 3);
        assert_eq!(cifar.white_box.autoattack_limit, 0);
        let trades = defense_run(&cifar.white_box, DefenseKind::Trades);
        assert_eq!(trades.config.beta, 6.0);
        let surrogate = surrogate_run(&cifar.white_box, "resnet50");
        assert_eq!(surrogate.config.seed, 4);
        assert_eq!(surrogate.config.defense, DefenseKind::Natural);
    }
}
