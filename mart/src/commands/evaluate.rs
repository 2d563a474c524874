//! `mart eval`: a checkpoint's accuracy under a list of attacks on the test split, white-box or
//! transferred from a surrogate.

use anyhow::{Result, bail};
use tensor::Rng;

use crate::attack::{ATTACK_NAMES, AttackSpec, default_eps};
use crate::cli::{CheckpointArgs, EvalArgs};
use crate::commands::load_model;
use crate::data;
use crate::eval::{AttackRow, EvalSettings, Loaded, attack_table};
use crate::progress::image_bar;

/// Accuracy in percent per attack, in the order the attacks were asked for.
pub type AccuracyTable = Vec<(String, f64)>;

/// Loads the data set, the checkpoint and (for transfer) the surrogate named by `args`.
pub fn load(args: &CheckpointArgs) -> Result<Loaded> {
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    let dataset = data::load(&args.dataset, args.data_dir.as_deref())?;
    let model = load_model(&args.model, &args.checkpoint, args.device)?;
    let surrogate = match (&args.transfer_from, &args.surrogate_model) {
        (Some(path), Some(name)) => Some(load_model(name, path, args.device)?),
        (None, None) => None,
        _ => bail!("--transfer-from and --surrogate-model go together"),
    };
    let total = dataset.test.labels.numel();
    let limit = args.limit.unwrap_or(total).min(total);
    Ok(Loaded {
        model,
        surrogate,
        images: dataset.test.images.slice(0, 0, limit),
        labels: dataset.test.labels.slice(0, 0, limit),
        eps: args.eps.unwrap_or_else(|| default_eps(&args.dataset)),
    })
}

/// The attacks of `--attacks`, with SPSA's flags applied.
pub fn attack_specs(args: &EvalArgs) -> Result<Vec<AttackSpec>> {
    let specs = AttackSpec::parse_list(&args.attacks, args.cw_kappa).map_err(anyhow::Error::msg)?;
    if specs.is_empty() {
        bail!("--attacks is empty: name at least one of {ATTACK_NAMES}");
    }
    if args.spsa_steps == 0 || args.spsa_directions == 0 {
        bail!("--spsa-steps and --spsa-directions must be positive");
    }
    Ok(specs
        .into_iter()
        .map(|spec| match spec {
            AttackSpec::Spsa { .. } => AttackSpec::Spsa {
                steps: args.spsa_steps,
                directions: args.spsa_directions,
            },
            other => other,
        })
        .collect())
}

/// Runs `specs` on `loaded` with a progress bar (when `progress`).
pub fn run_table(
    loaded: &Loaded,
    specs: &[AttackSpec],
    args: &CheckpointArgs,
    progress: bool,
) -> Vec<AttackRow> {
    let bar = image_bar(loaded.labels.numel() * specs.len(), progress);
    let rows = attack_table(
        loaded.models(),
        (&loaded.images, &loaded.labels),
        specs,
        EvalSettings {
            eps: loaded.eps,
            batch: args.batch_size,
        },
        &mut Rng::new(args.seed),
        |spec, n| {
            bar.set_message(spec.name());
            bar.inc(n as u64);
        },
    );
    bar.finish_and_clear();
    rows
}

/// Runs `mart eval`: loads the data set and the checkpoint, then attacks the first `--limit`
/// test images with every attack of `--attacks`.
pub fn evaluate(args: &EvalArgs, progress: bool) -> Result<Vec<AttackRow>> {
    let specs = attack_specs(args)?;
    let loaded = load(&args.target)?;
    Ok(run_table(&loaded, &specs, &args.target, progress))
}
