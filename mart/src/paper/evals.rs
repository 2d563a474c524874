//! Evaluations beyond a run's own final table (AutoAttack, PGD-100, black-box transfer), each
//! cached as a JSON file in the run folder and recomputed only when its settings change.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tensor::Rng;

use crate::attack::{AttackSpec, CW_KAPPA, default_eps};
use crate::commands::{FINAL_EVAL_SEED, load_model};
use crate::eval::{EvalSettings, Models, attack_table};

use super::runs::{Finished, Session, Which};

/// Images per batch of the cached evaluations.
const EVAL_BATCH: usize = 250;

/// What an evaluation was asked for: when a cached file's request differs, it is recomputed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Request {
    /// `best` or `last`.
    checkpoint: String,
    /// The attacks, as `mart eval --attacks` names them.
    attacks: String,
    /// Test images (a prefix of the test split).
    images: usize,
    /// L-inf radius.
    eps: f32,
    /// Seed of the attacks' random streams.
    seed: u64,
    /// The surrogate run the attacks were crafted on and its checkpoint, for transfer.
    surrogate: Option<String>,
}

/// A cached evaluation file.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    request: Request,
    accuracy: BTreeMap<String, f64>,
    seconds: f64,
}

/// One evaluation: attacks on the first `images` test images of a run's checkpoint, crafted
/// on the checkpoint itself or on a surrogate's.
pub struct Evaluation<'a> {
    /// Cache key, part of the file name (`autoattack`, `pgd100`, `transfer`).
    pub key: &'static str,
    /// The run judged.
    pub run: &'a Finished,
    /// Its checkpoint judged.
    pub which: Which,
    /// The attacks, as `mart eval --attacks` names them.
    pub attacks: &'static str,
    /// Test images (`None`: all).
    pub images: Option<usize>,
    /// Black-box transfer: the surrogate run and the checkpoint the attacks are crafted on.
    pub surrogate: Option<(&'a Finished, Which)>,
}

impl Session {
    /// Accuracy in percent per attack of `evaluation`, from its cache file when that holds
    /// the same request, else computed and cached.
    pub fn evaluate(&self, evaluation: &Evaluation<'_>) -> Result<BTreeMap<String, f64>> {
        let run = evaluation.run;
        let dataset = self.dataset()?;
        let total = dataset.test.labels.numel();
        let images = evaluation.images.unwrap_or(total).min(total);
        let request = Request {
            checkpoint: evaluation.which.name().into(),
            attacks: evaluation.attacks.into(),
            images,
            eps: default_eps(&self.recipe.dataset),
            seed: FINAL_EVAL_SEED,
            surrogate: evaluation
                .surrogate
                .map(|(s, which)| format!("{}/{}", s.spec.name(), which.name())),
        };
        let path = run.dir.join(format!(
            "paper-eval-{}-{}.json",
            evaluation.key,
            evaluation.which.name()
        ));
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(cached) = serde_json::from_str::<Cached>(&text)
            && cached.request == request
        {
            return Ok(cached.accuracy);
        }
        if self.progress {
            eprintln!(
                "evaluating {} ({} checkpoint) on {images} test images: {}{}",
                run.spec.label,
                request.checkpoint,
                request.attacks,
                request
                    .surrogate
                    .as_ref()
                    .map_or(String::new(), |s| format!(", crafted on {s}"))
            );
        }
        let started = Instant::now();
        let specs =
            AttackSpec::parse_list(evaluation.attacks, CW_KAPPA).map_err(anyhow::Error::msg)?;
        let model = load_model(
            &run.spec.config.model,
            &run.checkpoint(evaluation.which),
            self.device,
        )?;
        let surrogate = match evaluation.surrogate {
            Some((s, which)) => Some(load_model(
                &s.spec.config.model,
                &s.checkpoint(which),
                self.device,
            )?),
            None => None,
        };
        let models = Models {
            judged: &*model,
            source: surrogate.as_deref().unwrap_or(&*model),
        };
        let rows = attack_table(
            models,
            (
                &dataset.test.images.slice(0, 0, images),
                &dataset.test.labels.slice(0, 0, images),
            ),
            &specs,
            EvalSettings {
                eps: request.eps,
                batch: EVAL_BATCH,
            },
            &mut Rng::new(FINAL_EVAL_SEED),
            |_, _| {},
        );
        let cached = Cached {
            request,
            accuracy: rows.into_iter().map(|r| (r.name, r.accuracy)).collect(),
            seconds: started.elapsed().as_secs_f64(),
        };
        std::fs::write(&path, serde_json::to_string_pretty(&cached)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.log.borrow_mut().evaluated.push(format!(
            "{}/{}-{}",
            run.spec.name(),
            evaluation.key,
            evaluation.which.name()
        ));
        Ok(cached.accuracy)
    }
}
