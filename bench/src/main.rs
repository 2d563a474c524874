//! `cargo run -p bench --release -- mart-step --model smallcnn --batch 128 [--torch]`: times a
//! MART training step here and, with `--torch`, the same step in PyTorch in the same run.
//! `... -- kernels [--torch] [--filter conv]` does the same for each kernel case.

use std::process::ExitCode;

use bench::cases::kernel_cases;
use bench::kernels::{time_case, torch_times};
use bench::mart_step::{PhaseTimes, StepBench, StepSettings, peak_rss_bytes};
use bench::torch::{TorchResult, run_torch_step, thread_count};
use clap::{Parser, Subcommand};

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
        /// Compute device (the CUDA backend is not built yet: cpu only).
        #[arg(long, default_value = "cpu", value_parser = ["cpu"])]
        device: String,
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
    },
}

fn main() -> ExitCode {
    tensor::allocator::keep_freed_memory();
    let result = match Cli::parse().command {
        Command::MartStep {
            model,
            batch,
            pgd_steps,
            steps,
            device: _,
            torch,
        } => {
            let settings = StepSettings {
                model,
                batch,
                pgd_steps,
            };
            run(settings, steps.max(5), torch)
        }
        Command::Kernels { filter, torch } => kernels(filter.as_deref(), torch),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(settings: StepSettings, steps: usize, torch: bool) -> anyhow::Result<()> {
    println!(
        "MART step: {} batch {}, PGD-{}, {} threads",
        settings.model,
        settings.batch,
        settings.pgd_steps,
        thread_count()
    );
    let mut bench = StepBench::new(settings.clone())?;
    bench.step();
    let mut times: Vec<PhaseTimes> = (0..steps).map(|_| bench.step()).collect();
    times.sort_by(|a, b| a.total().total_cmp(&b.total()));
    let median = times[times.len() / 2];
    let min = times[0].total();
    println!(
        "ours:    {}",
        summary(median.total(), min, settings.flops(), peak_rss_bytes())
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
            } => {
                println!("PyTorch: {}", summary(t, tmin, settings.flops(), peak_rss));
                println!("ratio ours/PyTorch (median): {:.2}", median.total() / t);
            }
        }
    }
    Ok(())
}

/// `median 0.512 s  min 0.498 s  129.3 GFLOP/s  peak RSS 812 MB`.
fn summary(median: f64, min: f64, flops: f64, peak_rss: Option<u64>) -> String {
    let rss = peak_rss.map_or("unknown".to_string(), |b| format!("{} MB", b / 1_000_000));
    format!(
        "median {}  min {}  {:.1} GFLOP/s  peak RSS {rss}",
        seconds(median),
        seconds(min),
        flops / median / 1e9
    )
}

/// Times the kernel cases (and PyTorch's, with `torch`) and prints one row per case.
fn kernels(filter: Option<&str>, torch: bool) -> anyhow::Result<()> {
    let cases: Vec<_> = kernel_cases()
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.name().contains(f)))
        .collect();
    let theirs = if torch {
        match torch_times(&cases, thread_count())? {
            Ok(times) => Some(times),
            Err(why) => {
                println!("PyTorch: not run ({why})");
                None
            }
        }
    } else {
        None
    };
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "case", "ours", "rate", "PyTorch", "rate", "ratio"
    );
    for case in &cases {
        let ours = time_case(case, 0.3);
        let work = case.work();
        let mut line = format!(
            "{:<40} {:>10} {:>6.1} {:<3}",
            case.name(),
            seconds(ours),
            work.rate(ours),
            unit_short(work.unit())
        );
        let torch_time = theirs
            .as_ref()
            .and_then(|t| t.iter().find(|(n, _)| *n == case.name()).map(|(_, s)| *s));
        if let Some(t) = torch_time {
            line.push_str(&format!(
                " {:>10} {:>6.1} {:<3} {:>7.2}",
                seconds(t),
                work.rate(t),
                unit_short(work.unit()),
                ours / t
            ));
        }
        println!("{line}");
    }
    Ok(())
}

/// `GF/s` or `GB/s`, to keep the table narrow.
fn unit_short(unit: &str) -> &'static str {
    if unit.starts_with("GFLOP") {
        "GF/s"
    } else {
        "GB/s"
    }
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
