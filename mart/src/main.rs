//! `mart`: parses the command line, wires Ctrl-C, and prints; the work is in `mart::commands`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clap::Parser;
use mart::audit::Verdict;
use mart::cli::{AuditArgs, Cli, Command, EvalArgs, PaperArgs, TrainArgs};
use mart::commands::{self, AccuracyTable};
use mart::paper;
use mart::train::Outcome;

fn main() -> ExitCode {
    tensor::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        None => train(&TrainArgs::default()),
        Some(Command::Train(args)) => train(&args),
        Some(Command::Eval(args)) => eval(&args),
        Some(Command::Audit(args)) => audit(&args),
        Some(Command::Paper(args)) => paper(&args),
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

/// `mart eval`: the table (and AutoAttack's stages), or one JSON object.
fn eval(args: &EvalArgs) -> Result<ExitCode> {
    let rows = commands::evaluate(args, true)?;
    if args.json {
        let object: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|row| (row.name.clone(), serde_json::json!(row.accuracy)))
            .collect();
        println!("{}", serde_json::Value::Object(object));
        return Ok(ExitCode::SUCCESS);
    }
    let table: AccuracyTable = rows.iter().map(|r| (r.name.clone(), r.accuracy)).collect();
    let label = if args.target.transfer_from.is_some() {
        "transferred %"
    } else {
        "accuracy %"
    };
    print_table(&[(label.to_string(), table)]);
    for row in rows.iter().filter(|r| r.stages.len() > 1) {
        let stages: Vec<String> = row
            .stages
            .iter()
            .map(|(name, acc)| format!("{} {acc:.2}", display_name(name)))
            .collect();
        println!(
            "{} stages: {}",
            display_name(&row.name),
            stages.join(" -> ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `mart audit`: one line per check, the report's paths, and a failing status on a warning.
fn audit(args: &AuditArgs) -> Result<ExitCode> {
    let outcome = commands::run_audit(args, true)?;
    let report = &outcome.report;
    if args.json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        let accuracies: Vec<String> = report
            .accuracy
            .iter()
            .map(|(name, acc)| format!("{} {acc:.2}", display_name(name)))
            .collect();
        println!(
            "{} images, eps {}: {}",
            report.images,
            report.eps,
            accuracies.join(", ")
        );
        for check in &report.checks {
            let verdict = match check.verdict {
                Verdict::Pass => "PASS",
                Verdict::Warn => "WARN",
            };
            println!("{verdict} {}: {}", check.name, check.detail);
        }
        println!(
            "report: {} and {}",
            outcome.out.join("audit.json").display(),
            outcome.out.join("eps_sweep.svg").display()
        );
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A stop flag that the first Ctrl-C sets (a clean, resumable stop after the current batch);
/// the second exits at once.
fn ctrl_c_stop() -> Result<Arc<AtomicBool>> {
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
    Ok(stop)
}

/// `mart paper`: trains or reuses the experiment's runs, then names the files written.
fn paper(args: &PaperArgs) -> Result<ExitCode> {
    let recipe = paper::Recipe::new(args.budget, &args.dataset, args.seed)?;
    commands::open_device(args.device)?;
    let session = paper::Session::new(
        args.out.clone(),
        args.data_dir.clone(),
        args.device,
        recipe,
        ctrl_c_stop()?,
        true,
    );
    match paper::run(args.experiment, &session)? {
        paper::PaperOutcome::Written { files } => {
            for file in files {
                println!("wrote {}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        paper::PaperOutcome::Interrupted { run } => {
            eprintln!(
                "stopped in {}; run the same command again to continue",
                run.display()
            );
            Ok(ExitCode::from(130))
        }
    }
}

/// Trains with Ctrl-C wired to a clean, resumable stop, then prints the robustness table.
fn train(args: &TrainArgs) -> Result<ExitCode> {
    let report = commands::train(args, ctrl_c_stop()?, true)?;
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
            let (images, autoattack_images) = report.final_images;
            if autoattack_images > 0 {
                println!(
                    "({images} test images; AutoAttack, standard version, on the first {autoattack_images})"
                );
            }
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
    let names: Vec<String> = first.iter().map(|(name, _)| display_name(name)).collect();
    let mut header = format!("{:width$}", "");
    for name in &names {
        header.push_str(&format!(" {name:>8}"));
    }
    println!("{header}");
    for (label, table) in rows {
        let mut line = format!("{label:width$}");
        for ((_, acc), name) in table.iter().zip(&names) {
            line.push_str(&format!(" {acc:>column$.2}", column = name.len().max(8)));
        }
        println!("{line}");
    }
}

/// `pgd20` -> `PGD-20`, `cw` -> `CW-inf`, `apgd-ce` -> `APGD-CE`, as the papers write them.
fn display_name(name: &str) -> String {
    match name {
        "natural" => "natural".into(),
        "fgsm" => "FGSM".into(),
        "cw" => "CW-inf".into(),
        "autoattack" => "AutoAttack".into(),
        "square" => "Square".into(),
        "spsa" => "SPSA".into(),
        "transfer-pgd20" => "transfer PGD-20".into(),
        "apgd-ce" | "apgd-dlr" | "apgd-t" | "fab-t" => name.to_uppercase(),
        other => match other.strip_prefix("pgd") {
            Some(steps) => format!("PGD-{steps}"),
            None => other.into(),
        },
    }
}
