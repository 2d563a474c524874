//! `mart eval`: a checkpoint's accuracy under a list of attacks on the test split.

use anyhow::{Result, bail};
use tensor::Rng;

use crate::attack::{AttackSpec, default_eps};
use crate::cli::EvalArgs;
use crate::commands::load_model;
use crate::data;
use crate::eval::{EvalSettings, robust_accuracy};
use crate::progress::image_bar;

/// Accuracy in percent per attack, in the order the attacks were asked for.
pub type AccuracyTable = Vec<(String, f64)>;

/// Runs `mart eval`: loads the data set and the checkpoint, then attacks the first `--limit`
/// test images with every attack of `--attacks`.
pub fn evaluate(args: &EvalArgs, progress: bool) -> Result<AccuracyTable> {
    let specs = AttackSpec::parse_list(&args.attacks, args.cw_kappa).map_err(anyhow::Error::msg)?;
    if specs.is_empty() {
        bail!("--attacks is empty: name at least one of natural, fgsm, pgdK (e.g. pgd20), cw");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    let dataset = data::load(&args.dataset, args.data_dir.as_deref())?;
    let model = load_model(&args.model, &args.checkpoint, args.device)?;
    let total = dataset.test.labels.numel();
    let limit = args.limit.unwrap_or(total).min(total);
    let images = dataset.test.images.slice(0, 0, limit);
    let labels = dataset.test.labels.slice(0, 0, limit);
    let eps = args.eps.unwrap_or_else(|| default_eps(&args.dataset));
    let bar = image_bar(limit * specs.len(), progress);
    let table = robust_accuracy(
        &*model,
        (&images, &labels),
        &specs,
        EvalSettings {
            eps,
            batch: args.batch_size,
        },
        &mut Rng::new(args.seed),
        |spec, n| {
            bar.set_message(spec.name());
            bar.inc(n as u64);
        },
    );
    bar.finish_and_clear();
    Ok(table)
}
