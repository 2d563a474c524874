//! `bench kernels`: times every kernel case of [`crate::cases`] on a device and, with `--torch`,
//! the same cases in PyTorch (`bench/torch_kernels.py`) on the same device, printed side by side.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use tensor::Device;

use crate::cases::{Case, kernel_cases};
use crate::torch::torch_missing;

/// The cases to time on `device`: with a filter, every case whose name contains it; without
/// one, every case on a CUDA device and all but the [large](Case::is_large) ones elsewhere. The
/// large cases never run on the simulator (an hour of interpretation each).
pub fn select_cases(filter: Option<&str>, device: Device) -> Vec<Case> {
    let on_cuda = matches!(device, Device::Cuda(_));
    kernel_cases()
        .into_iter()
        .filter(|c| !(c.is_large() && device == Device::Sim))
        .filter(|c| filter.map_or(on_cuda || !c.is_large(), |f| c.name().contains(f)))
        .collect()
}

/// Median seconds of one run of `case` on `device` (the run waits for the GPU): one warm-up,
/// then runs until about `budget_s` seconds have passed (at least 5 runs, at most 1000).
pub fn time_case(case: &Case, device: Device, budget_s: f64) -> Result<f64> {
    let mut run = case
        .prepare(device)
        .with_context(|| format!("{}: cannot prepare the inputs on {device}", case.name()))?;
    let failed = || format!("{} failed on {device}", case.name());
    run().with_context(failed)?;
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < 5 || started.elapsed().as_secs_f64() < budget_s {
        let t = Instant::now();
        run().with_context(failed)?;
        samples.push(t.elapsed().as_secs_f64());
        if samples.len() >= 1000 {
            break;
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// PyTorch's median seconds per case name on `device`, or why it could not run.
pub fn torch_times(
    cases: &[Case],
    threads: usize,
    device: Device,
) -> Result<Result<Vec<(String, f64)>, String>> {
    if let Some(why) = torch_missing(device) {
        return Ok(Err(why));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torch_kernels.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["--threads", &threads.to_string()])
        .args(["--device", &device.to_string()])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(filter: Option<&str>, device: Device) -> Vec<String> {
        select_cases(filter, device)
            .iter()
            .map(Case::name)
            .collect()
    }

    #[test]
    fn the_large_sgemm_runs_on_cuda_or_when_named() {
        let large = "sgemm/4096".to_string();
        assert!(!names(None, Device::Cpu).contains(&large));
        assert!(names(None, Device::Cuda(0)).contains(&large));
        assert_eq!(names(Some("4096"), Device::Cpu), [large]);
        assert_eq!(names(Some("sgemm"), Device::Sim).len(), 5);
        assert_eq!(names(Some("softmax"), Device::Sim), ["softmax/128x10"]);
    }
}
