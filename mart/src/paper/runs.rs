//! The runs of an experiment on disk: reuse a finished run, resume a stopped one, start a
//! missing one, and read back what a finished run measured.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Deserialize;
use tensor::Device;

use crate::commands::{RunPlace, train_config};
use crate::data::{self, Dataset};
use crate::report::{EpochMetrics, read_metrics};
use crate::train::Outcome;

use super::recipe::{Recipe, RunSpec};
use super::table::{Cell, Row};

/// File in a run folder holding the wall-clock seconds `mart paper` spent training it (summed
/// over the invocations that trained or resumed it, its final table included).
const SECONDS_FILE: &str = "paper-seconds.json";

/// Everything an experiment needs besides its runs: where to write, what to read, and what
/// happened so far (which runs were trained, resumed, reused; which evaluations ran).
pub struct Session {
    /// The output folder: `<experiment>.md`, `.csv`, `.svg`, and `runs/`.
    pub out: PathBuf,
    /// Folder with the data set's files.
    pub data_dir: Option<PathBuf>,
    /// Compute device.
    pub device: Device,
    /// Sizes of every run and evaluation.
    pub recipe: Recipe,
    /// Set (by Ctrl-C) to stop the current run after its batch with a resumable checkpoint.
    pub stop: Arc<AtomicBool>,
    /// Show progress bars and lines.
    pub progress: bool,
    /// What this invocation did, for the caller and the tests.
    pub log: std::cell::RefCell<Activity>,
    dataset: OnceCell<Dataset>,
}

/// What an invocation did: run names trained from scratch, resumed, reused, and the
/// evaluations computed (run name and evaluation key) rather than read from their cache.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    /// Runs started from scratch.
    pub started: Vec<String>,
    /// Stopped runs continued.
    pub resumed: Vec<String>,
    /// Finished runs read back.
    pub reused: Vec<String>,
    /// Evaluations computed, as `run/key`.
    pub evaluated: Vec<String>,
}

impl Session {
    /// A session writing into `out`.
    pub fn new(
        out: PathBuf,
        data_dir: Option<PathBuf>,
        device: Device,
        recipe: Recipe,
        stop: Arc<AtomicBool>,
        progress: bool,
    ) -> Session {
        Session {
            out,
            data_dir,
            device,
            recipe,
            stop,
            progress,
            log: Default::default(),
            dataset: OnceCell::new(),
        }
    }

    /// The data set, loaded once.
    pub fn dataset(&self) -> Result<&Dataset> {
        if let Some(d) = self.dataset.get() {
            return Ok(d);
        }
        let d = data::load(&self.recipe.dataset, self.data_dir.as_deref())?;
        Ok(self.dataset.get_or_init(|| d))
    }

    /// The folder of the run `spec`.
    pub fn run_dir(&self, spec: &RunSpec) -> PathBuf {
        self.out.join("runs").join(spec.name())
    }

    /// The finished run `spec`: read back if its final table exists, else resumed or started
    /// and trained to the end. `None` when a stop request interrupted it (it resumes next time).
    pub fn ensure_run(&self, spec: &RunSpec, index: (usize, usize)) -> Result<Option<Finished>> {
        let dir = self.run_dir(spec);
        let name = spec.name();
        if dir.join("robustness.json").exists() {
            self.log.borrow_mut().reused.push(name);
            return Finished::read(spec, &dir).map(Some);
        }
        let resume = dir.join("resume.safetensors").exists();
        if self.progress {
            eprintln!(
                "[{}/{}] {} {} ({})",
                index.0 + 1,
                index.1,
                if resume { "resuming" } else { "training" },
                spec.label,
                dir.display()
            );
        }
        let place = RunPlace {
            out: dir.clone(),
            data_dir: self.data_dir.clone(),
            device: self.device,
        };
        {
            let mut log = self.log.borrow_mut();
            let list = if resume {
                &mut log.resumed
            } else {
                &mut log.started
            };
            list.push(name);
        }
        let started = Instant::now();
        let start = (!resume).then(|| spec.config.clone());
        let report = train_config(start, &place, self.stop.clone(), self.progress)
            .with_context(|| format!("run {} ({})", spec.label, dir.display()))?;
        add_seconds(&dir, started.elapsed().as_secs_f64())?;
        match report.outcome {
            Outcome::Finished { .. } => Finished::read(spec, &dir).map(Some),
            Outcome::Interrupted { .. } => Ok(None),
        }
    }
}

/// Adds `seconds` to the run's [`SECONDS_FILE`].
fn add_seconds(dir: &Path, seconds: f64) -> Result<()> {
    let total = read_seconds(dir)?.unwrap_or(0.0) + seconds;
    let path = dir.join(SECONDS_FILE);
    std::fs::write(&path, serde_json::json!({ "seconds": total }).to_string())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The seconds in the run's [`SECONDS_FILE`], `None` when it has none.
fn read_seconds(dir: &Path) -> Result<Option<f64>> {
    let path = dir.join(SECONDS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{} is corrupt", path.display()))?;
    Ok(value["seconds"].as_f64())
}

/// One checkpoint's line of `robustness.json`: its epoch and accuracy per attack.
#[derive(Clone, Debug, Deserialize)]
pub struct Scores {
    /// The epoch it was saved at.
    pub epoch: usize,
    /// Test images of the table.
    pub test_images: usize,
    /// Accuracy in percent per attack name (`natural`, `fgsm`, `pgd20`, `cw`, ...).
    #[serde(flatten)]
    pub accuracy: BTreeMap<String, f64>,
}

/// A finished run: its specification, folder, final table and history.
#[derive(Clone, Debug)]
pub struct Finished {
    /// What was trained.
    pub spec: RunSpec,
    /// Its folder.
    pub dir: PathBuf,
    /// The best epoch's final table.
    pub best: Scores,
    /// The last epoch's final table.
    pub last: Scores,
    /// Natural and PGD-20 accuracy per epoch.
    pub history: Vec<EpochMetrics>,
    /// Wall-clock seconds `mart paper` spent training it, when it trained it.
    pub seconds: Option<f64>,
}

impl Finished {
    /// The columns of [`Finished::figure_row`]: headers and CSV names.
    pub fn figure_columns() -> Vec<(String, String)> {
        [
            ("natural", "natural"),
            ("PGD-20 best", "pgd20_best"),
            ("PGD-20 last", "pgd20_last"),
            ("CW-inf best", "cw_best"),
        ]
        .map(|(header, csv)| (header.into(), csv.into()))
        .into()
    }

    /// The row a figure's table gives this run, labelled `(panel) label`: natural and PGD-20
    /// of the best epoch, PGD-20 of the last, CW-inf of the best.
    pub fn figure_row(&self, panel: &str, label: &str) -> Row {
        let acc = |scores: &Scores, k: &str| Cell {
            ours: scores.accuracy.get(k).copied(),
            paper: None,
        };
        Row {
            label: format!("({panel}) {label}"),
            cells: vec![
                acc(&self.best, "natural"),
                acc(&self.best, "pgd20"),
                acc(&self.last, "pgd20"),
                acc(&self.best, "cw"),
            ],
            best_epoch: self.best.epoch,
            seconds: self.seconds,
            run: self.spec.name(),
        }
    }

    /// Reads the finished run in `dir`.
    fn read(spec: &RunSpec, dir: &Path) -> Result<Finished> {
        let path = dir.join("robustness.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut table: BTreeMap<String, Scores> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a final table of `mart train`", path.display()))?;
        let missing = |key| anyhow::anyhow!("{} has no '{key}' entry", path.display());
        Ok(Finished {
            spec: spec.clone(),
            dir: dir.to_path_buf(),
            best: table.remove("best").ok_or_else(|| missing("best"))?,
            last: table.remove("last").ok_or_else(|| missing("last"))?,
            history: read_metrics(dir)?,
            seconds: read_seconds(dir)?,
        })
    }

    /// The checkpoint file `best` or `last`.
    pub fn checkpoint(&self, which: Which) -> PathBuf {
        self.dir.join(format!("{}.safetensors", which.name()))
    }

    /// The final table of the best or last checkpoint.
    pub fn scores(&self, which: Which) -> &Scores {
        match which {
            Which::Best => &self.best,
            Which::Last => &self.last,
        }
    }
}

/// The best or the last epoch's checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Highest PGD-20 accuracy on the per-epoch evaluation images.
    Best,
    /// The final epoch.
    Last,
}

impl Which {
    /// `best` or `last`, as the files and `robustness.json` name them.
    pub fn name(self) -> &'static str {
        match self {
            Which::Best => "best",
            Which::Last => "last",
        }
    }
}
