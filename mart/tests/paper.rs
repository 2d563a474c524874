//! `mart paper`: experiments resume and reuse their runs, share runs between tables, and write
//! tables with the published numbers beside ours. Every run is shrunk to one epoch on a few
//! hundred digits so the whole file takes seconds.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use mart::cli::{Cli, Command};
use mart::paper::{self, Budget, Experiment, PaperOutcome, Recipe, Session};
use tensor::Device;

/// The quick recipe shrunk to one epoch of two batches of 64 and a 2-step training attack,
/// judged on 20 test images (AutoAttack on 2).
fn tiny_recipe() -> Recipe {
    let mut recipe = Recipe::new(Budget::Quick, "mnist-sample", 0).unwrap();
    recipe.map_configs(|c| {
        c.epochs = 1;
        c.eps_ramp_epochs = 1;
        c.train_limit = Some(128);
        c.batch_size = 64;
        c.attack_steps = 2;
        c.eval_limit = Some(20);
        c.final_eval_limit = Some(20);
    });
    recipe.final_images = Some(20);
    recipe.autoattack_images = 2;
    recipe
}

fn session(out: &Path, stop: bool) -> Session {
    Session::new(
        out.to_path_buf(),
        None,
        Device::Cpu,
        tiny_recipe(),
        Arc::new(AtomicBool::new(stop)),
        false,
    )
}

/// Modification time of every checkpoint under `out/runs`.
fn checkpoint_times(out: &Path) -> BTreeMap<String, std::time::SystemTime> {
    let mut times = BTreeMap::new();
    for run in std::fs::read_dir(out.join("runs")).unwrap() {
        let run = run.unwrap().path();
        for file in ["best.safetensors", "last.safetensors"] {
            let meta = std::fs::metadata(run.join(file)).unwrap();
            times.insert(
                format!("{}/{file}", run.display()),
                meta.modified().unwrap(),
            );
        }
    }
    times
}

/// The fields of one CSV line, with RFC 4180 quoting (`"a, b"`, `""` for a quote).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// The CSV as a header and rows of fields.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().map(csv_fields);
    let header = lines.next().unwrap();
    (header, lines.collect())
}

#[test]
fn experiments_resume_reuse_and_share_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();

    // A stop request before the first batch ends: the first run stops with a resumable
    // checkpoint and nothing is written.
    let stopped = session(out, true);
    let outcome = paper::run(Experiment::Table2, &stopped).unwrap();
    let specs = Experiment::Table2.runs(&stopped.recipe);
    assert_eq!(
        outcome,
        PaperOutcome::Interrupted {
            run: stopped.run_dir(&specs[0])
        }
    );
    assert!(!out.join("table2.md").exists());

    // The same command continues that run and trains the others.
    let first = session(out, false);
    let PaperOutcome::Written { files } = paper::run(Experiment::Table2, &first).unwrap() else {
        panic!("table2 did not finish");
    };
    let log = first.log.borrow().clone();
    assert_eq!(log.resumed, vec![specs[0].name()]);
    assert_eq!(log.started.len(), 4);
    assert!(log.reused.is_empty());
    assert_eq!(log.evaluated.len(), 5, "AutoAttack once per defense");
    assert_eq!(files, vec![out.join("table2.md"), out.join("table2.csv")]);

    // The CSV holds our numbers as the runs' final tables have them, the published MNIST
    // numbers beside them, the budget, the data set and the seconds.
    let (header, rows) = read_csv(&out.join("table2.csv"));
    assert_eq!(
        header.join(","),
        "defense,natural,natural_paper,fgsm,fgsm_paper,pgd20,pgd20_paper,cw,cw_paper,\
         autoattack,autoattack_paper,best_epoch,seconds,dataset,budget,run"
    );
    let labels: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(labels, ["Standard", "MMA", "Dynamic", "TRADES", "MART"]);
    let published = [
        ["99.11", "97.17", "94.62", "94.25"],
        ["98.92", "97.25", "95.25", "94.77"],
        ["98.96", "97.34", "95.27", "94.85"],
        ["99.25", "96.67", "94.58", "94.03"],
        ["98.74", "97.87", "96.48", "96.10"],
    ];
    for ((row, spec), paper_row) in rows.iter().zip(&specs).zip(published) {
        let robustness: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(first.run_dir(spec).join("robustness.json")).unwrap(),
        )
        .unwrap();
        for (i, key) in ["natural", "fgsm", "pgd20", "cw"].iter().enumerate() {
            let ours: f64 = row[1 + 2 * i].parse().unwrap();
            let want = robustness["best"][key].as_f64().unwrap();
            assert!((ours - want).abs() < 0.006, "{key}: {ours} vs {want}");
            assert_eq!(row[2 + 2 * i], paper_row[i]);
        }
        let aa: f64 = row[9].parse().unwrap();
        assert!(
            (0.0..=100.0).contains(&aa) && aa % 50.0 == 0.0,
            "2 images: {aa}"
        );
        assert_eq!(row[10], "", "the paper has no AutoAttack column");
        assert!(row[12].parse::<f64>().unwrap() > 0.0, "seconds");
        assert_eq!(&row[13..15], ["mnist-sample", "quick"]);
        assert_eq!(row[15], spec.name());
    }
    let md = std::fs::read_to_string(out.join("table2.md")).unwrap();
    assert!(md.contains("| defense | natural | FGSM | PGD-20 | CW-inf | AutoAttack (2) |"));
    let mart_line = md.lines().find(|l| l.starts_with("| MART |")).unwrap();
    for published in ["(98.74)", "(97.87)", "(96.48)", "(96.10)"] {
        assert!(mart_line.contains(published), "{mart_line}");
    }
    assert!(md.contains("budget: quick"), "{md}");

    // Again: nothing trained, nothing evaluated, no checkpoint touched.
    let before = checkpoint_times(out);
    let again = session(out, false);
    assert!(matches!(
        paper::run(Experiment::Table2, &again).unwrap(),
        PaperOutcome::Written { .. }
    ));
    let log = again.log.borrow().clone();
    assert!(log.started.is_empty() && log.resumed.is_empty() && log.evaluated.is_empty());
    assert_eq!(log.reused.len(), 5);
    assert_eq!(checkpoint_times(out), before);

    // Table 4 uses the same runs (quick budget): only PGD-100 is evaluated.
    let wide = session(out, false);
    paper::run(Experiment::Table4, &wide).unwrap();
    let log = wide.log.borrow().clone();
    assert!(log.started.is_empty(), "{:?}", log.started);
    assert!(!log.evaluated.is_empty() && log.evaluated.iter().all(|e| e.contains("/pgd100-")));
    let (header, rows) = read_csv(&out.join("table4.csv"));
    assert_eq!(
        header[1..5],
        ["natural", "natural_paper", "fgsm_best", "fgsm_best_paper"]
    );
    assert_eq!(header.len(), 1 + 2 * 9 + 5);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3][0], "MART");
    assert_eq!(rows[3][2], "84.17");

    // Table 3 adds only the surrogate, trained with another seed.
    let transfer = session(out, false);
    paper::run(Experiment::Table3, &transfer).unwrap();
    let log = transfer.log.borrow().clone();
    assert_eq!(log.started.len(), 1);
    assert!(log.started[0].starts_with("surrogate-natural-smallcnn-mnist-sample-"));
    assert_eq!(log.evaluated.len(), 5);
    let (_, rows) = read_csv(&out.join("table3.csv"));
    assert_eq!(rows[4][0], "MART");
    let paper_mart: Vec<&str> = (0..4).map(|i| rows[4][2 + 2 * i].as_str()).collect();
    assert_eq!(paper_mart, ["97.77", "96.96", "96.97", "98.36"]);
    for row in &rows {
        for i in 0..4 {
            let ours: f64 = row[1 + 2 * i].parse().unwrap();
            assert!((0.0..=100.0).contains(&ours));
        }
    }
    let md = std::fs::read_to_string(out.join("table3.md")).unwrap();
    assert!(md.contains("natural training"), "{md}");
}

#[test]
fn figure2_draws_the_four_panels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let mut recipe = tiny_recipe();
    recipe.map_configs(|c| {
        c.attack_steps = 1;
        c.eval_limit = Some(10);
        c.final_eval_limit = Some(10);
    });
    recipe.final_images = Some(10);
    let runs = Experiment::Figure2.runs(&recipe);
    // MART, 2 removed, 3 replaced, 4 fractions (0 is "without KL", 1 is MART), 4 + 5 lambdas
    // (MART's 5 is MART itself; TRADES' 1 is Table 2's TRADES run).
    assert_eq!(runs.len(), 1 + 2 + 3 + 4 + 4 + 5);
    let table2: Vec<String> = Experiment::Table2
        .runs(&recipe)
        .iter()
        .map(|s| s.name())
        .collect();
    let shared = runs.iter().filter(|s| table2.contains(&s.name())).count();
    assert_eq!(shared, 2, "MART and TRADES (lambda 1) are Table 2's runs");
    let session = Session::new(
        out.to_path_buf(),
        None,
        Device::Cpu,
        recipe,
        Arc::new(AtomicBool::new(false)),
        false,
    );
    let PaperOutcome::Written { files } = paper::run(Experiment::Figure2, &session).unwrap() else {
        panic!("figure2 did not finish");
    };
    assert!(files.contains(&out.join("figure2.svg")));
    let svg = std::fs::read_to_string(out.join("figure2.svg")).unwrap();
    for title in [
        "(a) Removing components",
        "(b) Replacing components",
        "(c) Training data with the regulariser",
        "(d) Regularisation lambda",
        "MART without (1 - p_y)",
        "MART, KL in the inner maximisation",
        "TRADES best",
    ] {
        assert!(svg.contains(title), "{title} missing from the SVG");
    }
    let (header, rows) = read_csv(&out.join("figure2.csv"));
    assert_eq!(header[0], "variant");
    // One row per panel entry: 3 + 4 + 6 + 5 + 5.
    assert_eq!(rows.len(), 23);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    assert!(rows.iter().all(|r| r[2].is_empty()), "no published numbers");
    assert_eq!(rows[0][0], "(a) MART");
    assert_eq!(rows[22][0], "(d) TRADES, lambda 50");
    let md = std::fs::read_to_string(out.join("figure2.md")).unwrap();
    assert!(md.contains("The paper (ResNet-18 on CIFAR-10"));
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let err = Cli::try_parse_from(["mart", "paper", "table6"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("possible values: table2, table3, table4, table5, figure1, figure2"),
        "{err}"
    );
    let err = Cli::try_parse_from(["mart", "paper", "table2", "--budget", "huge"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("possible values: quick, paper"), "{err}");
    let parsed = Cli::try_parse_from(["mart", "paper", "figure2", "--seed", "3"]).unwrap();
    let Some(Command::Paper(args)) = parsed.command else {
        panic!("not the paper command");
    };
    assert_eq!(
        (args.experiment, args.budget, args.seed),
        (Experiment::Figure2, Budget::Quick, 3)
    );
    assert_eq!(args.out, Path::new("runs/paper"));

    let err = Recipe::new(Budget::Quick, "cifar10", 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("use --budget paper with cifar10"), "{err}");
    let err = Recipe::new(Budget::Quick, "imagenet", 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown dataset 'imagenet'"), "{err}");

    // MNIST from a folder that does not exist: the data loader's error names it.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let session = Session::new(
        dir.path().join("out"),
        Some(missing.clone()),
        Device::Cpu,
        Recipe::new(Budget::Quick, "mnist", 0).unwrap(),
        Arc::new(AtomicBool::new(false)),
        false,
    );
    let err = format!(
        "{:#}",
        paper::run(Experiment::Table2, &session).unwrap_err()
    );
    assert!(err.contains("no-such-folder"), "{err}");
}
