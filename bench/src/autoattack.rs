//! `bench autoattack`: our AutoAttack (standard version) on a checkpoint and the embedded MNIST
//! test digits, and with `--torch` the original (pyautoattack, through the script that made the
//! agreement fixture) on the same checkpoint, digits and thread count, in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mart::attack::{AutoAttackPart, default_eps, run_cascade};
use mart::commands::load_model;
use tensor::Device;

use crate::torch::{thread_count, torch_missing};

/// The script that produced `mart/tests/fixtures/autoattack/reference.json`.
pub fn reference_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mart/tests/fixtures/autoattack/make_fixture.py")
}

/// The checkpoint of the agreement fixture.
pub fn fixture_checkpoint() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mart/tests/fixtures/autoattack/smallcnn.safetensors")
}

/// What one side measured.
#[derive(Clone, Debug)]
pub struct AutoAttackRun {
    /// Wall-clock seconds of the cascade (clean pass included).
    pub seconds: f64,
    /// Robust accuracy in percent after the cascade.
    pub robust: f64,
    /// Robust accuracy after each attack.
    pub stages: Vec<(String, f64)>,
    /// Wall-clock seconds each attack took, in cascade order (the clean pass counted with the
    /// first).
    pub stage_seconds: Vec<f64>,
}

/// Seconds between consecutive stage ends, from `start`: `ends` holds each stage's end in
/// cascade order.
fn durations(start: Instant, ends: &[Instant]) -> Vec<f64> {
    let mut previous = start;
    ends.iter()
        .map(|&end| {
            let seconds = end.duration_since(previous).as_secs_f64();
            previous = end;
            seconds
        })
        .collect()
}

/// Runs our AutoAttack on the first `limit` embedded test digits with `checkpoint`
/// (a SmallCNN), seed `seed`.
pub fn ours(checkpoint: &Path, limit: usize, seed: u64, device: Device) -> Result<AutoAttackRun> {
    let dataset = mart::data::load("mnist-sample", None)?;
    let model = load_model("smallcnn", checkpoint, device)?;
    let n = limit.min(dataset.test.labels.numel());
    let images = dataset.test.images.slice(0, 0, n);
    let labels = dataset.test.labels.slice(0, 0, n);
    let eps = default_eps("mnist-sample");
    let attacks: Vec<_> = AutoAttackPart::STANDARD
        .iter()
        .map(|part| part.build(eps))
        .collect();
    let start = Instant::now();
    // The end of each stage: the time its last chunk finished (or the previous stage's end
    // when no point was left for it).
    let mut ends: Vec<(String, Instant)> = Vec::new();
    let outcome = run_cascade(
        &attacks,
        &*model,
        (&images, &labels),
        seed,
        |name, _| match ends.last_mut() {
            Some((last, end)) if last == name => *end = Instant::now(),
            _ => ends.push((name.to_string(), Instant::now())),
        },
    );
    let seconds = start.elapsed().as_secs_f64();
    let ends: Vec<Instant> = outcome
        .stages
        .iter()
        .scan(start, |previous, (name, _)| {
            let end = ends
                .iter()
                .find(|(stage, _)| stage == name)
                .map_or(*previous, |&(_, end)| end);
            *previous = end;
            Some(end)
        })
        .collect();
    Ok(AutoAttackRun {
        seconds,
        robust: outcome.accuracy(),
        stages: outcome.stages,
        stage_seconds: durations(start, &ends),
    })
}

/// Runs the original on the same inputs with as many threads as ours, or says why it cannot.
pub fn original(
    checkpoint: &Path,
    limit: usize,
    seed: u64,
) -> Result<Result<AutoAttackRun, String>> {
    if let Some(why) = torch_missing(Device::Cpu) {
        return Ok(Err(why));
    }
    let check = Command::new("python3")
        .args(["-c", "import pyautoattack"])
        .output()
        .context("cannot run python3")?;
    if !check.status.success() {
        return Ok(Err(
            "pyautoattack is not installed: pip install pyautoattack".into(),
        ));
    }
    let dir = tempfile::tempdir()?;
    let out_json = dir.path().join("original.json");
    let out = Command::new("python3")
        .arg(reference_script())
        .arg("--checkpoint")
        .arg(checkpoint)
        .args(["--limit", &limit.to_string(), "--seed", &seed.to_string()])
        .args(["--threads", &thread_count().to_string()])
        .arg("--out")
        .arg(&out_json)
        .output()
        .context("cannot run make_fixture.py")?;
    if !out.status.success() {
        bail!(
            "make_fixture.py failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_json)?)?;
    let number = |v: &serde_json::Value, what: &str| {
        v.as_f64()
            .with_context(|| format!("no '{what}' in the original's result"))
    };
    let stages = json["stages"]
        .as_object()
        .context("no 'stages' in the original's result")?
        .iter()
        .map(|(name, acc)| Ok((name.clone(), number(acc, name)?)))
        .collect::<Result<Vec<_>>>()?;
    let stage_seconds = match json["stage_seconds"].as_object() {
        Some(times) => times
            .values()
            .map(|t| number(t, "stage_seconds"))
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    Ok(Ok(AutoAttackRun {
        seconds: number(&json["seconds"], "seconds")?,
        robust: number(&json["robust_accuracy"], "robust_accuracy")?,
        stages,
        stage_seconds,
    }))
}
