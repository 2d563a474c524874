//! Table 5 of the paper: semi-supervised MART and RST (semi-supervised TRADES) on
//! pseudo-labelled images, beside MART and TRADES on the labelled images alone. A natural model
//! trained on the labelled images gives the pseudo-labels (RST's first stage, `mart
//! pseudo-label`); the robust runs mix them into every batch (`mart train --unlabeled`).

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::commands::{load_model, pseudo_labels};
use crate::data;
use crate::report::write_atomically;
use crate::train::config::{DefenseKind, TrainConfig};
use crate::train::mixing::{DEFAULT_UNLABELED_FRACTION, SemiSupervised};

use super::published::TABLE5;
use super::recipe::{Recipe, RunSpec, UnlabeledSource, defense_label, defense_run};
use super::runs::{Finished, Session, Which};
use super::table::{Cell, Row, Table};
use super::{Runs, describe};

/// The cache of the pseudo-labelled set, in the natural run's folder.
const PSEUDO_FILE: &str = "pseudo-labels.json";
/// The pseudo-labels (an IDX labels file), beside it.
const LABELS_FILE: &str = "pseudo-labels-idx1-ubyte";
/// The unlabelled images of a split training set (an IDX images file), beside it.
const IMAGES_FILE: &str = "unlabeled-images-idx3-ubyte";
/// Images per batch when the natural model labels.
const LABEL_BATCH: usize = 250;

/// The error of a paper-budget Table 5 without `--unlabeled`.
pub fn missing_unlabeled() -> anyhow::Error {
    anyhow!(
        "table5 with --budget paper needs unlabelled images: pass --unlabeled FILE (an IDX images \
         file, or CIFAR-10-style binary records of 3,073 bytes each). The paper's Table 5 used \
         100K and 500K images from 80 Million Tiny Images, as UAT++ and RST; RST distributes its \
         500K as ti_500K_pseudo_labeled.pickle: write its images as CIFAR-10 binary records (mart \
         labels them itself, with its own natural model)"
    )
}

/// The natural (non-robust) model of the labelled images that gives the pseudo-labels.
pub fn labeller_run(recipe: &Recipe) -> RunSpec {
    RunSpec {
        slug: "natural-labeller".into(),
        label: "natural model (gives the pseudo-labels)".into(),
        config: TrainConfig {
            defense: DefenseKind::Natural,
            ..recipe.labeller.clone()
        },
    }
}

/// `defense` on the labelled images alone.
fn supervised_run(recipe: &Recipe, defense: DefenseKind) -> RunSpec {
    RunSpec {
        label: format!("{}, labelled images only", defense_label(defense)),
        ..defense_run(&recipe.semi, defense)
    }
}

/// `defense` on the labelled and the pseudo-labelled images, mixed as RST does.
fn semi_run(recipe: &Recipe, defense: DefenseKind, set: &PseudoSet) -> RunSpec {
    let supervised = defense_run(&recipe.semi, defense);
    RunSpec {
        slug: format!("{}-semisup", supervised.slug),
        label: match defense {
            DefenseKind::Mart => "semi-supervised MART".into(),
            _ => "RST (semi-supervised TRADES)".into(),
        },
        config: TrainConfig {
            semi_supervised: Some(SemiSupervised {
                images: set.images.clone(),
                pseudo_labels: set.labels.clone(),
                fraction: DEFAULT_UNLABELED_FRACTION,
            }),
            ..supervised.config
        },
    }
}

/// The runs known before training: the natural model and the supervised baselines.
pub fn table5_runs(recipe: &Recipe) -> Vec<RunSpec> {
    vec![
        labeller_run(recipe),
        supervised_run(recipe, DefenseKind::Mart),
        supervised_run(recipe, DefenseKind::Trades),
    ]
}

/// The semi-supervised runs, once the natural model has finished.
pub fn semi_supervised_runs(session: &Session, runs: &Runs) -> Result<Vec<RunSpec>> {
    let set = pseudo_labelled(session, runs.get(&labeller_run(&session.recipe))?)?;
    Ok(vec![
        semi_run(&session.recipe, DefenseKind::Mart, &set),
        semi_run(&session.recipe, DefenseKind::Trades, &set),
    ])
}

/// What was labelled (a cached set is reused only for the same request).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Request {
    /// The natural run's checkpoint that labelled.
    checkpoint: String,
    /// The images: a range of the training set, or a file and its size in bytes.
    source: String,
}

/// The pseudo-labelled set: where its images and labels are, and how good the labels are.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PseudoSet {
    request: Request,
    /// The images (absolute).
    pub images: PathBuf,
    /// Their pseudo-labels (absolute).
    pub labels: PathBuf,
    /// Images labelled.
    pub count: usize,
    /// When the images come from the training set: how many pseudo-labels are the true ones.
    pub agreeing: Option<usize>,
}

/// The images to label and where they are.
struct Source {
    /// What the cache must match.
    request: Request,
    /// The images file: written beside the labels for a split, else the user's.
    images: PathBuf,
    /// For a split training set, the range of its images that is unlabelled.
    range: Option<(usize, usize)>,
}

/// The images to label: a range of the training set, or the user's file.
fn source(session: &Session, dir: &std::path::Path) -> Result<Source> {
    let recipe = &session.recipe;
    let request = |source: String| Request {
        checkpoint: Which::Last.name().into(),
        source,
    };
    match &recipe.unlabeled {
        UnlabeledSource::Split(n) => {
            let total = session.dataset()?.train.labels.numel();
            let labelled = recipe.semi.train_limit.unwrap_or(total);
            if labelled + n > total {
                bail!(
                    "table5 keeps the labels of {labelled} training images and treats the next {n} \
                     as unlabelled, but {} has {total}",
                    recipe.dataset
                );
            }
            let range = (labelled, labelled + n);
            let source = format!(
                "{} training images {}..{}",
                recipe.dataset, range.0, range.1
            );
            Ok(Source {
                request: request(source),
                images: dir.join(IMAGES_FILE),
                range: Some(range),
            })
        }
        UnlabeledSource::File(Some(path)) => {
            let bytes = std::fs::metadata(path)
                .with_context(|| format!("--unlabeled {}", path.display()))?
                .len();
            let source = format!("{} ({bytes} bytes)", path.display());
            Ok(Source {
                request: request(source),
                images: path.clone(),
                range: None,
            })
        }
        UnlabeledSource::File(None) => Err(missing_unlabeled()),
    }
}

/// The pseudo-labelled set of `labeller` (its last checkpoint, eval mode, argmax), cached in
/// its folder: with a split training set, the images too.
pub fn pseudo_labelled(session: &Session, labeller: &Finished) -> Result<PseudoSet> {
    let dir = std::fs::canonicalize(&labeller.dir)
        .with_context(|| format!("cannot find {}", labeller.dir.display()))?;
    let Source {
        request,
        images: images_path,
        range,
    } = source(session, &dir)?;
    let cache = dir.join(PSEUDO_FILE);
    let labels_path = dir.join(LABELS_FILE);
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Ok(cached) = serde_json::from_str::<PseudoSet>(&text)
        && cached.request == request
        && cached.images.exists()
        && cached.labels.exists()
    {
        return Ok(cached);
    }
    let train = &session.dataset()?.train;
    let (images, known) = match range {
        Some((start, end)) => (
            train.images.slice(0, start, end),
            Some(train.labels.slice(0, start, end)),
        ),
        None => (data::load_images(&images_path)?, None),
    };
    if images.dims()[1..] != train.images.dims()[1..] {
        bail!(
            "the unlabelled images {} are {:?} but the training images of {} are {:?}",
            images_path.display(),
            &images.dims()[1..],
            session.recipe.dataset,
            &train.images.dims()[1..]
        );
    }
    if session.progress {
        eprintln!(
            "labelling {} images with {} ({})",
            images.dims()[0],
            labeller.spec.label,
            labeller.dir.display()
        );
    }
    let model = load_model(
        &labeller.spec.config.model,
        &labeller.checkpoint(Which::Last),
        session.device,
    )?;
    let labels = pseudo_labels(&*model, &images, LABEL_BATCH);
    data::write_labels(&labels_path, &labels)?;
    if range.is_some() {
        data::write_images(&images_path, &images, &labels)?;
    }
    let set = PseudoSet {
        request,
        images: images_path,
        labels: labels_path,
        count: labels.len(),
        agreeing: known.map(|k| k.data().iter().zip(&labels).filter(|(a, b)| a == b).count()),
    };
    write_atomically(&cache, serde_json::to_string_pretty(&set)?.as_bytes())?;
    Ok(set)
}

/// The published (b) row (WRN-28-10, 500K images) of `name`.
fn published(name: &str) -> Option<[f64; 2]> {
    TABLE5
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, b)| *b)
}

/// A row of `run`: natural, FGSM, PGD-20, CW-inf of the best epoch, PGD-20 of the last; the
/// paper's natural and PGD-20 beside ours where `paper` names its row.
fn row(run: &Finished, paper: Option<&str>) -> Row {
    let paper = paper.and_then(published);
    let best = |k: &str| run.best.accuracy.get(k).copied();
    let cell = |ours, paper| Cell { ours, paper };
    Row {
        label: run.spec.label.clone(),
        cells: vec![
            cell(best("natural"), paper.map(|p| p[0])),
            cell(best("fgsm"), None),
            cell(best("pgd20"), paper.map(|p| p[1])),
            cell(best("cw"), None),
            cell(run.last.accuracy.get("pgd20").copied(), None),
        ],
        best_epoch: run.best.epoch,
        seconds: run.seconds,
        run: run.spec.name(),
    }
}

/// Table 5: the supervised and semi-supervised runs of MART and TRADES.
pub fn table5(session: &Session, runs: &Runs) -> Result<Table> {
    let recipe = &session.recipe;
    let labeller = runs.get(&labeller_run(recipe))?;
    let set = pseudo_labelled(session, labeller)?;
    let specs = [
        (supervised_run(recipe, DefenseKind::Mart), None),
        (semi_run(recipe, DefenseKind::Mart, &set), Some("MART")),
        (supervised_run(recipe, DefenseKind::Trades), None),
        (semi_run(recipe, DefenseKind::Trades, &set), Some("RST")),
    ];
    let rows = specs
        .iter()
        .map(|(spec, paper)| Ok(row(runs.get(spec)?, *paper)))
        .collect::<Result<Vec<_>>>()?;
    let total = session.dataset()?.test.labels.numel();
    let images = recipe.final_images.unwrap_or(total).min(total);
    let train_total = session.dataset()?.train.labels.numel();
    let labelled = recipe
        .semi
        .train_limit
        .unwrap_or(train_total)
        .min(train_total);
    let unlabelled = match &recipe.unlabeled {
        UnlabeledSource::Split(_) => format!(
            "the first {labelled} training images keep their labels and the next {} are treated \
             as unlabelled",
            set.count
        ),
        UnlabeledSource::File(_) => format!(
            "all {labelled} training images are labelled; the {} unlabelled images are {}",
            set.count,
            set.images.display()
        ),
    };
    let agreement = set.agreeing.map_or(String::new(), |a| {
        format!(
            "; its pseudo-labels agree with the true labels on {a} of {} ({:.2}%)",
            set.count,
            100.0 * a as f64 / set.count.max(1) as f64
        )
    });
    let natural = labeller.last.accuracy.get("natural").copied();
    Ok(Table {
        title: "Table 5: white-box robustness with unlabelled data (accuracy %)".into(),
        notes: vec![
            format!(
                "Data set: {}; budget: {}. Each cell is ours, with the paper's published number \
                 (Table 5 (b): WideResNet-28-10 on CIFAR-10 with 500K unlabelled images) in \
                 parentheses; \"seconds\" is the wall-clock time `mart paper` spent training the \
                 run, its final table included (— for a run it did not train). Our numbers are \
                 measured on {images} test images at eps {}; natural, FGSM, PGD-20 and CW-inf of \
                 the best epoch, PGD-20 of the last.",
                recipe.dataset,
                recipe.budget,
                crate::attack::default_eps(&recipe.dataset)
            ),
            format!(
                "Unlabelled data: {unlabelled}. The natural model (cross-entropy on the labelled \
                 images, {} epochs, run `{}`, last epoch: {:.2}% natural test accuracy) gives \
                 each unlabelled image the argmax of its logits{agreement}.",
                recipe.labeller.epochs,
                labeller.spec.name(),
                natural.unwrap_or(f64::NAN)
            ),
            format!(
                "The semi-supervised runs fill each batch half with labelled images (passes over \
                 the labelled set) and half with pseudo-labelled ones (drawn with replacement), \
                 as RST; an epoch is the labelled set's size in batches, so they see each \
                 labelled image half as often as the supervised runs, in as many steps. \
                 Training: {}. TRADES takes the lambda of its published code (1 on MNIST, 6 on \
                 CIFAR-10, RST's).",
                describe(&recipe.semi)
            ),
            format!(
                "The paper's Table 5 (a), WideResNet-34-8 with 100K images, natural / PGD-20: \
                 UAT++ {:.2} / {:.2}, RST {:.2} / {:.2}, MART {:.2} / {:.2}; (b) UAT++ {:.2} / \
                 {:.2}. UAT++ (Uesato et al. 2019) is not implemented here.",
                TABLE5[0].1[0],
                TABLE5[0].1[1],
                TABLE5[1].1[0],
                TABLE5[1].1[1],
                TABLE5[2].1[0],
                TABLE5[2].1[1],
                TABLE5[0].2[0],
                TABLE5[0].2[1]
            ),
        ],
        columns: vec![
            ("natural".into(), "natural".into()),
            ("FGSM".into(), "fgsm".into()),
            ("PGD-20".into(), "pgd20".into()),
            ("CW-inf".into(), "cw".into()),
            ("PGD-20 last".into(), "pgd20_last".into()),
        ],
        rows,
        dataset: recipe.dataset.clone(),
        budget: recipe.budget.clone(),
        row_header: "defense".into(),
    })
}
