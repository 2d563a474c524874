//! The epoch loop: train, evaluate, checkpoint, and stop cleanly on Ctrl-C or a NaN loss.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use tensor::Device;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use nn::checkpoint::{self, Extras};
use nn::optim::{Optimizer, Sgd, SgdConfig};
use nn::schedule::Schedule;
use nn::{ModelKind, Module};
use tensor::{IndexTensor, Rng, Tensor};

use crate::attack::AttackSpec;
use crate::defense::{Batch, Defense};
use crate::distributed::Replicas;
use crate::eval::{EvalSettings, robust_accuracy};
use crate::progress::image_bar;
use crate::report::{EpochMetrics, plot_accuracy, read_metrics, write_atomically, write_metrics};
use crate::train::config::{OptimizerKind, TrainConfig};
use crate::train::defenses::build_defense;
use crate::train::lock::lock_run_folder;
use crate::train::mixing::{Mixing, check_unlabeled, gather};
use crate::train::state::{EpochTotals, RunState};
use crate::train::step::batch_gradients;
pub use crate::train::streams::Split;
use crate::train::streams::{Stream, stream};

mod replicated;
mod resume;

/// A batch augmentation (random crop and flip), drawing from the given stream.
pub type Augment = dyn Fn(&Tensor<f32>, &mut Rng) -> Tensor<f32>;

/// Images per evaluation batch.
const EVAL_BATCH: usize = 250;

/// How a call to [`TrainRun::run`] ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Every epoch ran.
    Finished {
        /// Best PGD-20 accuracy and its epoch.
        best: Option<(f64, usize)>,
    },
    /// Ctrl-C: a resumable checkpoint was written.
    Interrupted {
        /// Where the run will continue.
        epoch: usize,
        /// The batch of that epoch it continues at.
        batch: usize,
    },
}

/// One training run writing into `out`.
pub struct TrainRun<'a> {
    /// Output folder: `best.safetensors`, `last.safetensors`, `resume.safetensors`,
    /// `metrics.jsonl`, `accuracy.svg`.
    pub out: PathBuf,
    /// Training split.
    pub train: Split<'a>,
    /// Test split (evaluated after each epoch, up to `eval_limit` images).
    pub test: Split<'a>,
    /// Random crop and flip, applied to each batch when the configuration asks for it.
    pub augment: Option<&'a Augment>,
    /// Set (e.g. by Ctrl-C) to stop after the current batch with a resumable checkpoint.
    pub stop: Arc<AtomicBool>,
    /// Show progress bars.
    pub progress: bool,
    /// Stop after this many batches in total (tests of resume); `None` to run to the end.
    pub stop_after_steps: Option<u64>,
    /// Where the model and every batch live.
    pub device: Device,
    /// Pseudo-labelled images and their labels, mixed into every batch as
    /// `config.semi_supervised` says; `None` for a supervised run.
    pub unlabeled: Option<Split<'a>>,
    /// This process's data-parallel group (`None`: it trains alone), see `distributed`.
    pub replicas: Option<&'a Replicas>,
}

/// The model, optimiser and defense of a run, built from its configuration.
struct Parts {
    model: Box<dyn Module<f32>>,
    optimizer: Box<dyn Optimizer<f32>>,
    defense: Box<dyn Defense>,
    schedule: Schedule,
}

fn build_parts(config: &TrainConfig, train_size: usize, device: Device) -> Result<Parts> {
    if let Some(subset) = &config.subset {
        subset
            .check(config.defense, train_size)
            .map_err(anyhow::Error::msg)?;
    }
    let kind = ModelKind::from_name(&config.model).map_err(anyhow::Error::msg)?;
    let mut model = kind.build_init::<f32>(config.init, &mut stream(config.seed, Stream::Init, 0));
    model
        .to_device(device)
        .with_context(|| format!("cannot move the model to {device}"))?;
    let optimizer: Box<dyn Optimizer<f32>> = match config.optimizer {
        OptimizerKind::Sgd => Box::new(Sgd::new(SgdConfig {
            momentum: config.momentum,
            weight_decay: config.weight_decay,
            ..SgdConfig::new(config.lr)
        })?),
        OptimizerKind::Adam => Box::new(nn::optim::Adam::new(nn::optim::AdamConfig {
            weight_decay: config.weight_decay,
            ..nn::optim::AdamConfig::new(config.lr)
        })?),
    };
    let schedule = Schedule::parse(&config.schedule, config.lr, config.epochs)?;
    Ok(Parts {
        model,
        optimizer,
        defense: build_defense(config, train_size),
        schedule,
    })
}

impl TrainRun<'_> {
    /// Trains from scratch with `config`, or continues the run in `out` when `resume` is set.
    pub fn run(&self, config: TrainConfig, resume: bool) -> Result<Outcome> {
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot create the output folder {}", self.out.display()))?;
        let train_size = self
            .train
            .1
            .numel()
            .min(config.train_limit.unwrap_or(usize::MAX));
        let _lock = self
            .leads()
            .then(|| lock_run_folder(&self.out))
            .transpose()?;
        let (mut parts, mut state) = if resume {
            let (parts, mut state) = self.load_resume()?;
            if state.history.len() < state.epoch {
                // A folder of an older version: its history is only in metrics.jsonl.
                state.history = read_metrics(&self.out)?;
                state.history.truncate(state.epoch);
            }
            // Repairs a metrics.jsonl that a kill left a step behind the checkpoint.
            if self.leads() {
                write_metrics(&self.out, &state.history)?;
            }
            (parts, state)
        } else {
            let metrics = self.out.join("metrics.jsonl");
            if metrics.exists() {
                bail!(
                    "{} already holds a run (metrics.jsonl exists): continue it with --resume {}, or choose another --out",
                    self.out.display(),
                    self.out.display()
                );
            }
            if self.leads() {
                write_atomically(
                    &self.out.join("config.json"),
                    serde_json::to_string_pretty(&config)?.as_bytes(),
                )?;
            }
            (
                build_parts(&config, self.indexed(train_size), self.device)?,
                RunState::start(config),
            )
        };
        self.start_replicas(&mut parts)?;
        let config = state.config.clone();
        let mixing = self.mixing(&config, train_size)?;
        let batches = train_size.div_ceil(config.batch_size);
        while state.epoch < config.epochs {
            let epoch = state.epoch;
            parts.optimizer.set_lr(parts.schedule.lr_at(epoch + 1));
            parts.defense.begin_epoch(epoch);
            let plan = match &mixing {
                Some(mixing) => mixing.epoch_rows(epoch),
                None => {
                    // The first `train_size` examples, shuffled afresh each epoch.
                    let mut order: Vec<usize> = (0..train_size).collect();
                    stream(config.seed, Stream::Order, epoch as u64).shuffle(&mut order);
                    order
                        .chunks(config.batch_size)
                        .map(<[usize]>::to_vec)
                        .collect()
                }
            };
            let bar = self.bar(
                plan.iter().map(Vec::len).sum(),
                plan[..state.batch].iter().map(Vec::len).sum(),
                &format!("epoch {}/{}", epoch + 1, config.epochs),
            );
            while state.batch < batches {
                let rows = &plan[state.batch];
                let eps = config.eps_at_batch(epoch, state.batch, batches);
                parts.defense.set_radius_fraction(eps / config.eps);
                let loss = self.train_step(&mut parts, &config, rows, &mut state)?;
                bar.inc(rows.len() as u64);
                let t = &state.partial;
                bar.set_message(format!(
                    "epoch {}/{} loss {:.4} acc {:.1}%",
                    epoch + 1,
                    config.epochs,
                    loss,
                    100.0 * t.correct as f64 / t.seen.max(1) as f64
                ));
                let stop_now =
                    self.stop_requested() || self.stop_after_steps.is_some_and(|n| state.step >= n);
                if stop_now && state.batch != batches {
                    bar.abandon();
                    self.agree(&mut parts)?;
                    self.save_resume(&parts, &state)?;
                    return Ok(Outcome::Interrupted {
                        epoch: state.epoch,
                        batch: state.batch,
                    });
                }
            }
            bar.finish_and_clear();
            self.end_epoch(&mut parts, &mut state)?;
            let stop_now =
                self.stop_requested() || self.stop_after_steps.is_some_and(|n| state.step >= n);
            if stop_now && state.epoch < config.epochs {
                return Ok(Outcome::Interrupted {
                    epoch: state.epoch,
                    batch: 0,
                });
            }
        }
        Ok(Outcome::Finished { best: state.best })
    }

    /// One optimiser step on the training rows `rows`; returns the batch loss.
    fn train_step(
        &self,
        parts: &mut Parts,
        config: &TrainConfig,
        rows: &[usize],
        state: &mut RunState,
    ) -> Result<f64> {
        let started = Instant::now();
        let step = state.step;
        let labelled = self
            .train
            .1
            .numel()
            .min(config.train_limit.unwrap_or(usize::MAX));
        let (images, labels) = self.rows(rows, labelled);
        let images = match (config.augment, self.augment) {
            (true, Some(augment)) => {
                augment(&images, &mut stream(config.seed, Stream::Augment, step))
            }
            _ => images,
        };
        // This replica's share of the batch (all of it for a process training alone).
        let (images, labels, mine) = self.my_share(parts, images, labels, rows)?;
        let on_device = |e| anyhow::anyhow!("cannot move a batch to {}: {e}", self.device);
        let images = images.to_device(self.device).map_err(on_device)?;
        let labels = labels.to_device(self.device).map_err(on_device)?;
        // The tape and everything recorded on it live only inside this block.
        let at = self.position(step);
        let local = batch_gradients(
            &*parts.model,
            &mut *parts.defense,
            &Batch {
                images: &images,
                labels: &labels,
                indices: mine,
            },
            (
                stream(config.seed, Stream::Dropout, at),
                &mut stream(config.seed, Stream::Attack, at),
            ),
        );
        let (loss, step_result) = self.reduce(parts, local, (mine.len(), rows.len()))?;
        let Some((grads, correct)) = step_result else {
            self.agree(parts)?;
            self.save_resume(parts, state)?;
            bail!(
                "the training loss became {loss} at epoch {}, batch {}: the model and optimiser before this step \
                 are saved in {} (and the finished epochs' checkpoints are kept); the step is deterministic, so \
                 start a new run with a lower --lr or a smaller --eps rather than resuming this one",
                state.epoch + 1,
                state.batch + 1,
                self.out.join("resume.safetensors").display(),
            );
        };
        parts.optimizer.step(&mut *parts.model, &grads);
        state.step += 1;
        state.batch += 1;
        let t = &mut state.partial;
        t.loss += loss * rows.len() as f64;
        t.correct += correct;
        t.seen += rows.len();
        t.seconds += started.elapsed().as_secs_f64();
        Ok(loss)
    }

    /// Evaluates natural and PGD-20 accuracy, writes metrics and checkpoints, and moves the
    /// state to the next epoch.
    fn end_epoch(&self, parts: &mut Parts, state: &mut RunState) -> Result<()> {
        let config = state.config.clone();
        let limit = config
            .eval_limit
            .unwrap_or(usize::MAX)
            .min(self.test.1.numel());
        self.agree(parts)?;
        // Each replica evaluates its share of the images.
        let share = self.share(limit);
        let images = self.test.0.slice(0, share.start, share.end);
        let labels = self.test.1.slice(0, share.start, share.end);
        let specs = [AttackSpec::Natural, AttackSpec::Pgd { steps: 20 }];
        let eps = crate::attack::default_eps(&config.dataset);
        let bar = self.bar(2 * share.len(), 0, "evaluating natural, PGD-20");
        let table = robust_accuracy(
            &*parts.model,
            (&images, &labels),
            &specs,
            EvalSettings {
                eps,
                batch: EVAL_BATCH,
            },
            &mut stream(config.seed, Stream::Eval, self.position(state.epoch as u64)),
            |_, n| bar.inc(n as u64),
        );
        bar.finish_and_clear();
        let table = self.reduce_table(table, share.len(), limit)?;
        let t = state.partial;
        let metrics = EpochMetrics {
            epoch: state.epoch + 1,
            lr: parts.optimizer.lr(),
            eps: config.eps_at(state.epoch),
            train_loss: t.loss / t.seen.max(1) as f64,
            train_accuracy: 100.0 * t.correct as f64 / t.seen.max(1) as f64,
            natural: table[0].1,
            pgd20: table[1].1,
            train_seconds: t.seconds,
            images_per_second: t.seen as f64 / t.seconds.max(1e-9),
        };
        // Checkpoints, metrics and logs come from rank 0 alone.
        let leads = self.leads();
        if leads {
            checkpoint::save(
                self.out.join("last.safetensors"),
                &*parts.model,
                &Extras::default(),
            )?;
        }
        if state.best.is_none_or(|(best, _)| metrics.pgd20 > best) {
            state.best = Some((metrics.pgd20, metrics.epoch));
        }
        if leads && state.best == Some((metrics.pgd20, metrics.epoch)) {
            checkpoint::save(
                self.out.join("best.safetensors"),
                &*parts.model,
                &Extras::default(),
            )?;
        }
        state.epoch += 1;
        state.batch = 0;
        state.partial = EpochTotals::default();
        state.history.push(metrics.clone());
        self.save_resume(parts, state)?;
        if !leads {
            return Ok(());
        }
        write_metrics(&self.out, &state.history)?;
        plot_accuracy(
            &self.out.join("accuracy.svg"),
            &state.history,
            &format!(
                "{} / {} on {} (eps {})",
                config.defense.name(),
                config.model,
                config.dataset,
                eps
            ),
        )?;
        if self.progress {
            eprintln!(
                "epoch {:>3}  loss {:.4}  train acc {:5.1}%  natural {:5.1}%  PGD-20 {:5.1}%  {:.0} img/s",
                metrics.epoch,
                metrics.train_loss,
                metrics.train_accuracy,
                metrics.natural,
                metrics.pgd20,
                metrics.images_per_second
            );
        }
        Ok(())
    }

    /// The semi-supervised batch plan of `config` over the first `labelled` training examples
    /// and the pseudo-labelled set, or `None` for a supervised run.
    fn mixing(&self, config: &TrainConfig, labelled: usize) -> Result<Option<Mixing>> {
        match (&config.semi_supervised, self.unlabeled) {
            (None, None) => Ok(None),
            (Some(semi), Some((images, labels))) => {
                check_unlabeled(self.train.0, images, labels).map_err(anyhow::Error::msg)?;
                let mixing = Mixing::new(
                    semi,
                    labelled,
                    labels.numel(),
                    config.batch_size,
                    config.seed,
                );
                Ok(Some(mixing.map_err(anyhow::Error::msg)?))
            }
            (Some(_), None) => bail!("this run is semi-supervised but no unlabeled set was given"),
            (None, Some(_)) => bail!("an unlabeled set was given to a supervised run"),
        }
    }

    /// Examples a defense may see by index: the first `labelled` training examples, then the
    /// pseudo-labelled ones.
    fn indexed(&self, labelled: usize) -> usize {
        labelled + self.unlabeled.map_or(0, |(_, labels)| labels.numel())
    }

    /// Images and labels of `rows`, in their order; rows from `labelled` on are pseudo-labelled
    /// examples.
    fn rows(&self, rows: &[usize], labelled: usize) -> (Tensor<f32>, IndexTensor) {
        match self.unlabeled {
            None => (
                self.train.0.select_rows(rows),
                self.train.1.select_rows(rows),
            ),
            Some(unlabeled) => gather(self.train, unlabeled, rows, labelled),
        }
    }

    /// A progress bar over `len` images (hidden when progress is off).
    fn bar(&self, len: usize, done: usize, message: &str) -> ProgressBar {
        let bar = image_bar(len, self.progress);
        bar.set_position(done as u64);
        bar.set_message(message.to_string());
        bar
    }
}
