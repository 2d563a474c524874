//! `mart eval` with AutoAttack and transfer, and `mart audit`, run as the binary on the
//! agreement fixture's checkpoint (a short MART run) and the first embedded test digits.

use std::path::PathBuf;
use std::process::{Command, Output};

fn checkpoint() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/autoattack/smallcnn.safetensors")
        .to_string_lossy()
        .into_owned()
}

/// `mart SUBCOMMAND --checkpoint FIXTURE --model smallcnn --dataset mnist-sample --device cpu`
/// followed by `extra`.
fn mart(subcommand: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mart"))
        .arg(subcommand)
        .args(["--checkpoint", &checkpoint()])
        .args([
            "--model",
            "smallcnn",
            "--dataset",
            "mnist-sample",
            "--device",
            "cpu",
        ])
        .args(extra)
        .output()
        .expect("the mart binary runs")
}

fn json_of(output: &Output) -> serde_json::Value {
    assert!(
        output.stdout.ends_with(b"\n"),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON value on stdout")
}

#[test]
fn eval_reports_autoattack_and_transfer_in_the_json_contract() {
    let white = mart(
        "eval",
        &[
            "--limit",
            "30",
            "--attacks",
            "natural,pgd20,autoattack",
            "--json",
        ],
    );
    assert!(white.status.success());
    let white = json_of(&white);
    let mut keys: Vec<&str> = white
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["autoattack", "natural", "pgd20"]);
    let (natural, pgd20, autoattack) = (
        white["natural"].as_f64().unwrap(),
        white["pgd20"].as_f64().unwrap(),
        white["autoattack"].as_f64().unwrap(),
    );
    // On this weakly robust model AutoAttack finds at least what PGD-20 finds.
    assert!(autoattack <= pgd20 && pgd20 <= natural, "{white}");

    // Crafted on a surrogate that is the model itself, transfer is the white-box attack: the
    // same seed gives the same examples, so the same accuracy.
    let transfer = mart(
        "eval",
        &[
            "--limit",
            "30",
            "--attacks",
            "natural,pgd20",
            "--json",
            "--transfer-from",
            &checkpoint(),
            "--surrogate-model",
            "smallcnn",
        ],
    );
    assert!(transfer.status.success());
    let transfer = json_of(&transfer);
    assert_eq!(transfer["pgd20"], white["pgd20"], "{transfer} vs {white}");
    assert_eq!(transfer["natural"], white["natural"]);

    // A surrogate without its model name is refused before any work.
    let half = mart("eval", &["--transfer-from", &checkpoint()]);
    assert!(!half.status.success());
    assert!(String::from_utf8_lossy(&half.stderr).contains("surrogate-model"));
}

#[test]
fn audit_writes_its_report_and_exits_by_its_verdicts() {
    let out = tempfile::tempdir().unwrap();
    let output = mart(
        "audit",
        &[
            "--limit",
            "30",
            "--spsa-limit",
            "4",
            "--spsa-steps",
            "3",
            "--spsa-directions",
            "8",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("audit.json")).unwrap())
            .unwrap();
    let checks = report["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "iterative-vs-one-step",
            "spsa-vs-gradient",
            "square-vs-gradient",
            "eps-sweep",
            "pgd20-vs-autoattack"
        ]
    );
    // One printed line per check, and the exit status follows the verdicts.
    for check in checks {
        let line = format!(
            "{} {}:",
            check["verdict"].as_str().unwrap(),
            check["name"].as_str().unwrap()
        );
        assert!(stdout.contains(&line), "{line} missing from:\n{stdout}");
    }
    let passed = checks.iter().all(|c| c["verdict"] == "PASS");
    assert_eq!(report["passed"], passed);
    assert_eq!(output.status.success(), passed, "{stdout}");
    // This model's PGD-20 overstates it by far more than 5 points (the fixture: 43 -> 16 on
    // the first 300 digits), so the AutoAttack check warns.
    assert_eq!(checks[4]["verdict"], "WARN", "{stdout}");
    // The sweep reaches eps 1.0, where nothing survives, and its plot is an SVG.
    let sweep = report["eps_sweep"].as_array().unwrap();
    assert_eq!(sweep.last().unwrap()[0].as_f64(), Some(1.0));
    assert_eq!(sweep.last().unwrap()[1].as_f64(), Some(0.0));
    let svg = std::fs::read_to_string(out.path().join("eps_sweep.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
}
