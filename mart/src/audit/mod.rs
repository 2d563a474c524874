//! `mart audit`: the gradient-masking checks of EVAL.md run on one checkpoint, each a measured
//! line with PASS or WARN, gathered in a JSON report with an SVG of accuracy against eps.
//!
//! A robustness figure is suspect when a weaker attack beats a stronger one: one step beating
//! twenty, a transferred attack beating the white-box one, a gradient-free attack beating the
//! gradient ones, a model that stays accurate when any image is reachable, or AutoAttack
//! finding far more than PGD-20. Each of those is measured here.

pub mod checks;
mod plot;

pub use checks::{Check, Verdict};
pub use plot::plot_eps_sweep;

use std::collections::BTreeMap;

use serde::Serialize;
use tensor::Rng;

use crate::attack::{AttackSpec, AutoAttackPart};
use crate::eval::{AttackRow, EvalSettings, Loaded, Models, attack_table};

/// How the audit runs.
#[derive(Clone, Copy, Debug)]
pub struct AuditSettings {
    /// Images per batch of the batch-by-batch attacks.
    pub batch: usize,
    /// Seed of every attack's random stream.
    pub seed: u64,
    /// Images SPSA (and the gradient attacks it is compared with) runs on: it costs
    /// 2 x directions x steps forward passes per image.
    pub spsa_limit: usize,
    /// SPSA iterations.
    pub spsa_steps: usize,
    /// SPSA directions per iteration.
    pub spsa_directions: usize,
    /// The largest PGD-20 to AutoAttack drop, in points, that passes.
    pub max_autoattack_drop: f64,
    /// The highest accuracy, in percent, allowed at eps 1.0.
    pub sweep_floor: f64,
}

/// Everything the audit measured, and its verdicts.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// Test images attacked.
    pub images: usize,
    /// The L-inf radius of the table.
    pub eps: f32,
    /// Accuracy in percent per attack on all images (`transfer-pgd20` with a surrogate).
    pub accuracy: BTreeMap<String, f64>,
    /// Robust accuracy after each of AutoAttack's attacks.
    pub autoattack_stages: Vec<(String, f64)>,
    /// Images of the SPSA comparison, and accuracy per attack on them.
    pub spsa_images: usize,
    /// Accuracy per attack on the SPSA images.
    pub spsa_subset: BTreeMap<String, f64>,
    /// PGD-20 accuracy at each eps of the sweep.
    pub eps_sweep: Vec<(f32, f64)>,
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// Whether every check passed.
    pub passed: bool,
}

/// The radii of the sweep: 0 to 3 times the data set's eps, then 0.5 and 1.0.
pub fn sweep_radii(eps: f32) -> Vec<f32> {
    let mut radii: Vec<f32> = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
        .iter()
        .map(|m| m * eps)
        .chain([0.5, 1.0])
        .filter(|&r| r <= 1.0)
        .collect();
    radii.sort_by(f32::total_cmp);
    radii.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
    radii
}

/// Runs every measurement on `loaded` (the surrogate, when present, only for the transfer
/// check); `on_batch(what, n)` reports progress.
pub fn audit(
    loaded: &Loaded,
    settings: AuditSettings,
    mut on_batch: impl FnMut(&str, usize),
) -> AuditReport {
    let white = Models::white_box(&*loaded.model);
    let n = loaded.labels.numel();
    let data = (&loaded.images, &loaded.labels);
    let mut table = |models: Models<'_>, data, specs: &[AttackSpec], eps: f32| -> Vec<AttackRow> {
        let eval = EvalSettings {
            eps,
            batch: settings.batch,
        };
        let mut rng = Rng::new(settings.seed);
        attack_table(models, data, specs, eval, &mut rng, |spec, k| {
            on_batch(&spec.name(), k)
        })
    };
    let main_specs = [
        AttackSpec::Natural,
        AttackSpec::Fgsm,
        AttackSpec::Pgd { steps: 20 },
        AttackSpec::Pgd { steps: 100 },
        AttackSpec::AutoAttack,
        AttackSpec::AutoAttackPart(AutoAttackPart::Square),
    ];
    let rows = table(white, data, &main_specs, loaded.eps);
    let mut accuracy: BTreeMap<String, f64> =
        rows.iter().map(|r| (r.name.clone(), r.accuracy)).collect();
    let stages = rows[4].stages.clone();
    let apgd_ce = stages.first().map_or(accuracy["autoattack"], |s| s.1);
    accuracy.insert("apgd-ce".into(), apgd_ce);

    let spsa_images = settings.spsa_limit.min(n);
    let subset = (
        &loaded.images.slice(0, 0, spsa_images),
        &loaded.labels.slice(0, 0, spsa_images),
    );
    let spsa_specs = [
        AttackSpec::Pgd { steps: 20 },
        AttackSpec::AutoAttackPart(AutoAttackPart::ApgdCe),
        AttackSpec::Spsa {
            steps: settings.spsa_steps,
            directions: settings.spsa_directions,
        },
    ];
    let spsa_subset: BTreeMap<String, f64> = table(white, subset, &spsa_specs, loaded.eps)
        .into_iter()
        .map(|r| (r.name, r.accuracy))
        .collect();

    let transfer = loaded.surrogate.as_deref().map(|surrogate| {
        let models = Models {
            judged: &*loaded.model,
            source: surrogate,
        };
        table(models, data, &[AttackSpec::Pgd { steps: 20 }], loaded.eps)[0].accuracy
    });
    if let Some(t) = transfer {
        accuracy.insert("transfer-pgd20".into(), t);
    }

    let eps_sweep: Vec<(f32, f64)> = sweep_radii(loaded.eps)
        .into_iter()
        .map(|eps| {
            (
                eps,
                table(white, data, &[AttackSpec::Pgd { steps: 20 }], eps)[0].accuracy,
            )
        })
        .collect();

    let mut all_checks = vec![checks::iterative_vs_one_step(
        accuracy["fgsm"],
        accuracy["pgd20"],
        accuracy["pgd100"],
        n,
    )];
    if let Some(t) = transfer {
        all_checks.push(checks::white_vs_transfer(accuracy["pgd20"], t, n));
    }
    all_checks.push(checks::gradient_free(
        "spsa",
        spsa_subset["spsa"],
        spsa_subset["pgd20"].min(spsa_subset["apgd-ce"]),
        spsa_images,
    ));
    all_checks.push(checks::gradient_free(
        "square",
        accuracy["square"],
        accuracy["pgd20"].min(apgd_ce),
        n,
    ));
    all_checks.push(checks::eps_sweep(&eps_sweep, n, settings.sweep_floor));
    all_checks.push(checks::autoattack_drop(
        accuracy["pgd20"],
        accuracy["autoattack"],
        settings.max_autoattack_drop,
    ));
    let passed = all_checks.iter().all(|c| c.verdict == Verdict::Pass);
    AuditReport {
        images: n,
        eps: loaded.eps,
        accuracy,
        autoattack_stages: stages,
        spsa_images,
        spsa_subset,
        eps_sweep,
        checks: all_checks,
        passed,
    }
}
