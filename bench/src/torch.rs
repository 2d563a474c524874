//! Runs `bench/torch_mart_step.py` (the same MART step in PyTorch) and reads its figures.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use tensor::Device;

use crate::mart_step::StepSettings;

/// What the PyTorch side gave.
pub enum TorchResult {
    /// Median and min seconds per step, the process's peak RSS and, on a CUDA device, the
    /// peak of GPU memory allocated to tensors, in bytes.
    Measured {
        /// Median seconds per step.
        median: f64,
        /// Fastest step in seconds.
        min: f64,
        /// Peak resident memory of the Python process.
        peak_rss: Option<u64>,
        /// `torch.cuda.max_memory_allocated()` on a CUDA device; `None` on the CPU.
        gpu_peak: Option<u64>,
    },
    /// PyTorch cannot run this comparison here (no python3, no torch, no CUDA for torch, or
    /// the simulator): why.
    Missing(String),
}

/// The script, found beside this crate's manifest.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torch_mart_step.py")
}

/// Why PyTorch cannot run on `device` here (no python3, no torch, a torch that sees no CUDA
/// device, or the simulator, which PyTorch does not have), or `None` when it can.
pub fn torch_missing(device: Device) -> Option<String> {
    if device == Device::Sim {
        return Some("PyTorch has no simulator; ours ran alone".into());
    }
    match Command::new("python3")
        .args(["-c", "import torch"])
        .output()
    {
        Err(e) => return Some(format!("python3 not found: {e}")),
        Ok(out) if !out.status.success() => {
            return Some("torch is not installed: pip install torch".into());
        }
        Ok(_) => {}
    }
    let Device::Cuda(ordinal) = device else {
        return None;
    };
    let check = format!("import sys, torch; sys.exit(torch.cuda.device_count() <= {ordinal})");
    match Command::new("python3").args(["-c", &check]).output() {
        Ok(out) if out.status.success() => None,
        _ => Some(format!(
            "this torch build sees no CUDA device {ordinal} (a CPU-only build, or no driver)"
        )),
    }
}

/// Threads of the global rayon pool (RAYON_NUM_THREADS or the core count): PyTorch gets as many.
pub fn thread_count() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs the script with the same settings (device included) and `steps` timed steps.
pub fn run_torch_step(settings: &StepSettings, steps: usize) -> Result<TorchResult> {
    if let Some(why) = torch_missing(settings.device) {
        return Ok(TorchResult::Missing(why));
    }
    let (eps, alpha) = settings.eps_and_step();
    let threads = thread_count().to_string();
    let out = Command::new("python3")
        .arg(script())
        .args(["--model", &settings.model])
        .args(["--batch", &settings.batch.to_string()])
        .args(["--pgd-steps", &settings.pgd_steps.to_string()])
        .args(["--steps", &steps.to_string()])
        .args(["--eps", &eps.to_string(), "--alpha", &alpha.to_string()])
        .args(["--threads", &threads])
        .args(["--device", &settings.device.to_string()])
        .output()
        .context("cannot run bench/torch_mart_step.py")?;
    if !out.status.success() {
        bail!(
            "bench/torch_mart_step.py failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("bench/torch_mart_step.py printed no JSON result")?;
    let json: serde_json::Value = serde_json::from_str(line)?;
    let field = |name: &str| {
        json[name]
            .as_f64()
            .with_context(|| format!("no '{name}' in {line}"))
    };
    Ok(TorchResult::Measured {
        median: field("median_s")?,
        min: field("min_s")?,
        peak_rss: json["peak_rss_bytes"].as_u64(),
        gpu_peak: json["gpu_peak_bytes"].as_u64(),
    })
}
