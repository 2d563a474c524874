//! `mart paper <experiment>`: one command per table and figure of the MART paper. Each
//! experiment is a list of named runs (a training configuration each) and a way to tabulate
//! them; runs and evaluations are cached in the output folder, so an experiment stopped
//! half-way continues where it stopped and a finished one only rewrites its tables.

mod evals;
mod figure1;
mod figure2;
mod plot;
mod published;
pub mod recipe;
pub mod runs;
mod table;
mod table5;
mod tables;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};

use crate::train::config::{OptimizerKind, TrainConfig};

pub use recipe::{Budget, Recipe, RunSpec, UnlabeledSource};
pub use runs::{Activity, Finished, Session};
pub use table::{Cell, Row, Table};

/// The experiments, each a table or figure of the paper. Another one is one more variant
/// here with its list of runs and its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Experiment {
    /// White-box robustness of Standard, MMA, Dynamic, TRADES and MART: natural, FGSM,
    /// PGD-20, CW-inf and AutoAttack (on a prefix of the test set).
    Table2,
    /// Black-box robustness: FGSM, PGD-10, PGD-20, CW-inf crafted on a separately and
    /// naturally trained surrogate.
    Table3,
    /// Best and last epochs under FGSM, PGD-20, PGD-100 and CW-inf (the paper: WRN-34-10).
    Table4,
    /// Semi-supervised MART and RST (semi-supervised TRADES) on pseudo-labelled images, beside
    /// MART and TRADES on the labelled images alone.
    Table5,
    /// The S+ / S- experiment: standard adversarial training with the misclassified or the
    /// correctly classified examples not perturbed, attacked by FGSM only, or regularised.
    Figure1,
    /// MART's ablations: removing and replacing components, the regulariser on a fraction of
    /// the data, and lambda from 1/2 to 50 for MART and TRADES.
    Figure2,
}

impl Experiment {
    /// The command-line name, also the stem of its output files.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::Table2 => "table2",
            Experiment::Table3 => "table3",
            Experiment::Table4 => "table4",
            Experiment::Table5 => "table5",
            Experiment::Figure1 => "figure1",
            Experiment::Figure2 => "figure2",
        }
    }

    /// The runs it needs, each name once, in training order, except the runs configured from
    /// what these produce ([`Experiment::later_runs`]).
    pub fn runs(self, recipe: &Recipe) -> Vec<RunSpec> {
        let all = match self {
            Experiment::Table2 => tables::table2_runs(recipe),
            Experiment::Table3 => tables::table3_runs(recipe),
            Experiment::Table4 => tables::table4_runs(recipe),
            Experiment::Table5 => table5::table5_runs(recipe),
            Experiment::Figure1 => figure1::figure1_runs(recipe),
            Experiment::Figure2 => figure2::figure2_runs(recipe),
        };
        let mut seen = std::collections::BTreeSet::new();
        all.into_iter().filter(|s| seen.insert(s.name())).collect()
    }

    /// The runs configured from finished runs of [`Experiment::runs`]: Figure 1's retraining
    /// on the subsets its standard model picks, Table 5's semi-supervised runs on its natural
    /// model's pseudo-labels (both cached in the picking run's folder); none for the others.
    pub fn later_runs(self, session: &Session, runs: &Runs) -> Result<Vec<RunSpec>> {
        match self {
            Experiment::Table5 => table5::semi_supervised_runs(session, runs),
            Experiment::Figure1 => figure1::retrained_runs(session, runs),
            _ => Ok(Vec::new()),
        }
    }

    /// Refuses a recipe the experiment cannot run before any run starts: Table 5 needs its
    /// unlabelled images, and only Table 5 takes them.
    fn check(self, recipe: &Recipe) -> Result<()> {
        match (&recipe.unlabeled, self == Experiment::Table5) {
            (UnlabeledSource::File(None), true) => Err(table5::missing_unlabeled()),
            (UnlabeledSource::File(Some(_)), false) => bail!("--unlabeled is used by table5 only"),
            _ => Ok(()),
        }
    }

    /// Its table from the finished runs (the figures also draw their SVGs).
    fn table(self, session: &Session, runs: &Runs) -> Result<Table> {
        match self {
            Experiment::Table2 => tables::table2(session, runs),
            Experiment::Table3 => tables::table3(session, runs),
            Experiment::Table4 => tables::table4(session, runs),
            Experiment::Table5 => table5::table5(session, runs),
            Experiment::Figure1 => figure1::figure1(session, runs),
            Experiment::Figure2 => figure2::figure2(session, runs),
        }
    }
}

/// The finished runs of an experiment, by name.
pub struct Runs(BTreeMap<String, Finished>);

impl Runs {
    /// The finished run of `spec`.
    pub fn get(&self, spec: &RunSpec) -> Result<&Finished> {
        self.0
            .get(&spec.name())
            .ok_or_else(|| anyhow!("run {} ({}) has not finished", spec.name(), spec.label))
    }
}

/// How an experiment ended.
#[derive(Debug, PartialEq)]
pub enum PaperOutcome {
    /// Every run finished and the outputs were written.
    Written {
        /// The Markdown, CSV and (for figures) SVG files.
        files: Vec<PathBuf>,
    },
    /// A stop request interrupted this run; the same command continues it.
    Interrupted {
        /// The run folder.
        run: PathBuf,
    },
}

/// Runs `experiment` in `session`: each run reused, resumed or trained, then the tables (and
/// figures) written into `session.out`.
pub fn run(experiment: Experiment, session: &Session) -> Result<PaperOutcome> {
    experiment.check(&session.recipe)?;
    std::fs::create_dir_all(session.out.join("runs")).with_context(|| {
        format!(
            "cannot create the output folder {}",
            session.out.join("runs").display()
        )
    })?;
    let mut runs = Runs(BTreeMap::new());
    let first = experiment.runs(&session.recipe);
    if let Some(stopped) = ensure_all(session, &first, &mut runs)? {
        return Ok(PaperOutcome::Interrupted { run: stopped });
    }
    let later = experiment.later_runs(session, &runs)?;
    if let Some(stopped) = ensure_all(session, &later, &mut runs)? {
        return Ok(PaperOutcome::Interrupted { run: stopped });
    }
    let table = experiment.table(session, &runs)?;
    let mut files = table.write(&session.out, experiment.name())?;
    if matches!(experiment, Experiment::Figure1 | Experiment::Figure2) {
        files.push(session.out.join(format!("{}.svg", experiment.name())));
    }
    Ok(PaperOutcome::Written { files })
}

/// Reuses, resumes or trains each of `specs` into `runs`; the folder of the run a stop
/// request interrupted, if one did.
fn ensure_all(session: &Session, specs: &[RunSpec], runs: &mut Runs) -> Result<Option<PathBuf>> {
    for (i, spec) in specs.iter().enumerate() {
        if runs.0.contains_key(&spec.name()) {
            continue;
        }
        match session.ensure_run(spec, (i, specs.len()))? {
            Some(run) => {
                runs.0.insert(spec.name(), run);
            }
            None => return Ok(Some(session.run_dir(spec))),
        }
    }
    Ok(None)
}

/// A training configuration in words, for the tables' notes.
pub fn describe(c: &TrainConfig) -> String {
    let optimizer = match c.optimizer {
        OptimizerKind::Adam => format!("Adam lr {}", c.lr),
        OptimizerKind::Sgd => format!("SGD lr {} momentum {}", c.lr, c.momentum),
    };
    let ramp = if c.eps_ramp_epochs == 0 {
        String::new()
    } else {
        format!(
            " ramped linearly over the first {} epochs",
            c.eps_ramp_epochs
        )
    };
    let images = c.train_limit.map_or("all training images".into(), |n| {
        format!("the first {n} training images")
    });
    let per_epoch = c.eval_limit.map_or("all test images".into(), |n| {
        format!("the first {n} test images")
    });
    format!(
        "{}, {optimizer}, weight decay {}, schedule {}, epochs {}, batch {}, {}; training \
         attack PGD-{} with step {} at eps {}{ramp}; MART's lambda {}; {} initialisation; \
         augmentation {}; seed {}; the best epoch is picked by PGD-20 on {per_epoch}",
        c.model,
        c.weight_decay,
        c.schedule,
        c.epochs,
        c.batch_size,
        images,
        c.attack_steps,
        c.step_size,
        c.eps,
        c.beta,
        match c.init {
            nn::Init::Torch => "PyTorch's default",
            nn::Init::Trades => "the reference code's",
        },
        if c.augment { "crop and flip" } else { "none" },
        c.seed
    )
}
