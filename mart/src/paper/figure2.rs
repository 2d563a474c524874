//! Figure 2 of the paper: MART with components removed (a) and replaced (b), its regulariser
//! on a fraction of each batch (c), and lambda from 1/2 to 50 for MART and TRADES (d).

use anyhow::Result;

use crate::train::config::{DefenseKind, TrainConfig};

use super::plot::{Curve, Figure2Data, plot_figure2};
use super::recipe::{Recipe, RunSpec, beta_text, defense_run};
use super::runs::{Finished, Session};
use super::table::Table;
use super::{Runs, describe};

/// Fractions of each batch the regulariser is applied to in panel (c); 0 is MART without
/// the KL term and 1 is MART itself.
pub const FRACTIONS: [f64; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// The lambdas (betas) of panel (d), plotted at uniform intervals as the paper does.
pub const LAMBDAS: [f64; 5] = [0.5, 1.0, 5.0, 20.0, 50.0];

/// What the paper reports in each panel (its numbers are not tabulated).
const PAPER_SAYS: &str = "The paper (ResNet-18 on CIFAR-10, its section 4.1) reports, without \
    tabulating numbers: (a) removing the (1 - p_y) weight, the KL term, or both lowers robustness \
    significantly; the weight helps throughout training and the KL term mitigates overfitting \
    late in training; (b) CE instead of BCE, or BCE on natural examples, lowers the final \
    robustness, BCE on natural examples overfitting severely late in training, and KL in the \
    inner maximisation brings no benefit; (c) robustness improves steadily as the regulariser is \
    applied to more of the training data; (d) MART is stable across lambda in [1/2, 50] and \
    consistently more robust than TRADES.";

/// `base` changed by `change`; the base itself (its slug and label) when the change leaves
/// the configuration as it was, so that equal runs share one folder.
fn variant(
    base: &RunSpec,
    slug: String,
    label: String,
    change: impl Fn(&mut TrainConfig),
) -> RunSpec {
    let mut config = base.config.clone();
    change(&mut config);
    if config == base.config {
        return base.clone();
    }
    RunSpec {
        slug,
        label,
        config,
    }
}

/// The runs of each panel, in plotting order.
struct Panels {
    removing: Vec<RunSpec>,
    replacing: Vec<RunSpec>,
    fraction: Vec<(f64, RunSpec)>,
    lambda_mart: Vec<(f64, RunSpec)>,
    lambda_trades: Vec<(f64, RunSpec)>,
}

fn panels(recipe: &Recipe) -> Panels {
    let mart = defense_run(&recipe.ablation, DefenseKind::Mart);
    let trades = defense_run(&recipe.ablation, DefenseKind::Trades);
    let no_kl = variant(
        &mart,
        "mart-no-kl".into(),
        "MART without KL (BCE alone)".into(),
        |c| c.mart.no_kl = true,
    );
    let removing = vec![
        mart.clone(),
        variant(
            &mart,
            "mart-no-weight".into(),
            "MART without (1 - p_y)".into(),
            |c| c.mart.no_weight = true,
        ),
        no_kl.clone(),
    ];
    let replacing = vec![
        mart.clone(),
        variant(
            &mart,
            "mart-ce".into(),
            "MART, CE instead of BCE".into(),
            |c| c.mart.ce_instead_of_bce = true,
        ),
        variant(
            &mart,
            "mart-bce-natural".into(),
            "MART, BCE on natural examples".into(),
            |c| c.mart.bce_on_natural = true,
        ),
        variant(
            &mart,
            "mart-kl-inner".into(),
            "MART, KL in the inner maximisation".into(),
            |c| c.mart.kl_inner = true,
        ),
    ];
    let fraction = FRACTIONS
        .iter()
        .map(|&f| {
            let spec = if f == 0.0 {
                no_kl.clone()
            } else if f == 1.0 {
                mart.clone()
            } else {
                variant(
                    &mart,
                    format!("mart-kl-fraction{f}"),
                    format!("MART, regulariser on {:.0}% of each batch", 100.0 * f),
                    |c| c.mart.kl_fraction = Some(f),
                )
            };
            (f, spec)
        })
        .collect();
    let sweep = |base: &RunSpec, name: &str| -> Vec<(f64, RunSpec)> {
        LAMBDAS
            .iter()
            .map(|&beta| {
                let spec = variant(
                    base,
                    format!("{}-beta{}", base.slug, beta_text(beta)),
                    format!("{name}, lambda {}", beta_text(beta)),
                    |c| c.beta = beta,
                );
                (beta, spec)
            })
            .collect()
    };
    Panels {
        removing,
        replacing,
        fraction,
        lambda_mart: sweep(&mart, "MART"),
        lambda_trades: sweep(&trades, "TRADES"),
    }
}

/// Every run of Figure 2 (a run in several panels appears once per panel; the caller trains
/// each name once).
pub fn figure2_runs(recipe: &Recipe) -> Vec<RunSpec> {
    let p = panels(recipe);
    let sweeps = p
        .fraction
        .into_iter()
        .chain(p.lambda_mart)
        .chain(p.lambda_trades);
    p.removing
        .into_iter()
        .chain(p.replacing)
        .chain(sweeps.map(|(_, spec)| spec))
        .collect()
}

/// PGD-20 accuracy per epoch of `run` (the per-epoch evaluation).
fn curve(run: &Finished) -> Curve {
    Curve {
        label: run.spec.label.clone(),
        points: run.history.iter().map(|m| (m.epoch, m.pgd20)).collect(),
        baseline: run.spec.slug == "mart",
    }
}

/// Writes `figure2.svg` and returns the figure's table.
pub fn figure2(session: &Session, runs: &Runs) -> Result<Table> {
    let recipe = &session.recipe;
    let p = panels(recipe);
    let mut rows = Vec::new();
    let mut data = Figure2Data::default();
    for spec in &p.removing {
        rows.push(runs.get(spec)?.figure_row("a", &spec.label));
        data.removing.push(curve(runs.get(spec)?));
    }
    for spec in &p.replacing {
        rows.push(runs.get(spec)?.figure_row("b", &spec.label));
        data.replacing.push(curve(runs.get(spec)?));
    }
    for (f, spec) in &p.fraction {
        let run = runs.get(spec)?;
        rows.push(run.figure_row("c", &format!("{:.0}% of the data", 100.0 * f)));
        data.fraction.push((100.0 * f, best_last(run)));
    }
    for (sweep, name, out) in [
        (&p.lambda_mart, "MART", &mut data.lambda_mart),
        (&p.lambda_trades, "TRADES", &mut data.lambda_trades),
    ] {
        for (beta, spec) in sweep {
            let run = runs.get(spec)?;
            rows.push(run.figure_row("d", &format!("{name}, lambda {}", beta_text(*beta))));
            out.push((beta_text(*beta), best_last(run)));
        }
    }
    plot_figure2(
        &session.out.join("figure2.svg"),
        &data,
        &recipe.dataset,
        &recipe.budget,
    )?;
    let total = session.dataset()?.test.labels.numel();
    let images = recipe.final_images.unwrap_or(total).min(total);
    Ok(Table {
        title: "Figure 2: ablations of MART (accuracy %)".into(),
        notes: vec![
            format!(
                "Data set: {}; budget: {}. The figure is figure2.svg: (a) removing and (b) \
                 replacing MART's components, PGD-20 accuracy per epoch on the per-epoch \
                 evaluation images (MART dashed); (c) the regulariser on a random fraction of \
                 each batch and (d) lambda for MART and TRADES, PGD-20 accuracy of the best \
                 (solid) and last (dotted) epochs on {images} test images.",
                recipe.dataset, recipe.budget
            ),
            format!("Training: {}.", describe(&recipe.ablation)),
            PAPER_SAYS.into(),
        ],
        columns: Finished::figure_columns(),
        rows,
        dataset: recipe.dataset.clone(),
        budget: recipe.budget.clone(),
        row_header: "variant".into(),
    })
}

/// PGD-20 accuracy of the best and last epochs.
fn best_last(run: &Finished) -> (f64, f64) {
    let pgd = |s: &super::runs::Scores| s.accuracy.get("pgd20").copied().unwrap_or(f64::NAN);
    (pgd(&run.best), pgd(&run.last))
}
