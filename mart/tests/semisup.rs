//! Semi-supervised MART (RST's pipeline): pseudo-labels from a model, the label and image files,
//! the batch mixing, its errors, and short training runs with an unlabeled set, resumed bit for
//! bit.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use autograd::Var;
use mart::cli::{PseudoLabelArgs, TrainArgs};
use mart::commands;
use mart::data;
use mart::train::config::TrainConfig;
use mart::train::mixing::check_unlabeled;
use mart::train::{Mixing, Outcome, SemiSupervised, TrainRun};
use nn::Forward;
use tensor::{Device, Tensor};

/// A trained SmallCNN committed for AutoAttack's agreement test (94% natural accuracy).
const FIXTURE: &str = "tests/fixtures/autoattack/smallcnn.safetensors";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE)
}

fn semi(fraction: f64) -> SemiSupervised {
    SemiSupervised {
        images: PathBuf::from("unlabeled-idx3-ubyte"),
        pseudo_labels: PathBuf::from("labels-idx1-ubyte"),
        fraction,
    }
}

fn pseudo_label_args(out: &Path) -> PseudoLabelArgs {
    PseudoLabelArgs {
        checkpoint: fixture(),
        model: "smallcnn".into(),
        images: None,
        dataset: None,
        data_dir: None,
        skip: 0,
        limit: None,
        out: out.join("labels-idx1-ubyte"),
        images_out: None,
        batch_size: 16,
        device: Device::Cpu,
    }
}

/// The index of the largest value of `row`, the first on ties (a plain loop).
fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best as u32
}

#[test]
fn pseudo_labels_are_the_argmax_of_the_eval_mode_logits() {
    let dataset = data::load("mnist-sample", None).unwrap();
    let images = dataset.test.images.slice(0, 0, 53);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("images-idx3-ubyte");
    data::write_images(&file, &images, &[0; 53]).unwrap();

    // Through the command: 53 images in batches of 16 (the last one short).
    let args = PseudoLabelArgs {
        images: Some(file),
        ..pseudo_label_args(dir.path())
    };
    let written = commands::pseudo_label(&args).unwrap();
    let from_file = data::load_labels(&args.out).unwrap();
    assert_eq!(from_file.to_vec(), written.labels);

    // The reference: every image alone through the model in eval mode, argmax by a loop.
    let model = commands::load_model("smallcnn", &fixture(), Device::Cpu).unwrap();
    let expected: Vec<u32> = (0..53)
        .map(|i| {
            let logits = model
                .forward(
                    &Var::constant(images.slice(0, i, i + 1)),
                    &mut Forward::eval(),
                )
                .into_value();
            argmax(logits.data())
        })
        .collect();
    assert_eq!(written.labels, expected);
    assert_eq!(written.class_counts.iter().sum::<usize>(), 53);
    // A 94%-accurate model labels most digits right: the labels are predictions, not noise.
    let truth = dataset.test.labels.slice(0, 0, 53).to_vec();
    let right = truth.iter().zip(&expected).filter(|(a, b)| a == b).count();
    assert!(right >= 45, "{right} of 53 pseudo-labels right");
}

#[test]
fn skip_and_images_out_label_the_rest_of_the_training_set() {
    let dataset = data::load("mnist-sample", None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let images_out = dir.path().join("rest-idx3-ubyte");
    let args = PseudoLabelArgs {
        dataset: Some("mnist-sample".into()),
        skip: 7950,
        images_out: Some(images_out.clone()),
        ..pseudo_label_args(dir.path())
    };
    let written = commands::pseudo_label(&args).unwrap();
    assert_eq!(written.labels.len(), 50);
    let truth = dataset.train.labels.slice(0, 7950, 8000).to_vec();
    let agreeing = truth
        .iter()
        .zip(&written.labels)
        .filter(|(a, b)| a == b)
        .count();
    assert_eq!(written.agreeing, Some(agreeing));
    // The written images are exactly training images 7950..8000.
    let back = data::load_images(&images_out).unwrap();
    assert_eq!(back.dims(), &[50, 1, 28, 28]);
    assert_eq!(
        back.data(),
        dataset.train.images.slice(0, 7950, 8000).data()
    );

    let nothing_left = PseudoLabelArgs {
        skip: 8000,
        ..args.clone()
    };
    let err = commands::pseudo_label(&nothing_left)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--skip 8000"), "{err}");
}

#[test]
fn label_and_image_files_round_trip_through_the_loaders() {
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<u32> = (0..300).map(|i| (i * 7 % 10) as u32).collect();
    let path = dir.path().join("labels-idx1-ubyte");
    data::write_labels(&path, &labels).unwrap();
    // The IDX1 layout, byte by byte: magic 2049 and the count big-endian, one byte per label.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], &[0, 0, 8, 1, 0, 0, 1, 44]);
    assert_eq!(bytes.len(), 308);
    assert!(
        bytes[8..]
            .iter()
            .zip(&labels)
            .all(|(&b, &l)| u32::from(b) == l)
    );
    assert_eq!(data::load_labels(&path).unwrap().to_vec(), labels);

    // Gzipped, as MNIST is distributed, it loads the same.
    let gz = dir.path().join("labels-idx1-ubyte.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &bytes).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    assert_eq!(data::load_labels(&gz).unwrap().to_vec(), labels);

    // CIFAR-shaped images go out as binary records (label byte, then 3072 pixels) and come
    // back exactly, whatever the label bytes hold.
    let pixels: Vec<f32> = (0..2 * 3072).map(|i| (i % 256) as f32 / 255.0).collect();
    let cifar = Tensor::from_vec(pixels, [2, 3, 32, 32]);
    let file = dir.path().join("unlabeled.bin");
    data::write_images(&file, &cifar, &[4, 9]).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!((bytes.len(), bytes[0], bytes[3073]), (2 * 3073, 4, 9));
    assert_eq!(bytes[1 + 300], (300 % 256) as u8);
    let back = data::load_images(&file).unwrap();
    assert_eq!(back.dims(), &[2, 3, 32, 32]);
    assert_eq!(back.data(), cifar.data());
}

#[test]
fn a_file_of_neither_format_is_refused_with_both_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"not images").unwrap();
    let err = data::load_images(&path).unwrap_err().to_string();
    assert!(err.contains("IDX") && err.contains("3073"), "{err}");
    // Images where labels belong: the IDX magic says so.
    let images = dir.path().join("images-idx3-ubyte");
    data::write_images(&images, &Tensor::zeros([2, 1, 28, 28]), &[0, 0]).unwrap();
    let err = data::load_labels(&images).unwrap_err().to_string();
    assert!(err.contains("swap"), "{err}");
}

#[test]
fn each_batch_mixes_the_fraction_and_each_pass_shows_every_labelled_example_once() {
    // 100 labelled, 37 pseudo-labelled, batches of 10 half and half: 10 batches an epoch, each
    // pass over the labelled set spans two epochs.
    let mixing = Mixing::new(&semi(0.5), 100, 37, 10, 3).unwrap();
    assert_eq!(
        (
            mixing.labelled_per_batch,
            mixing.unlabeled_per_batch,
            mixing.batches_per_epoch()
        ),
        (5, 5, 10)
    );
    let epochs: Vec<Vec<Vec<usize>>> = (0..6).map(|e| mixing.epoch_rows(e)).collect();
    let mut unlabeled_seen: HashSet<usize> = HashSet::new();
    let mut interleaved = false;
    for pass in epochs.chunks(2) {
        let mut labelled: Vec<usize> = pass
            .iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|&r| r < 100)
            .collect();
        labelled.sort_unstable();
        assert_eq!(labelled, (0..100).collect::<Vec<_>>());
    }
    for batch in epochs.iter().flatten() {
        assert_eq!(batch.len(), 10);
        assert_eq!(batch.iter().filter(|&&r| r >= 100).count(), 5, "{batch:?}");
        assert!(batch.iter().all(|&r| r < 137), "{batch:?}");
        unlabeled_seen.extend(batch.iter().filter(|&&r| r >= 100));
        interleaved |= batch.windows(2).any(|w| w[0] >= 100 && w[1] < 100);
    }
    // 300 draws with replacement reach every one of the 37 (and the two kinds are shuffled).
    assert_eq!(unlabeled_seen.len(), 37);
    assert!(interleaved);
    // The epochs differ, and the labelled order changes from pass to pass.
    assert_ne!(epochs[0], epochs[2]);

    // A pass that does not end at an epoch boundary: 7 labelled per batch, 70 an epoch, so 7
    // epochs are 4.9 passes and 10 epochs exactly 7.
    let mixing = Mixing::new(&semi(0.3), 100, 37, 10, 3).unwrap();
    assert_eq!(
        (mixing.labelled_per_batch, mixing.unlabeled_per_batch),
        (7, 3)
    );
    let mut counts = [0usize; 100];
    for epoch in 0..10 {
        for batch in mixing.epoch_rows(epoch) {
            assert_eq!(batch.iter().filter(|&&r| r >= 100).count(), 3);
            for r in batch.into_iter().filter(|&r| r < 100) {
                counts[r] += 1;
            }
        }
    }
    assert!(counts.iter().all(|&c| c == 7), "{counts:?}");
}

#[test]
fn the_mixing_is_a_function_of_the_seed() {
    let a = Mixing::new(&semi(0.5), 64, 50, 16, 7).unwrap();
    let b = Mixing::new(&semi(0.5), 64, 50, 16, 7).unwrap();
    let c = Mixing::new(&semi(0.5), 64, 50, 16, 8).unwrap();
    for epoch in 0..3 {
        assert_eq!(a.epoch_rows(epoch), b.epoch_rows(epoch));
        assert_ne!(a.epoch_rows(epoch), c.epoch_rows(epoch));
    }
}

#[test]
fn bad_fractions_counts_and_shapes_are_refused() {
    for fraction in [0.0, 1.0, 1.5, -0.5, f64::NAN] {
        let err = semi(fraction).per_batch(128).unwrap_err();
        assert!(err.contains("--unlabeled-fraction"), "{fraction}: {err}");
    }
    // 0.1 of 4 rounds to no pseudo-labelled example per batch.
    let err = semi(0.1).per_batch(4).unwrap_err();
    assert!(err.contains("at least one"), "{err}");
    assert_eq!(semi(0.1).per_batch(128), Ok((115, 13)));

    let train = Tensor::zeros([10, 1, 28, 28]);
    let err = check_unlabeled(
        &train,
        &Tensor::zeros([5, 1, 28, 28]),
        &Tensor::from_vec(vec![0u32; 4], [4]),
    )
    .unwrap_err();
    assert!(err.contains("5 images but 4 pseudo-labels"), "{err}");
    let err = check_unlabeled(
        &train,
        &Tensor::zeros([4, 3, 32, 32]),
        &Tensor::from_vec(vec![0u32; 4], [4]),
    )
    .unwrap_err();
    assert!(
        err.contains("[3, 32, 32]") && err.contains("[1, 28, 28]"),
        "{err}"
    );

    let flags = |unlabeled: bool, labels: bool| TrainArgs {
        unlabeled: unlabeled.then(|| PathBuf::from("u")),
        pseudo_labels: labels.then(|| PathBuf::from("l")),
        ..TrainArgs::default()
    };
    assert!(flags(true, false).to_config().is_err());
    assert!(flags(false, true).to_config().is_err());
    let config = flags(true, true).to_config().unwrap();
    assert_eq!(config.semi_supervised.map(|s| s.fraction), Some(0.5));
}

/// Writes training images 256..256+n of the sample with `labels` as an unlabeled set.
fn unlabeled_files(dir: &Path, n: usize, labels: &[u32]) -> (PathBuf, PathBuf) {
    let dataset = data::load("mnist-sample", None).unwrap();
    let images = dir.join("unlabeled-idx3-ubyte");
    let pseudo = dir.join("pseudo-idx1-ubyte");
    data::write_images(
        &images,
        &dataset.train.images.slice(0, 256, 256 + n),
        labels,
    )
    .unwrap();
    data::write_labels(&pseudo, labels).unwrap();
    (images, pseudo)
}

/// A CLI run small enough for CI: 128 labelled digits, batches of 32 (16 labelled, 16
/// pseudo-labelled), one epoch of 4 batches, 2-step attacks, 50 test digits.
fn short_args(out: &Path, images: &Path, labels: &Path) -> TrainArgs {
    TrainArgs {
        defense: Some("mart".into()),
        epochs: Some(1),
        batch_size: Some(32),
        train_limit: Some(128),
        eval_limit: Some(50),
        final_eval_limit: Some(50),
        autoattack_limit: Some(0),
        steps: Some(2),
        out: Some(out.to_path_buf()),
        unlabeled: Some(images.to_path_buf()),
        pseudo_labels: Some(labels.to_path_buf()),
        ..TrainArgs::default()
    }
}

fn last_weights(dir: &Path) -> Vec<Vec<f32>> {
    let model = commands::load_model("smallcnn", &dir.join("last.safetensors"), Device::Cpu)
        .expect("the checkpoint loads");
    let mut out = Vec::new();
    model.visit("", &mut |_, entry| {
        if let nn::Entry::Param(p) = entry {
            out.push(p.value().to_vec());
        }
    });
    out
}

#[test]
fn mart_train_unlabeled_runs_and_resumes_bit_for_bit() {
    let files = tempfile::tempdir().unwrap();
    let labels: Vec<u32> = (0..100).map(|i| (i % 10) as u32).collect();
    let (images, pseudo) = unlabeled_files(files.path(), 100, &labels);
    let straight = tempfile::tempdir().unwrap();
    let args = short_args(straight.path(), &images, &pseudo);
    let report = commands::train(&args, Arc::new(AtomicBool::new(false)), false).unwrap();
    assert!(matches!(report.outcome, Outcome::Finished { .. }));
    let saved: TrainConfig = serde_json::from_str(
        &std::fs::read_to_string(straight.path().join("config.json")).unwrap(),
    )
    .unwrap();
    let semi = saved
        .semi_supervised
        .expect("the unlabeled set is in config.json");
    assert!(semi.images.is_absolute() && semi.pseudo_labels.is_absolute());
    assert_eq!(semi.fraction, 0.5);
    let metrics = mart::report::read_metrics(straight.path()).unwrap();
    assert!(metrics[0].train_loss.is_finite());

    // Stopped after the first batch (Ctrl-C), then resumed through `--resume`.
    let split = tempfile::tempdir().unwrap();
    let args = short_args(split.path(), &images, &pseudo);
    let report = commands::train(&args, Arc::new(AtomicBool::new(true)), false).unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted { epoch: 0, batch: 1 });
    let resume = TrainArgs {
        resume: Some(split.path().to_path_buf()),
        ..TrainArgs::default()
    };
    commands::train(&resume, Arc::new(AtomicBool::new(false)), false).unwrap();
    assert_eq!(last_weights(split.path()), last_weights(straight.path()));

    // The pseudo-labels are read: other labels, other weights.
    let shifted: Vec<u32> = labels.iter().map(|l| (l + 1) % 10).collect();
    let (images2, pseudo2) = {
        let other = files.path().join("other");
        std::fs::create_dir(&other).unwrap();
        unlabeled_files(&other, 100, &shifted)
    };
    let relabelled = tempfile::tempdir().unwrap();
    commands::train(
        &short_args(relabelled.path(), &images2, &pseudo2),
        Arc::new(AtomicBool::new(false)),
        false,
    )
    .unwrap();
    assert_ne!(
        last_weights(relabelled.path()),
        last_weights(straight.path())
    );
}

#[test]
fn mismatched_unlabeled_files_stop_the_run_before_it_starts() {
    let files = tempfile::tempdir().unwrap();
    let (images, _) = unlabeled_files(files.path(), 30, &[1; 30]);
    let short = files.path().join("short-idx1-ubyte");
    data::write_labels(&short, &[1; 29]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = format!(
        "{:#}",
        commands::train(
            &short_args(out.path(), &images, &short),
            Arc::new(AtomicBool::new(false)),
            false
        )
        .unwrap_err()
    );
    assert!(err.contains("30 images but 29 pseudo-labels"), "{err}");
    assert!(!out.path().join("metrics.jsonl").exists());
    let missing = files.path().join("missing");
    let err = format!(
        "{:#}",
        commands::train(
            &short_args(out.path(), &missing, &short),
            Arc::new(AtomicBool::new(false)),
            false
        )
        .unwrap_err()
    );
    assert!(err.contains("--unlabeled"), "{err}");

    // A run given a pseudo-labelled set its configuration does not name is refused.
    let dataset = data::load("mnist-sample", None).unwrap();
    let set = (
        dataset.train.images.slice(0, 0, 10),
        dataset.train.labels.slice(0, 0, 10),
    );
    let err = TrainRun {
        out: out.path().join("run"),
        train: (&dataset.train.images, &dataset.train.labels),
        test: (&dataset.test.images, &dataset.test.labels),
        augment: None,
        stop: Arc::new(AtomicBool::new(false)),
        progress: false,
        stop_after_steps: None,
        device: Device::Cpu,
        unlabeled: Some((&set.0, &set.1)),
        replicas: None,
    }
    .run(TrainConfig::default_run(), false)
    .unwrap_err();
    assert!(format!("{err:#}").contains("supervised run"), "{err:#}");
}

#[test]
fn natural_training_is_cross_entropy_on_the_clean_images() {
    use mart::defense::{Batch, Defense, Natural};
    let dataset = data::load("mnist-sample", None).unwrap();
    let images = dataset.train.images.slice(0, 0, 8);
    let labels = dataset.train.labels.slice(0, 0, 8);
    let model = commands::load_model("smallcnn", &fixture(), Device::Cpu).unwrap();
    let tape = autograd::Tape::new();
    let mut fwd = Forward::train(&tape, tensor::Rng::new(1));
    let batch = Batch {
        images: &images,
        labels: &labels,
        indices: &[0, 1, 2, 3, 4, 5, 6, 7],
    };
    let out = Natural.loss(&*model, &batch, &mut fwd, &mut tensor::Rng::new(2));
    // Mean cross-entropy of the returned logits, in f64.
    let logits = out.logits.data();
    let expected: f64 = (0..8)
        .map(|i| {
            let row: Vec<f64> = logits[i * 10..(i + 1) * 10]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            lse - row[labels.data()[i] as usize]
        })
        .sum::<f64>()
        / 8.0;
    let loss = f64::from(out.loss.value().item());
    assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    // The logits are the clean images' (dropout aside): their argmax agrees with the eval-mode
    // prediction on most of the batch, where PGD at eps 0.3 flips most of this model's digits.
    let clean = mart::eval::predict(&*model, &images)
        .argmax_axis(1)
        .to_vec();
    let trained = out.logits.argmax_axis(1).to_vec();
    let same = clean.iter().zip(&trained).filter(|(a, b)| a == b).count();
    assert!(same >= 6, "{clean:?} vs {trained:?}");
}
