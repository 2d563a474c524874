//! `bench kernels`: times every kernel case of [`crate::cases`] and, with `--torch`, the same
//! cases in PyTorch (`bench/torch_kernels.py`), printed side by side.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cases::Case;
use crate::torch::torch_missing;

/// Median seconds of one run of `case`: one warm-up, then batches of runs until about
/// `budget_s` seconds have passed (at least 5 runs).
pub fn time_case(case: &Case, budget_s: f64) -> f64 {
    let mut run = case.prepare();
    run();
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < 5 || started.elapsed().as_secs_f64() < budget_s {
        let t = Instant::now();
        run();
        samples.push(t.elapsed().as_secs_f64());
        if samples.len() >= 1000 {
            break;
        }
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// PyTorch's median seconds per case name, or why it could not run.
pub fn torch_times(cases: &[Case], threads: usize) -> Result<Result<Vec<(String, f64)>, String>> {
    if let Some(why) = torch_missing() {
        return Ok(Err(why));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torch_kernels.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["--threads", &threads.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", script.display()))?;
    let input = serde_json::Value::Array(cases.iter().map(Case::to_json).collect());
    child
        .stdin
        .take()
        .context("no stdin for the PyTorch script")?
        .write_all(input.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let results: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{} printed no JSON", script.display()))?;
    let map = results
        .as_object()
        .context("the PyTorch script's result is not a JSON object")?;
    Ok(Ok(map
        .iter()
        .filter_map(|(name, s)| Some((name.clone(), s.as_f64()?)))
        .collect()))
}
