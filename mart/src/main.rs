//! `mart`: parses the command line, wires Ctrl-C, and prints; the work is in `mart::commands`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clap::Parser;
use mart::cli::{Cli, Command, TrainArgs};
use mart::commands::{self, AccuracyTable};
use mart::train::Outcome;

fn main() -> ExitCode {
    tensor::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        None => train(&TrainArgs::default()),
        Some(Command::Train(args)) => train(&args),
        Some(Command::Eval(args)) => commands::evaluate(&args, true).map(|table| {
            if args.json {
                let object: serde_json::Map<String, serde_json::Value> = table
                    .iter()
                    .map(|(name, acc)| (name.clone(), serde_json::json!(acc)))
                    .collect();
                println!("{}", serde_json::Value::Object(object));
            } else {
                print_table(&[("accuracy %".to_string(), table)]);
            }
            ExitCode::SUCCESS
        }),
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {}", explain(&error));
        ExitCode::FAILURE
    })
}

/// The error and its causes, each cause added only where the message does not already quote it.
fn explain(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}

/// Trains with Ctrl-C wired to a clean, resumable stop, then prints the robustness table.
fn train(args: &TrainArgs) -> Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting now");
            std::process::exit(130);
        }
        eprintln!(
            "\nCtrl-C: stopping after this batch with a resumable checkpoint (Ctrl-C again to quit now)"
        );
    })?;
    let report = commands::train(args, stop, true)?;
    match report.outcome {
        Outcome::Interrupted { epoch, batch } => {
            eprintln!(
                "stopped at epoch {}, batch {}; continue with: mart train --resume {}",
                epoch + 1,
                batch + 1,
                report.out.display()
            );
            Ok(ExitCode::from(130))
        }
        Outcome::Finished { .. } => {
            print_table(&report.robustness);
            println!(
                "run folder: {} (best.safetensors, last.safetensors, metrics.jsonl, accuracy.svg, robustness.json)",
                report.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints rows of accuracies under the attacks' display names.
fn print_table(rows: &[(String, AccuracyTable)]) {
    let Some((_, first)) = rows.first() else {
        return;
    };
    let width = rows
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut header = format!("{:width$}", "");
    for (name, _) in first {
        header.push_str(&format!(" {:>8}", display_name(name)));
    }
    println!("{header}");
    for (label, table) in rows {
        let mut line = format!("{label:width$}");
        for (_, acc) in table {
            line.push_str(&format!(" {acc:>8.2}"));
        }
        println!("{line}");
    }
}

/// `pgd20` -> `PGD-20`, `cw` -> `CW-inf`, as the paper's tables write them.
fn display_name(name: &str) -> String {
    match name {
        "natural" => "natural".into(),
        "fgsm" => "FGSM".into(),
        "cw" => "CW-inf".into(),
        other => match other.strip_prefix("pgd") {
            Some(steps) => format!("PGD-{steps}"),
            None => other.into(),
        },
    }
}
