//! End-to-end runs through the code path of the CLI (`mart::commands`): a short run of each
//! defense on a slice of the embedded MNIST sample, the checkpoint round trip into `mart eval`,
//! and exact resume.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use mart::cli::{CheckpointArgs, EvalArgs, TrainArgs};
use mart::commands;
use mart::data;
use mart::train::config::TrainConfig;
use mart::train::{Outcome, TrainRun};
use tensor::{Device, Tensor};

/// A run small enough for CI: 2,048 training images, 2-step attacks at the first epoch of the
/// default eps ramp (0.075), 100 test images.
fn short_args(defense: &str, out: &Path) -> TrainArgs {
    TrainArgs {
        defense: Some(defense.into()),
        epochs: Some(1),
        batch_size: Some(64),
        train_limit: Some(2048),
        eval_limit: Some(100),
        final_eval_limit: Some(100),
        autoattack_limit: Some(20),
        steps: Some(2),
        out: Some(out.to_path_buf()),
        ..TrainArgs::default()
    }
}

fn no_stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// Every parameter, buffer and counter of a checkpoint, by name.
fn weights(path: &Path) -> Vec<(String, Tensor<f32>)> {
    let model = commands::load_model("smallcnn", path, Device::Cpu).expect("the checkpoint loads");
    let mut out = Vec::new();
    model.visit("", &mut |name, entry| match entry {
        nn::Entry::Param(p) => out.push((name.to_string(), p.value().clone())),
        nn::Entry::Buffer(b) => out.push((name.to_string(), b.clone())),
        nn::Entry::Count(n) => out.push((name.to_string(), Tensor::scalar(n as f32))),
    });
    out
}

#[test]
fn each_defense_trains_writes_its_files_and_learns() {
    for defense in ["standard", "trades", "mart", "mma", "dynamic", "alp", "clp"] {
        let dir = tempfile::tempdir().unwrap();
        let report = commands::train(&short_args(defense, dir.path()), no_stop(), false)
            .unwrap_or_else(|e| panic!("{defense}: {e:#}"));
        assert!(
            matches!(report.outcome, Outcome::Finished { .. }),
            "{defense}"
        );
        for file in [
            "best.safetensors",
            "last.safetensors",
            "metrics.jsonl",
            "accuracy.svg",
            "robustness.json",
            "resume.safetensors",
        ] {
            assert!(dir.path().join(file).exists(), "{defense}: {file} missing");
        }
        let metrics = mart::report::read_metrics(dir.path()).unwrap();
        assert_eq!(metrics.len(), 1, "{defense}");
        let m = &metrics[0];
        assert!(m.train_loss.is_finite(), "{defense}: {m:?}");
        // 32 batches of MNIST lift a fresh SmallCNN above chance (10%) on clean test images.
        assert!(
            m.natural > 20.0,
            "{defense}: natural accuracy {} after one short epoch",
            m.natural
        );
        assert!(m.pgd20 <= m.natural, "{defense}: {m:?}");
        let robustness: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("robustness.json")).unwrap(),
        )
        .unwrap();
        for key in ["best", "last"] {
            assert_eq!(robustness[key]["epoch"], 1, "{defense}: {robustness}");
            assert!(
                robustness[key]["pgd20"].as_f64().is_some(),
                "{defense}: {robustness}"
            );
        }
        // AutoAttack ran on the first 20 of the 100 final images, and found no more robust
        // digits than there are correct ones.
        assert_eq!(robustness["last"]["autoattack_images"], 20, "{robustness}");
        assert_eq!(report.final_images, (100, 20));
        let (_, table) = report.robustness.last().expect("a final table");
        let names: Vec<&str> = table.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["natural", "fgsm", "pgd20", "cw", "autoattack"]);
        assert_eq!(robustness["last"]["autoattack"].as_f64(), Some(table[4].1));
        assert!(
            (table[0].1 - m.natural).abs() < 1e-9,
            "{defense}: the final natural accuracy is the epoch's"
        );
    }
}

/// Runs the `mart` binary: `mart eval --model smallcnn --dataset mnist-sample` and `extra`.
fn mart_eval(extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mart"))
        .args(["eval", "--model", "smallcnn", "--dataset", "mnist-sample"])
        .args(extra)
        .output()
        .expect("the mart binary runs")
}

#[test]
fn a_trained_checkpoint_evaluates_through_mart_eval() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = short_args("mart", dir.path());
    args.epochs = Some(2);
    commands::train(&args, no_stop(), false).unwrap();
    let eval = EvalArgs {
        target: CheckpointArgs {
            checkpoint: dir.path().join("last.safetensors"),
            model: "smallcnn".into(),
            dataset: "mnist-sample".into(),
            data_dir: None,
            limit: Some(200),
            eps: None,
            batch_size: 100,
            seed: 0,
            device: Device::Cpu,
            transfer_from: None,
            surrogate_model: None,
        },
        attacks: "natural,fgsm,pgd20".into(),
        cw_kappa: mart::attack::CW_KAPPA,
        spsa_steps: mart::attack::SPSA_STEPS,
        spsa_directions: mart::attack::SPSA_DIRECTIONS,
        json: true,
    };
    let table = commands::evaluate(&eval, false).unwrap();
    let acc: Vec<f64> = table.iter().map(|row| row.accuracy).collect();
    assert!(acc[0] > 50.0, "{table:?}");
    // Stronger attacks find more: PGD-20 <= FGSM <= natural.
    assert!(acc[2] <= acc[1] && acc[1] <= acc[0], "{table:?}");

    // The binary prints exactly one JSON object with the attacks asked for as keys.
    let checkpoint = dir.path().join("last.safetensors");
    let output = mart_eval(&[
        "--limit",
        "50",
        "--attacks",
        "natural,pgd20",
        "--json",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON value");
    let object = json.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["natural", "pgd20"]);
    assert!(
        object
            .values()
            .all(|v| (0.0..=100.0).contains(&v.as_f64().unwrap()))
    );

    // A missing checkpoint is a clear error naming the file, with a failing exit status.
    let output = mart_eval(&["--checkpoint", "no/such.safetensors"]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no/such.safetensors"));

    // A checkpoint of another model is refused with every mismatch named.
    let wrong = EvalArgs {
        target: CheckpointArgs {
            model: "resnet18".into(),
            ..eval.target.clone()
        },
        ..eval
    };
    let err = format!("{:#}", commands::evaluate(&wrong, false).unwrap_err());
    assert!(
        err.contains("conv1.weight") || err.contains("missing"),
        "{err}"
    );
}

/// The configuration of the resume test: two epochs of 4 batches with dropout, Adam and MART.
fn resume_config() -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch_size: 64,
        attack_steps: 2,
        train_limit: Some(256),
        eval_limit: Some(50),
        final_eval_limit: Some(50),
        ..TrainConfig::default_run()
    }
}

fn run_in(
    out: &Path,
    dataset: &data::Dataset,
    stop_after_steps: Option<u64>,
    config: TrainConfig,
    resume: bool,
) -> Outcome {
    TrainRun {
        out: out.to_path_buf(),
        train: (&dataset.train.images, &dataset.train.labels),
        test: (&dataset.test.images, &dataset.test.labels),
        augment: None,
        stop: no_stop(),
        progress: false,
        stop_after_steps,
        device: Device::Cpu,
        unlabeled: None,
        replicas: None,
    }
    .run(config, resume)
    .unwrap()
}

#[test]
fn resuming_gives_bit_for_bit_the_uninterrupted_run() {
    let dataset = data::load("mnist-sample", None).unwrap();
    let straight = tempfile::tempdir().unwrap();
    run_in(straight.path(), &dataset, None, resume_config(), false);
    let expected = weights(&straight.path().join("last.safetensors"));

    // Stopped at the end of epoch 1, and in the middle of epoch 2 (step 6 of 8), then resumed.
    for stop_at in [4, 6] {
        let split = tempfile::tempdir().unwrap();
        let first = run_in(
            split.path(),
            &dataset,
            Some(stop_at),
            resume_config(),
            false,
        );
        assert!(matches!(first, Outcome::Interrupted { .. }), "{first:?}");
        let rest = run_in(split.path(), &dataset, None, resume_config(), true);
        assert!(matches!(rest, Outcome::Finished { .. }), "{rest:?}");
        let got = weights(&split.path().join("last.safetensors"));
        assert_eq!(got.len(), expected.len());
        for ((name, a), (_, b)) in got.iter().zip(&expected) {
            assert_eq!(
                a.data(),
                b.data(),
                "stop at step {stop_at}: {name} differs after resuming"
            );
        }
        let m1 = std::fs::read_to_string(straight.path().join("metrics.jsonl")).unwrap();
        let m2 = std::fs::read_to_string(split.path().join("metrics.jsonl")).unwrap();
        let accs = |m: &str| {
            m.lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    (
                        v["natural"].as_f64(),
                        v["pgd20"].as_f64(),
                        v["train_loss"].as_f64(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            accs(&m1),
            accs(&m2),
            "stop at step {stop_at}: metrics differ"
        );
    }
}

#[test]
fn a_second_run_into_a_used_folder_is_refused_and_resume_needs_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let args = short_args("standard", dir.path());
    commands::train(&args, no_stop(), false).unwrap();
    let err = format!(
        "{:#}",
        commands::train(&args, no_stop(), false).unwrap_err()
    );
    assert!(err.contains("--resume"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let resume = TrainArgs {
        resume: Some(empty.path().to_path_buf()),
        ..TrainArgs::default()
    };
    let err = format!(
        "{:#}",
        commands::train(&resume, no_stop(), false).unwrap_err()
    );
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn ctrl_c_stops_with_a_resumable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(true));
    let report = commands::train(&short_args("mart", dir.path()), stop, false).unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted { epoch: 0, batch: 1 });
    assert!(dir.path().join("resume.safetensors").exists());
    let resume = TrainArgs {
        resume: Some(dir.path().to_path_buf()),
        ..TrainArgs::default()
    };
    let report = commands::train(&resume, no_stop(), false).unwrap();
    assert!(matches!(report.outcome, Outcome::Finished { .. }));
}

#[test]
fn a_nan_loss_stops_with_a_clear_error_and_the_model_before_it() {
    let dataset = data::load("mnist-sample", None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // An infinite learning rate turns the weights into inf/NaN at the first step, so the
    // second step's loss is NaN.
    let config = TrainConfig {
        lr: f64::INFINITY,
        ..resume_config()
    };
    let error = TrainRun {
        out: dir.path().to_path_buf(),
        train: (&dataset.train.images, &dataset.train.labels),
        test: (&dataset.test.images, &dataset.test.labels),
        augment: None,
        stop: no_stop(),
        progress: false,
        stop_after_steps: None,
        device: Device::Cpu,
        unlabeled: None,
        replicas: None,
    }
    .run(config, false)
    .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("NaN") && message.contains("batch 2"),
        "{message}"
    );
    assert!(message.contains("--lr"), "{message}");
    assert!(dir.path().join("resume.safetensors").exists());
}
