//! A training run survives being killed: `mart train` started as a child process and killed
//! with SIGKILL at random moments (some of them while a checkpoint is being written), resumed
//! each time with `--resume`, ends with checkpoints bit-identical to an uninterrupted run's, and
//! its folder never holds a file that fails to load. A full or read-only disk and a vanished
//! output folder end with a clear error and the previous checkpoint intact; two runs on one
//! `--out` never interleave.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use mart::report::{EpochMetrics, read_metrics};
use nn::ModelKind;
use tensor::Rng;

const MART: &str = env!("CARGO_BIN_EXE_mart");

/// A run of a few seconds: 3 epochs of 4 batches of a 2-step MART attack, SGD with momentum
/// (its state must survive too), small evaluations.
const TINY_RUN: [&str; 20] = [
    "--epochs",
    "3",
    "--train-limit",
    "256",
    "--batch-size",
    "64",
    "--steps",
    "2",
    "--eval-limit",
    "32",
    "--final-eval-limit",
    "32",
    "--autoattack-limit",
    "0",
    "--optimizer",
    "sgd",
    "--lr",
    "0.01",
    "--seed",
    "5",
];

fn start(out: &Path) -> Child {
    let resume = out.join("resume.safetensors").exists();
    let mut command = Command::new(MART);
    command.arg("train");
    if resume {
        command.arg("--resume").arg(out);
    } else {
        command.args(TINY_RUN).arg("--out").arg(out);
    }
    command
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mart starts")
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("mart runs")
}

fn run_to_end(out: &Path) -> Output {
    let output = finish(start(out));
    assert!(
        output.status.success(),
        "mart train failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every checkpoint and report in `out` loads (a half-written file would not).
fn assert_everything_loads(out: &Path, moment: &str) {
    for entry in fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => {
                let mut model = ModelKind::SmallCnn.build::<f32>(&mut Rng::new(0));
                nn::checkpoint::load(&path, model.as_mut())
                    .unwrap_or_else(|e| panic!("{moment}: {name} does not load: {e}"));
            }
            Some("json") => {
                let text = fs::read_to_string(&path).unwrap();
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{moment}: {name} is not JSON: {e}"));
            }
            Some("jsonl") => {
                read_metrics(out).unwrap_or_else(|e| panic!("{moment}: {e:#}"));
            }
            Some("svg") => {
                let text = fs::read_to_string(&path).unwrap();
                assert!(
                    text.trim_end().ends_with("</svg>"),
                    "{moment}: {name} is cut"
                );
            }
            _ => {}
        }
    }
}

/// The metrics without the wall-clock fields, which differ between any two runs.
fn metrics_without_timing(out: &Path) -> Vec<EpochMetrics> {
    read_metrics(out)
        .unwrap()
        .into_iter()
        .map(|m| EpochMetrics {
            train_seconds: 0.0,
            images_per_second: 0.0,
            ..m
        })
        .collect()
}

fn partial_files(out: &Path) -> bool {
    fs::read_dir(out).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".partial-"))
    })
}

/// Waits up to `limit` for a temporary checkpoint file to appear in `out`.
fn wait_for_a_write(child: &mut Child, out: &Path, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if partial_files(out) {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        sleep(Duration::from_micros(200));
    }
    false
}

#[test]
fn killed_at_random_moments_and_resumed_it_ends_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("uninterrupted");
    let started = Instant::now();
    run_to_end(&whole);
    let run_time = started.elapsed();

    let killed = dir.path().join("killed");
    let mut rng = Rng::new(17);
    let mut kills = Vec::new();
    for attempt in 0..8 {
        let mut child = start(&killed);
        // Odd attempts wait for a checkpoint write to begin and kill the writer inside it;
        // even ones kill after a random fraction of a whole run's time.
        let moment = if attempt % 2 == 1 {
            if wait_for_a_write(&mut child, &killed, run_time * 2) {
                "during a checkpoint write".to_string()
            } else {
                "after the run ended".to_string()
            }
        } else {
            let delay = run_time.mul_f64(0.05 + 0.85 * rng.below(1000) as f64 / 1000.0);
            sleep(delay);
            format!("{:.0} ms in", delay.as_secs_f64() * 1000.0)
        };
        let _ = child.kill();
        let output = finish(child);
        kills.push(moment.clone());
        if output.status.success() {
            break;
        }
        assert_everything_loads(&killed, &moment);
    }
    run_to_end(&killed);
    assert_everything_loads(&killed, "the end");

    // (resume.safetensors differs: it records each epoch's wall-clock time.)
    for file in ["last.safetensors", "best.safetensors"] {
        assert!(
            fs::read(whole.join(file)).unwrap() == fs::read(killed.join(file)).unwrap(),
            "{file} differs from the uninterrupted run's after kills {kills:?}"
        );
    }
    assert_eq!(
        metrics_without_timing(&whole),
        metrics_without_timing(&killed),
        "metrics after kills {kills:?}"
    );
    assert!(!partial_files(&killed), "a temporary file was left behind");
    let robustness = |d: &PathBuf| fs::read_to_string(d.join("robustness.json")).unwrap();
    assert_eq!(robustness(&whole), robustness(&killed));
}

#[test]
fn a_second_run_on_the_same_out_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shared");
    let mut first = start(&out);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out.join(".lock").exists() && Instant::now() < deadline {
        sleep(Duration::from_millis(1));
    }
    let second = Command::new(MART)
        .arg("train")
        .args(TINY_RUN)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let still_running = first.try_wait().unwrap().is_none();
    let first = finish(first);
    assert!(first.status.success());
    if still_running {
        assert!(!second.status.success());
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(
            stderr.contains("is in use by another `mart train`")
                || stderr.contains("already holds a run"),
            "{stderr}"
        );
    }
    // Whatever the timing, the folder holds one run: the first's.
    let lines = read_metrics(&out).unwrap();
    assert_eq!(lines.iter().map(|m| m.epoch).collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn a_vanished_output_folder_ends_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vanishing");
    let child = start(&out);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out.join("metrics.jsonl").exists() && Instant::now() < deadline {
        sleep(Duration::from_millis(1));
    }
    // The run may add a file between the listing and the removal: try again until it is gone.
    let gone = (0..1000).any(|_| fs::remove_dir_all(&out).is_ok() || !out.exists());
    assert!(gone, "{} could not be removed", out.display());
    let output = finish(child);
    assert!(
        !output.status.success(),
        "a run without its folder succeeded"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: cannot write") && stderr.contains("vanishing"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Mounts a tmpfs of `bytes` at `at` (root only); `None` where mounting is not permitted.
fn small_disk(at: &Path, bytes: u64) -> Option<()> {
    fs::create_dir_all(at).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
        .arg("tmpfs")
        .arg(at)
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(())
}

fn unmount(at: &Path) {
    let _ = Command::new("umount").arg(at).status();
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn a_full_or_read_only_disk_ends_with_a_clear_error_and_the_checkpoint_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("uninterrupted");
    run_to_end(&whole);
    let size = |f: &str| fs::metadata(whole.join(f)).unwrap().len();
    // Room for every file of a finished epoch, less than one more checkpoint beside them.
    let epoch_files: u64 = [
        "last.safetensors",
        "best.safetensors",
        "resume.safetensors",
        "metrics.jsonl",
        "accuracy.svg",
        "config.json",
    ]
    .iter()
    .map(|f| size(f).div_ceil(4096) * 4096)
    .sum();
    let disk = dir.path().join("disk");
    let capacity = epoch_files + size("last.safetensors") / 2;
    if small_disk(&disk, capacity).is_none() {
        assert!(!is_root(), "root could not mount a tmpfs");
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let out = disk.join("run");
    let output = finish(start(&out));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let saved = fs::read(out.join("resume.safetensors"));
    let mut model = ModelKind::SmallCnn.build::<f32>(&mut Rng::new(0));
    let loads = nn::checkpoint::load(out.join("last.safetensors"), model.as_mut());
    let metrics = read_metrics(&out).map(|m| m.len());
    let partial = partial_files(&out);

    // The same disk read-only after the first epoch: the next write fails just the same.
    let moved = dir.path().join("moved");
    fs::create_dir_all(&moved).unwrap();
    let _ = Command::new("cp").arg("-a").arg(&out).arg(&moved).status();
    unmount(&disk);

    assert!(
        !output.status.success(),
        "training on a full disk succeeded"
    );
    assert!(
        stderr.contains("No space left on device") && stderr.contains("error: cannot write"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(saved.is_ok() && loads.is_ok(), "{loads:?}");
    assert_eq!(metrics.unwrap(), 1, "the first epoch's metrics");
    assert!(!partial, "a temporary file was left on the full disk");

    // Given room again, the run resumes from the checkpoint before the failure and ends as
    // the uninterrupted run did.
    let resumed = moved.join("run");
    run_to_end(&resumed);
    assert!(
        fs::read(whole.join("last.safetensors")).unwrap()
            == fs::read(resumed.join("last.safetensors")).unwrap()
    );

    let ro = dir.path().join("ro");
    if small_disk(&ro, 64 << 20).is_some() {
        let out = ro.join("run");
        let child = start(&out);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !out.join("metrics.jsonl").exists() && Instant::now() < deadline {
            sleep(Duration::from_millis(1));
        }
        // The remount waits for no open writes (a checkpoint being written): try until it
        // takes or the run ends.
        let remounted = (0..1000).any(|_| {
            let done = Command::new("mount")
                .args(["-o", "remount,ro"])
                .arg(&ro)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !done {
                sleep(Duration::from_millis(5));
            }
            done
        });
        let output = finish(child);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let loads = nn::checkpoint::load(out.join("resume.safetensors"), model.as_mut());
        unmount(&ro);
        assert!(remounted, "the tmpfs never remounted read-only");
        if !output.status.success() {
            assert!(stderr.contains("Read-only file system"), "{stderr}");
            assert!(loads.is_ok(), "{loads:?}");
        }
    }
}
