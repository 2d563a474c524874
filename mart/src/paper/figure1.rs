//! Figure 1 of the paper: a model trained with standard adversarial training picks equal
//! subsets of misclassified (S-) and correctly classified (S+) natural training examples; then
//! the same network is retrained with either subset (a) not perturbed, (b) perturbed by FGSM
//! instead of PGD-10, or (c) trained with the KL-regularised CE, every other example getting
//! standard adversarial training; PGD-20 robustness per epoch shows which subset matters.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use tensor::Rng;

use crate::commands::{load_model, pseudo_labels};
use crate::report::write_atomically;
use crate::train::config::{DefenseKind, TrainConfig};
use crate::train::subset::{SubsetTreatment, Treatment};

use super::plot::{Curve, plot_figure1};
use super::recipe::{Recipe, RunSpec, defense_run};
use super::runs::{Finished, Session, Which};
use super::table::Table;
use super::{Runs, describe};

/// The panels: each treatment, its letter and the paper's title.
const PANELS: [(Treatment, &str, &str); 3] = [
    (Treatment::NotPerturbed, "a", "(a) Not perturb"),
    (Treatment::Fgsm, "b", "(b) Inner maximization"),
    (Treatment::Regularized, "c", "(c) Outer minimization"),
];
/// The cache of the picked subsets, in the standard run's folder.
const SUBSETS_FILE: &str = "figure1-subsets.json";
/// Images per batch when the standard model classifies the training set.
const CLASSIFY_BATCH: usize = 250;
/// Stream of the standard run's seed that draws the subsets.
const SUBSET_STREAM: u64 = 0xF1;

/// What the paper reports (its figure has curves only).
const PAPER_SAYS: &str = "The paper (an 8-layer CNN on CIFAR-10 at eps 8/255, its section 1, \
    with S- the 13% of the training data its standard model misclassifies) reports, without \
    tabulating numbers: (a) not perturbing S- lowers the final robustness drastically, not \
    perturbing S+ only slightly; (b) FGSM instead of PGD-10 barely affects robustness on S-, \
    but degrades it on S+; (c) the regularised CE improves robustness significantly on S-, \
    and less on S+.";

/// The standard adversarial training run of `recipe.subsets`: it picks the subsets and is the
/// figure's baseline (the same configuration retrained is the same run).
pub fn standard_run(recipe: &Recipe) -> RunSpec {
    defense_run(&recipe.subsets, DefenseKind::Standard)
}

/// The runs known before training: the standard run.
pub fn figure1_runs(recipe: &Recipe) -> Vec<RunSpec> {
    vec![standard_run(recipe)]
}

/// What the subsets were picked from (a cached pick is reused only for the same request).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Request {
    /// The standard run's checkpoint that classified the examples.
    checkpoint: String,
    /// Training images classified (a prefix of the training set).
    images: usize,
    /// Seed of the draws.
    seed: u64,
}

/// The subsets the standard model picks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subsets {
    request: Request,
    /// Training examples it misclassifies, in all.
    pub misclassified_total: usize,
    /// S-: misclassified examples (all of them unless they outnumber the correct ones).
    pub misclassified: Vec<usize>,
    /// S+: as many correctly classified examples, drawn at random.
    pub correct: Vec<usize>,
}

/// The subsets `standard` picks among the first training images its run trained on: its last
/// checkpoint classifies the natural images (eval mode), S- is the misclassified ones and S+
/// an equal number of correctly classified ones drawn with the run's seed; when the
/// misclassified outnumber the correct ones, S- is drawn from them instead. Cached in the run's
/// folder.
pub fn pick_subsets(session: &Session, standard: &Finished) -> Result<Subsets> {
    let train = &session.dataset()?.train;
    let config = &standard.spec.config;
    let images = train
        .labels
        .numel()
        .min(config.train_limit.unwrap_or(usize::MAX));
    let request = Request {
        checkpoint: Which::Last.name().into(),
        images,
        seed: config.seed,
    };
    let path = standard.dir.join(SUBSETS_FILE);
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(cached) = serde_json::from_str::<Subsets>(&text)
        && cached.request == request
    {
        return Ok(cached);
    }
    let model = load_model(
        &config.model,
        &standard.checkpoint(Which::Last),
        session.device,
    )?;
    let predicted = pseudo_labels(&*model, &train.images.slice(0, 0, images), CLASSIFY_BATCH);
    let (mut wrong, mut right): (Vec<usize>, Vec<usize>) =
        (0..images).partition(|&i| predicted[i] != train.labels.data()[i]);
    let misclassified_total = wrong.len();
    let n = wrong.len().min(right.len());
    if n == 0 {
        bail!(
            "the standard model ({}) classifies {} of the first {images} training images \
             correctly: Figure 1 needs both misclassified and correctly classified examples",
            standard.dir.display(),
            right.len()
        );
    }
    let mut rng = Rng::new(config.seed).fork(SUBSET_STREAM);
    for set in [&mut wrong, &mut right] {
        if set.len() > n {
            rng.shuffle(set);
            set.truncate(n);
            set.sort_unstable();
        }
    }
    let subsets = Subsets {
        request,
        misclassified_total,
        misclassified: wrong,
        correct: right,
    };
    write_atomically(&path, serde_json::to_string(&subsets)?.as_bytes())?;
    Ok(subsets)
}

/// How a treatment reads in labels.
fn treated(treatment: Treatment) -> &'static str {
    match treatment {
        Treatment::NotPerturbed => "not perturbed",
        Treatment::Fgsm => "perturbed by FGSM",
        Treatment::Regularized => "with the regularised CE",
    }
}

/// The retrained run of `base` with `subset` (`S-` or `S+`) treated by `treatment`.
fn variant(base: &RunSpec, name: &str, examples: &[usize], treatment: Treatment) -> RunSpec {
    let tag = if name == "S-" { "sminus" } else { "splus" };
    RunSpec {
        slug: format!("standard-{tag}-{}", treatment.name()),
        label: format!("{name} {}", treated(treatment)),
        config: TrainConfig {
            subset: Some(SubsetTreatment::new(name, examples.to_vec(), treatment)),
            ..base.config.clone()
        },
    }
}

/// Each panel's title and runs: the baseline, S- treated, S+ treated.
fn panels(recipe: &Recipe, subsets: &Subsets) -> Vec<(&'static str, &'static str, [RunSpec; 3])> {
    let base = standard_run(recipe);
    PANELS
        .iter()
        .map(|&(treatment, letter, title)| {
            let runs = [
                base.clone(),
                variant(&base, "S-", &subsets.misclassified, treatment),
                variant(&base, "S+", &subsets.correct, treatment),
            ];
            (letter, title, runs)
        })
        .collect()
}

/// The six retrained runs, once the standard run has finished.
pub fn retrained_runs(session: &Session, runs: &Runs) -> Result<Vec<RunSpec>> {
    let standard = runs.get(&standard_run(&session.recipe))?;
    let subsets = pick_subsets(session, standard)?;
    Ok(panels(&session.recipe, &subsets)
        .into_iter()
        .flat_map(|(_, _, [_, minus, plus])| [minus, plus])
        .collect())
}

/// PGD-20 accuracy per epoch of `run`, the legend naming the baseline as the paper does.
fn curve(run: &Finished, baseline: bool) -> Curve {
    Curve {
        label: if baseline {
            "standard adversarial training".into()
        } else {
            run.spec.label.clone()
        },
        points: run.history.iter().map(|m| (m.epoch, m.pgd20)).collect(),
        baseline,
    }
}

/// Writes `figure1.svg` and returns the figure's table.
pub fn figure1(session: &Session, runs: &Runs) -> Result<Table> {
    let recipe = &session.recipe;
    let standard = runs.get(&standard_run(recipe))?;
    let subsets = pick_subsets(session, standard)?;
    let mut rows = Vec::new();
    let mut plotted = Vec::new();
    for (letter, title, specs) in panels(recipe, &subsets) {
        let mut curves = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let run = runs.get(spec)?;
            let label = if i == 0 {
                "standard adversarial training"
            } else {
                &spec.label
            };
            rows.push(run.figure_row(letter, label));
            curves.push(curve(run, i == 0));
        }
        plotted.push((title.to_string(), curves));
    }
    plot_figure1(
        &session.out.join("figure1.svg"),
        &plotted,
        &recipe.dataset,
        &recipe.budget,
    )?;
    let total = session.dataset()?.test.labels.numel();
    let images = recipe.final_images.unwrap_or(total).min(total);
    let picked = subsets.request.images;
    let n = subsets.misclassified.len();
    Ok(Table {
        title: "Figure 1: misclassified (S-) versus correctly classified (S+) examples in \
                adversarial training (accuracy %)"
            .into(),
        notes: vec![
            format!(
                "Data set: {}; budget: {}. The figure is figure1.svg: PGD-20 accuracy per epoch \
                 on the per-epoch evaluation images, standard adversarial training dashed, S- \
                 green, S+ orange; the table gives the best epoch's natural, PGD-20 and CW-inf \
                 accuracy and the last epoch's PGD-20 on {images} test images.",
                recipe.dataset, recipe.budget
            ),
            format!(
                "The standard model (run `{}`, its last epoch) misclassifies {} of the {picked} \
                 natural training images ({:.1}%, training accuracy {:.1}%); S- holds {n} of \
                 them and S+ {n} correctly classified ones drawn at random ({:.1}% of the \
                 training images each). Every other example is trained on PGD-{} examples with \
                 CE; (a) trains the subset on its natural images, (b) perturbs it by FGSM (one \
                 step of eps), (c) adds lambda * KL(p(x) || p(x')) on it, lambda {} (TRADES' \
                 KL term, the one the paper names).",
                standard.spec.name(),
                subsets.misclassified_total,
                100.0 * subsets.misclassified_total as f64 / picked as f64,
                100.0 - 100.0 * subsets.misclassified_total as f64 / picked as f64,
                100.0 * n as f64 / picked as f64,
                recipe.subsets.attack_steps,
                recipe.subsets.beta
            ),
            format!("Training: {}.", describe(&recipe.subsets)),
            PAPER_SAYS.into(),
        ],
        columns: Finished::figure_columns(),
        rows,
        dataset: recipe.dataset.clone(),
        budget: recipe.budget.clone(),
        row_header: "variant".into(),
    })
}
