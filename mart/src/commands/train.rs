//! `mart train` (and the default run): train, then judge the best and last checkpoints with the
//! paper's white-box table (natural, FGSM, PGD-20, CW-inf).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tensor::Device;

use anyhow::{Context, Result, bail};
use nn::ModelKind;
use tensor::{IndexTensor, Rng, Tensor};

use crate::attack::{AttackSpec, CW_KAPPA, default_eps};
use crate::cli::TrainArgs;
use crate::commands::{AccuracyTable, load_model};
use crate::data::{self, Dataset};
use crate::distributed::{self, Launch, Replicas};
use crate::eval::{EvalSettings, robust_accuracy};
use crate::train::config::TrainConfig;
use crate::train::mixing::{SemiSupervised, check_unlabeled};
use crate::train::{Outcome, TrainRun};

/// The attacks of the final table, as the paper's Table 2 lists them.
pub const FINAL_ATTACKS: &str = "natural,fgsm,pgd20,cw";
/// Images per batch of the final evaluation.
const FINAL_EVAL_BATCH: usize = 250;
/// Seed of the final evaluation's random starts (fixed, so best and last meet the same attacks).
pub const FINAL_EVAL_SEED: u64 = 2020;

/// What a `mart train` call produced.
#[derive(Debug)]
pub struct TrainReport {
    /// The run folder.
    pub out: PathBuf,
    /// Whether every epoch ran or the run was interrupted.
    pub outcome: Outcome,
    /// For a finished run: `("best (epoch k)" | "last (epoch n)", accuracies)`.
    pub robustness: Vec<(String, AccuracyTable)>,
    /// Test images of the final table, and of its AutoAttack column (a prefix; 0: none).
    pub final_images: (usize, usize),
    /// This process's rank in a data-parallel job (0 when it trains alone); only rank 0
    /// evaluates the final table and prints.
    pub rank: usize,
}

/// Runs `mart train` with `args`; `stop` (set by Ctrl-C) ends it after the current batch with a
/// resumable checkpoint. Started by `torchrun` or `srun` with a world of several processes, it
/// trains as one data-parallel replica on cuda:LOCAL_RANK (see `distributed`).
pub fn train(args: &TrainArgs, stop: Arc<AtomicBool>, progress: bool) -> Result<TrainReport> {
    let (config, out) = match &args.resume {
        Some(dir) => (None, dir.clone()),
        None => {
            let mut config = args.to_config().map_err(anyhow::Error::msg)?;
            if let Some(semi) = &mut config.semi_supervised {
                // Absolute paths, so that `--resume` finds the files from any folder.
                for (flag, path) in [
                    ("--unlabeled", &mut semi.images),
                    ("--pseudo-labels", &mut semi.pseudo_labels),
                ] {
                    *path = std::fs::canonicalize(&*path)
                        .with_context(|| format!("{flag} {}", path.display()))?;
                }
            }
            let out = match &args.out {
                Some(out) => out.clone(),
                None => free_run_folder(&config),
            };
            (Some(config), out)
        }
    };
    // Every rank names the run folder before the rendezvous, so they all find the same one.
    let launch = Launch::from_env()?;
    let device = match &launch {
        Some(launch) => launch.device(args.device, tensor::gpu::driver::device_count())?,
        None => args.device,
    };
    let place = RunPlace {
        out,
        data_dir: args.data_dir.clone(),
        device,
    };
    let Some(launch) = launch else {
        return train_config(config, &place, stop, progress);
    };
    super::open_device(device)?;
    let Device::Cuda(ordinal) = device else {
        unreachable!("Launch::device gives a CUDA device")
    };
    let replicas = distributed::connect(&launch, ordinal)?;
    if progress && launch.rank == 0 {
        eprintln!(
            "data-parallel: {} processes ({:?} launch), rank 0 on {device} writes the run folder",
            launch.world, launch.launcher
        );
    }
    let progress = progress && launch.rank == 0;
    train_replica(config, &place, stop, progress, Some(&replicas))
}

/// Where a run writes and what it reads and runs on.
#[derive(Clone, Debug)]
pub struct RunPlace {
    /// The run folder.
    pub out: PathBuf,
    /// Folder with the data set's files (`None`: the embedded sample's or the default).
    pub data_dir: Option<PathBuf>,
    /// Compute device.
    pub device: Device,
}

/// Trains `start` into `place.out`, or with `None` continues the run there with its saved
/// configuration, then writes the final table of a finished run: what `mart train` does once
/// its flags are read.
pub fn train_config(
    start: Option<TrainConfig>,
    place: &RunPlace,
    stop: Arc<AtomicBool>,
    progress: bool,
) -> Result<TrainReport> {
    train_replica(start, place, stop, progress, None)
}

/// As [`train_config`], as one replica of `replicas` when given.
fn train_replica(
    start: Option<TrainConfig>,
    place: &RunPlace,
    stop: Arc<AtomicBool>,
    progress: bool,
    replicas: Option<&Replicas>,
) -> Result<TrainReport> {
    let RunPlace {
        out,
        data_dir,
        device,
    } = place.clone();
    let resume = start.is_none();
    let config = match start {
        Some(config) => config,
        None => saved_config(&out)?,
    };
    let dataset = data::load(&config.dataset, data_dir.as_deref())?;
    check_model_fits(&config, &dataset)?;
    let unlabeled = match &config.semi_supervised {
        Some(semi) => Some(load_unlabeled(semi, &dataset)?),
        None => None,
    };
    super::open_device(device)?;
    if progress {
        let pseudo = match (&config.semi_supervised, &unlabeled) {
            (Some(semi), Some((_, labels))) => format!(
                " + {} pseudo-labelled, {} of each batch",
                labels.numel(),
                semi.fraction
            ),
            _ => String::new(),
        };
        eprintln!(
            "{} {}: {} on {} ({} training images{pseudo}), device {}, output {}",
            if resume { "resuming" } else { "training" },
            config.defense.name(),
            config.model,
            config.dataset,
            config
                .train_limit
                .unwrap_or(usize::MAX)
                .min(dataset.train.labels.numel()),
            device,
            out.display()
        );
    }
    let augment = data::augment_crop_flip;
    let run = TrainRun {
        out: out.clone(),
        train: (&dataset.train.images, &dataset.train.labels),
        test: (&dataset.test.images, &dataset.test.labels),
        augment: Some(&augment),
        stop,
        progress,
        stop_after_steps: None,
        device,
        unlabeled: unlabeled.as_ref().map(|(images, labels)| (images, labels)),
        replicas,
    };
    let outcome = run.run(config.clone(), resume)?;
    let rank = replicas.map_or(0, Replicas::rank);
    let robustness = match &outcome {
        Outcome::Finished { best } if rank == 0 => {
            final_table(&config, &dataset, &out, *best, progress, device)?
        }
        _ => Vec::new(),
    };
    let total = dataset.test.labels.numel();
    let final_images = config.final_eval_limit.unwrap_or(total).min(total);
    Ok(TrainReport {
        out,
        outcome,
        robustness,
        final_images: (final_images, config.autoattack_limit.min(final_images)),
        rank,
    })
}

/// The configuration a run folder was started with (`config.json`).
fn saved_config(dir: &Path) -> Result<TrainConfig> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} is not a run folder of `mart train` (cannot read {})",
            dir.display(),
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is corrupt", path.display()))
}

/// `runs/<defense>-<model>-<dataset>`, or the same name with `-2`, `-3`, ... when it already
/// holds a run, so a second default run never overwrites the first.
fn free_run_folder(config: &TrainConfig) -> PathBuf {
    let base = format!(
        "runs/{}-{}-{}",
        config.defense.name(),
        config.model,
        config.dataset
    );
    (1..)
        .map(|n| match n {
            1 => PathBuf::from(&base),
            n => PathBuf::from(format!("{base}-{n}")),
        })
        .find(|dir| !dir.join("metrics.jsonl").exists() && !dir.join("config.json").exists())
        .expect("an unused folder name exists")
}

/// The pseudo-labelled set of a semi-supervised run, checked against the training set.
fn load_unlabeled(semi: &SemiSupervised, dataset: &Dataset) -> Result<(Tensor<f32>, IndexTensor)> {
    let images = data::load_images(&semi.images)?;
    let labels = data::load_labels(&semi.pseudo_labels)?;
    check_unlabeled(&dataset.train.images, &images, &labels)
        .map_err(anyhow::Error::msg)
        .with_context(|| {
            format!(
                "--unlabeled {} with --pseudo-labels {}",
                semi.images.display(),
                semi.pseudo_labels.display()
            )
        })?;
    Ok((images, labels))
}

/// Refuses a model whose input shape is not the data set's (SmallCNN on CIFAR-10, say).
fn check_model_fits(config: &TrainConfig, dataset: &Dataset) -> Result<()> {
    let kind = ModelKind::from_name(&config.model).map_err(anyhow::Error::msg)?;
    let want = kind.input_shape();
    let have = &dataset.train.images.dims()[1..];
    if have != want {
        bail!(
            "{} takes {:?} images but {} has {:?}: use smallcnn for MNIST and a ResNet or WideResNet for CIFAR-10",
            config.model,
            want,
            config.dataset,
            have
        );
    }
    Ok(())
}

/// Natural, FGSM, PGD-20 and CW-inf accuracy of the best and last checkpoints on the test set
/// (or its first `final_eval_limit` images), and AutoAttack's on the first `autoattack_limit`.
fn final_table(
    config: &TrainConfig,
    dataset: &Dataset,
    out: &Path,
    best: Option<(f64, usize)>,
    progress: bool,
    device: Device,
) -> Result<Vec<(String, AccuracyTable)>> {
    let specs = AttackSpec::parse_list(FINAL_ATTACKS, CW_KAPPA).map_err(anyhow::Error::msg)?;
    let total = dataset.test.labels.numel();
    let limit = config.final_eval_limit.unwrap_or(total).min(total);
    let images = dataset.test.images.slice(0, 0, limit);
    let labels = dataset.test.labels.slice(0, 0, limit);
    let autoattack_images = config.autoattack_limit.min(limit);
    let last_epoch = config.epochs;
    let best_epoch = best.map_or(last_epoch, |(_, epoch)| epoch);
    let mut checkpoints = Vec::new();
    if best_epoch != last_epoch {
        checkpoints.push((
            format!("best (epoch {best_epoch})"),
            vec![("best", best_epoch)],
            out.join("best.safetensors"),
        ));
    }
    let (last_label, last_keys) = if best_epoch == last_epoch {
        (
            format!("best = last (epoch {last_epoch})"),
            vec![("best", last_epoch), ("last", last_epoch)],
        )
    } else {
        (
            format!("last (epoch {last_epoch})"),
            vec![("last", last_epoch)],
        )
    };
    checkpoints.push((last_label, last_keys, out.join("last.safetensors")));
    let mut rows = Vec::new();
    // robustness.json: {"best": {"epoch": 7, "natural": .., ..}, "last": {..}}
    let mut json = serde_json::Map::new();
    for (label, keys, path) in checkpoints {
        if progress {
            eprintln!("evaluating {label} on {limit} test images: {FINAL_ATTACKS}");
        }
        let model = load_model(&config.model, &path, device)?;
        let settings = EvalSettings {
            eps: default_eps(&config.dataset),
            batch: FINAL_EVAL_BATCH,
        };
        let mut table = robust_accuracy(
            &*model,
            (&images, &labels),
            &specs,
            settings,
            &mut Rng::new(FINAL_EVAL_SEED),
            |_, _| {},
        );
        if autoattack_images > 0 {
            if progress {
                eprintln!(
                    "evaluating {label} on the first {autoattack_images} test images: AutoAttack (standard)"
                );
            }
            table.extend(robust_accuracy(
                &*model,
                (
                    &images.slice(0, 0, autoattack_images),
                    &labels.slice(0, 0, autoattack_images),
                ),
                &[AttackSpec::AutoAttack],
                settings,
                &mut Rng::new(FINAL_EVAL_SEED),
                |_, _| {},
            ));
        }
        for (key, epoch) in keys {
            let mut entry = serde_json::Map::new();
            entry.insert("epoch".into(), serde_json::json!(epoch));
            entry.insert("test_images".into(), serde_json::json!(limit));
            if autoattack_images > 0 {
                entry.insert(
                    "autoattack_images".into(),
                    serde_json::json!(autoattack_images),
                );
            }
            for (name, acc) in &table {
                entry.insert(name.clone(), serde_json::json!(acc));
            }
            json.insert(key.into(), serde_json::Value::Object(entry));
        }
        rows.push((label, table));
    }
    crate::report::write_atomically(
        &out.join("robustness.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    Ok(rows)
}
