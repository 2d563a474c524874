//! `cargo run -p bench --release -- mart-step --model smallcnn --batch 128 [--device cuda]
//! [--torch]`: times a MART training step here and, with `--torch`, the same step in PyTorch on
//! the same device in the same run. `... -- kernels [--torch] [--filter conv] [--device cuda]`
//! does the same for each kernel case. `... -- autoattack [--limit 1000] [--torch]` times our
//! AutoAttack and, with `--torch`, the original (pyautoattack) on the same checkpoint and digits.

use std::process::ExitCode;

use anyhow::{Context, bail};
use bench::autoattack::{AutoAttackRun, fixture_checkpoint, original, ours};
use bench::kernels::{select_cases, time_case, torch_times};
use bench::mart_step::{PhaseTimes, StepBench, StepSettings, peak_rss_bytes};
use bench::torch::{TorchResult, run_torch_step, thread_count};
use clap::{Parser, Subcommand};
use tensor::Device;

/// Benchmarks side by side with PyTorch.
#[derive(Parser)]
#[command(name = "bench", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time one MART training step (attack, two forwards, MART loss, backward, SGD).
    MartStep {
        /// smallcnn or resnet18.
        #[arg(long, default_value = "smallcnn", value_parser = ["smallcnn", "resnet18"])]
        model: String,
        /// Images per batch.
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Steps of the training attack.
        #[arg(long, default_value_t = 10)]
        pgd_steps: usize,
        /// Timed steps after one warm-up step (at least 5).
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// cpu, cuda, cuda:N, sim (the PTX simulator: slow, tiny batches only) or auto.
        #[arg(long, default_value = "cpu", value_parser = Device::parse)]
        device: Device,
        /// Also run bench/torch_mart_step.py and print the ratio ours/PyTorch.
        #[arg(long)]
        torch: bool,
    },
    /// Time every kernel case (sgemm, conv passes, add, relu, softmax, memcpy).
    Kernels {
        /// Only the cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Also time the cases in PyTorch (bench/torch_kernels.py) and print the ratio.
        #[arg(long)]
        torch: bool,
        /// cpu, cuda, cuda:N, sim (the PTX simulator: needs --filter, tiny cases only) or auto.
        #[arg(long, default_value = "cpu", value_parser = Device::parse)]
        device: Device,
    },
    /// Time AutoAttack (standard, eps 0.3) on the first --limit embedded MNIST test digits.
    Autoattack {
        /// A SmallCNN checkpoint (default: the agreement fixture's).
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
        /// Test digits attacked.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Seed of both sides.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// cpu, cuda, cuda:N or sim (ours only; the original runs on the CPU).
        #[arg(long, default_value = "cpu", value_parser = Device::parse)]
        device: Device,
        /// Also run the original (pyautoattack) and print the ratio ours/original.
        #[arg(long)]
        torch: bool,
    },
}

/// Large tensors on transparent huge pages (see [`tensor::allocator`]).
#[global_allocator]
static ALLOCATOR: tensor::allocator::HugePages = tensor::allocator::HugePages;

fn main() -> ExitCode {
    tensor::allocator::keep_freed_memory();
    let result = match Cli::parse().command {
        Command::MartStep {
            model,
            batch,
            pgd_steps,
            steps,
            device,
            torch,
        } => {
            let settings = StepSettings {
                model,
                batch,
                pgd_steps,
                device,
            };
            run(settings, steps.max(5), torch)
        }
        Command::Kernels {
            filter,
            torch,
            device,
        } => kernels(filter.as_deref(), torch, device),
        Command::Autoattack {
            checkpoint,
            limit,
            seed,
            device,
            torch,
        } => autoattack(
            &checkpoint.unwrap_or_else(fixture_checkpoint),
            limit,
            seed,
            device,
            torch,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn autoattack(
    checkpoint: &std::path::Path,
    limit: usize,
    seed: u64,
    device: Device,
    torch: bool,
) -> anyhow::Result<()> {
    println!(
        "AutoAttack (standard, L-inf, eps 0.3) on {limit} MNIST digits, {}, device {device}, {} threads",
        checkpoint.display(),
        thread_count()
    );
    let describe = |run: &AutoAttackRun| {
        let stages: Vec<String> = run
            .stages
            .iter()
            .enumerate()
            .map(|(i, (name, acc))| match run.stage_seconds.get(i) {
                Some(t) => format!("{name} {acc:.2} in {t:.1} s"),
                None => format!("{name} {acc:.2}"),
            })
            .collect();
        format!(
            "{} robust {:.2}% ({})",
            seconds(run.seconds),
            run.robust,
            stages.join(" -> ")
        )
    };
    let ours = ours(checkpoint, limit, seed, device)?;
    println!("ours:     {}", describe(&ours));
    if !torch {
        return Ok(());
    }
    match original(checkpoint, limit, seed)? {
        Err(why) => println!("original: not run ({why})"),
        Ok(theirs) => {
            println!("original: {}", describe(&theirs));
            println!(
                "ratio ours/original: {:.2} (time); robust accuracy differs by {:+.2} points",
                ours.seconds / theirs.seconds,
                ours.robust - theirs.robust
            );
        }
    }
    Ok(())
}

fn run(settings: StepSettings, steps: usize, torch: bool) -> anyhow::Result<()> {
    let device = settings.device;
    println!(
        "MART step: {} batch {}, PGD-{}, device {device}, {} threads",
        settings.model,
        settings.batch,
        settings.pgd_steps,
        thread_count()
    );
    if device == Device::Sim {
        println!("  {SIM_NOTE}");
    }
    let mut bench = StepBench::new(settings.clone())?;
    bench.step()?;
    let mut times = (0..steps)
        .map(|_| bench.step())
        .collect::<anyhow::Result<Vec<PhaseTimes>>>()?;
    times.sort_by(|a, b| a.total().total_cmp(&b.total()));
    let median = times[times.len() / 2];
    let min = times[0].total();
    let gpu_peak = device.gpu()?.map(|gpu| gpu.peak_bytes_in_use() as u64);
    let ours_memory = memory(peak_rss_bytes(), device, gpu_peak);
    println!(
        "ours:    {}",
        summary(median.total(), min, settings.flops(), &ours_memory)
    );
    println!(
        "  breakdown (median step): attack forward {}, attack backward {}, train forward {}, train backward {}, optimiser {}",
        ms(median.attack_forward),
        ms(median.attack_backward),
        ms(median.train_forward),
        ms(median.train_backward),
        ms(median.optimizer)
    );
    if torch {
        match run_torch_step(&settings, steps)? {
            TorchResult::Missing(why) => println!("PyTorch: not run ({why})"),
            TorchResult::Measured {
                median: t,
                min: tmin,
                peak_rss,
                gpu_peak,
            } => {
                let theirs = memory(peak_rss, device, gpu_peak);
                println!("PyTorch: {}", summary(t, tmin, settings.flops(), &theirs));
                println!("ratio ours/PyTorch (median): {:.2}", median.total() / t);
            }
        }
    }
    Ok(())
}

/// Printed whenever the device is the simulator.
const SIM_NOTE: &str =
    "sim interprets our PTX kernels on the CPU, one thread at a time: its times are not GPU times";

/// `median 0.512 s  min 0.498 s  129.3 GFLOP/s  peak RSS 812 MB`, with [`memory`]'s text.
fn summary(median: f64, min: f64, flops: f64, memory: &str) -> String {
    format!(
        "median {}  min {}  {:.1} GFLOP/s  {memory}",
        seconds(median),
        seconds(min),
        flops / median / 1e9
    )
}

/// `peak RSS 812 MB` (host memory) and, on a GPU device, the device side: `GPU memory 1234 MB
/// (max allocated)` (ours: `Gpu::peak_bytes_in_use`; PyTorch's: `torch.cuda.max_memory_allocated`),
/// or `GPU memory: not measured` when the PyTorch script did not report it.
fn memory(peak_rss: Option<u64>, device: Device, gpu_peak: Option<u64>) -> String {
    let rss = peak_rss.map_or("unknown".to_string(), |b| format!("{} MB", b / 1_000_000));
    let gpu = match gpu_peak {
        _ if !device.is_gpu() => String::new(),
        Some(bytes) => format!("  GPU memory {} MB (max allocated)", bytes / 1_000_000),
        None => "  GPU memory: not measured".to_string(),
    };
    format!("peak RSS {rss}{gpu}")
}

/// Times the kernel cases on `device` (and PyTorch's, with `torch`) and prints one row per case.
/// On the simulator a filter is required: the full list would take hours to interpret.
fn kernels(filter: Option<&str>, torch: bool, device: Device) -> anyhow::Result<()> {
    if device == Device::Sim {
        println!("{SIM_NOTE}");
        if filter.is_none() {
            bail!(
                "on sim, pick a few tiny cases with --filter (e.g. --filter softmax): the full list would take hours"
            );
        }
    }
    device
        .gpu()
        .with_context(|| format!("cannot use --device {device}"))?;
    let cases = select_cases(filter, device);
    let theirs = if torch {
        match torch_times(&cases, thread_count(), device)? {
            Ok(times) => Some(times),
            Err(why) => {
                println!("PyTorch: not run ({why})");
                None
            }
        }
    } else {
        None
    };
    println!("kernel cases on {device}, {} threads", thread_count());
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "case", "ours", "rate", "PyTorch", "rate", "ratio"
    );
    for case in &cases {
        let ours = time_case(case, device, 0.3)?;
        let work = case.work();
        let mut line = format!(
            "{:<40} {:>10} {}",
            case.name(),
            seconds(ours),
            work.rate_text(ours)
        );
        let torch_time = theirs
            .as_ref()
            .and_then(|t| t.iter().find(|(n, _)| *n == case.name()).map(|(_, s)| *s));
        if let Some(t) = torch_time {
            line.push_str(&format!(
                " {:>10} {} {:>7.2}",
                seconds(t),
                work.rate_text(t),
                ours / t
            ));
        }
        println!("{line}");
    }
    Ok(())
}

/// `0.512 s`, or `51.2 ms` under a second.
fn seconds(s: f64) -> String {
    if s >= 1.0 { format!("{s:.3} s") } else { ms(s) }
}

/// Milliseconds, or microseconds below one.
fn ms(s: f64) -> String {
    if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.1} us", s * 1e6)
    }
}
