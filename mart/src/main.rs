//! `mart`: parses the command line, wires Ctrl-C, and prints; the work is in `mart::commands`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clap::Parser;
use mart::audit::Verdict;
use mart::cli::{
    AuditArgs, Cli, Command, DataCommand, EvalArgs, FetchArgs, PaperArgs, PseudoLabelArgs,
    TrainArgs, VerifyArgs,
};
use mart::commands::{self, AccuracyTable};
use mart::data::fetch::{FileOutcome, FileState};
use mart::paper;
use mart::train::Outcome;

/// Large tensors on transparent huge pages (see [`tensor::allocator`]).
#[global_allocator]
static ALLOCATOR: tensor::allocator::HugePages = tensor::allocator::HugePages;

fn main() -> ExitCode {
    tensor::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        None => train(&TrainArgs::default()),
        Some(Command::Train(args)) => train(&args),
        Some(Command::Eval(args)) => eval(&args),
        Some(Command::Audit(args)) => audit(&args),
        Some(Command::PseudoLabel(args)) => pseudo_label(&args),
        Some(Command::Data(args)) => match &args.action {
            DataCommand::Fetch(args) => data_fetch(args),
            DataCommand::Verify(args) => data_verify(args),
        },
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

/// `mart pseudo-label`: writes the labels and says what they hold.
fn pseudo_label(args: &PseudoLabelArgs) -> Result<ExitCode> {
    let written = commands::pseudo_label(args)?;
    let n = written.labels.len();
    println!("wrote {n} pseudo-labels to {}", args.out.display());
    if let Some(path) = &args.images_out {
        println!("wrote the {n} labelled images to {}", path.display());
    }
    let counts: Vec<String> = written.class_counts.iter().map(usize::to_string).collect();
    println!("per class: {}", counts.join(" "));
    if let Some(agreeing) = written.agreeing {
        println!(
            "agree with the data set's labels: {agreeing} of {n} ({:.2}%)",
            100.0 * agreeing as f64 / n.max(1) as f64
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

/// `mart data fetch`: one line per file, then where each data set is and how to use it.
fn data_fetch(args: &FetchArgs) -> Result<ExitCode> {
    let (root, fetched) = commands::fetch_data(args, true)?;
    let default = commands::is_default_root(&root);
    for dataset in &fetched {
        println!("{}:", dataset.name);
        for (file, outcome) in &dataset.files {
            match outcome {
                FileOutcome::Kept => println!("  {file}: already there, SHA-256 verified"),
                FileOutcome::Downloaded(url) => {
                    println!("  {file}: SHA-256 verified, downloaded from {url}")
                }
            }
        }
        if dataset.unpacked {
            println!("  unpacked into {}", dataset.dir.display());
        }
        println!("{} is in {}", dataset.name, dataset.dir.display());
        if default {
            println!("  use: mart train --dataset {}", dataset.name);
        } else {
            println!(
                "  use: mart train --dataset {} --data-dir {} (or set MART_DATA={})",
                dataset.name,
                dataset.dir.display(),
                root.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `mart data verify`: one line per file; fails when a file is missing or does not match.
fn data_verify(args: &VerifyArgs) -> Result<ExitCode> {
    let report = commands::verify_data(args)?;
    for (name, dir, checks) in &report.datasets {
        let Some(checks) = checks else {
            println!(
                "{name}: not fetched ({} does not exist; mart data fetch {name})",
                dir.display()
            );
            continue;
        };
        println!("{name}: {}", dir.display());
        for check in checks {
            let label = match check.state {
                FileState::Good => "ok",
                FileState::Missing => "MISSING",
                _ => "BAD",
            };
            let detail = match check.state {
                FileState::Good | FileState::Missing => String::new(),
                ref bad => format!(": {bad}"),
            };
            println!("  {label:8} {}{detail}", check.path.display());
        }
    }
    if report.passed() {
        println!("all files match the published SHA-256 digests and sizes");
        return Ok(ExitCode::SUCCESS);
    }
    let failing = report.failing();
    let command = match failing.as_slice() {
        [one] => format!("mart data fetch {one}"),
        _ => "mart data fetch all".to_string(),
    };
    if failing.is_empty() {
        eprintln!(
            "error: nothing fetched in {}: run `{command}`",
            report.root.display()
        );
    } else {
        eprintln!("error: files are missing or do not match; `{command}` downloads them again");
    }
    Ok(ExitCode::from(1))
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
    let recipe = paper::Recipe::new(args.budget, &args.dataset, args.seed)?
        .with_unlabeled(args.unlabeled.clone())?;
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
        // Data-parallel ranks other than 0 leave the messages to rank 0.
        Outcome::Interrupted { .. } if report.rank != 0 => Ok(ExitCode::from(130)),
        Outcome::Finished { .. } if report.rank != 0 => Ok(ExitCode::SUCCESS),
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
