//! Data-parallel training over the in-process collective, one thread per replica (NCCL itself
//! runs only on a GPU machine: `.ci/gpu-check`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use mart::data;
use mart::defense::{Batch, Natural};
use mart::distributed::{Collective, InProcess, Replicas};
use mart::train::config::TrainConfig;
use mart::train::{Outcome, TrainRun, batch_gradients};
use nn::layers::{Flatten, Linear, ReLU, Sequential};
use nn::optim::{Optimizer, Sgd, SgdConfig};
use nn::{Entry, Module};
use tensor::{Device, IndexTensor, Rng, Tensor};

/// Pixels of the test images (`[1, 4, 4]`) and classes of the test model.
const PIXELS: usize = 16;
const CLASSES: usize = 3;

/// A model without batch normalisation or dropout, so replicas and one device can agree.
fn mlp(seed: u64) -> Box<dyn Module<f32>> {
    let rng = &mut Rng::new(seed);
    Box::new(Sequential::new(vec![
        Box::new(Flatten),
        Box::new(Linear::new(PIXELS, 8, rng)),
        Box::new(ReLU),
        Box::new(Linear::new(8, CLASSES, rng)),
    ]))
}

fn sgd() -> Sgd<f32> {
    Sgd::new(SgdConfig {
        momentum: 0.9,
        weight_decay: 5e-3,
        ..SgdConfig::new(0.5)
    })
    .unwrap()
}

/// Global batches of the given sizes: images in [0, 1] and labels, with their row indices.
fn batches(sizes: &[usize]) -> Vec<(Tensor<f32>, IndexTensor, Vec<usize>)> {
    let mut rng = Rng::new(7);
    let mut first = 0;
    sizes
        .iter()
        .map(|&n| {
            let pixels: Vec<f32> = (0..n * PIXELS)
                .map(|_| rng.below(1000) as f32 / 1000.0)
                .collect();
            let labels = (0..n).map(|_| rng.below(CLASSES) as u32).collect();
            first += n;
            (
                Tensor::from_vec(pixels, [n, 1, 4, 4]),
                IndexTensor::from_vec(labels, [n]),
                (first - n..first).collect(),
            )
        })
        .collect()
}

fn params(model: &dyn Module<f32>) -> Vec<f32> {
    let mut out = Vec::new();
    model.visit("", &mut |_, entry| {
        if let Entry::Param(p) = entry {
            out.extend(p.value().to_vec());
        }
    });
    out
}

/// Trains with the real step (the defense's gradients, then the optimiser) on each batch: as
/// one replica of `replicas` on its share, or alone on the whole batch. Returns the final
/// parameters and each step's loss.
fn train(
    mut model: Box<dyn Module<f32>>,
    replicas: Option<&Replicas>,
    batches: &[(Tensor<f32>, IndexTensor, Vec<usize>)],
) -> (Vec<f32>, Vec<f64>) {
    let mut defense = Natural;
    let mut optimizer = sgd();
    if let Some(r) = replicas {
        r.start(&mut *model, &defense).unwrap();
    }
    let mut losses = Vec::new();
    for (images, labels, rows) in batches {
        let share = replicas.map_or(0..rows.len(), |r| r.shard(rows.len()));
        let (images, labels) = (
            images.slice(0, share.start, share.end),
            labels.slice(0, share.start, share.end),
        );
        let batch = Batch {
            images: &images,
            labels: &labels,
            indices: &rows[share.clone()],
        };
        let mut attack = Rng::new(0);
        let local = batch_gradients(&*model, &mut defense, &batch, (Rng::new(0), &mut attack));
        let (loss, step) = match replicas {
            Some(r) => r
                .reduce_step(&*model, local, (share.len(), rows.len()), false)
                .unwrap(),
            None => local,
        };
        let (grads, _) = step.expect("a finite loss");
        optimizer.step(&mut *model, &grads);
        losses.push(loss);
    }
    (params(&*model), losses)
}

/// Each replica's parameters and losses after training on `sizes`-sized global batches; every
/// replica but rank 0 starts from another initialisation, which the start broadcast replaces.
fn replicated(world: usize, sizes: &[usize]) -> Vec<(Vec<f32>, Vec<f64>)> {
    let data = batches(sizes);
    let group = InProcess::group(world);
    std::thread::scope(|s| {
        let handles: Vec<_> = group
            .into_iter()
            .map(|c| {
                let data = &data;
                s.spawn(move || {
                    let seed = if c.rank() == 0 {
                        1
                    } else {
                        100 + c.rank() as u64
                    };
                    let replicas = Replicas::new(Box::new(c));
                    train(mlp(seed), Some(&replicas), data)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 + 1e-4 * w.abs(),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn replicas_with_shares_of_a_batch_train_as_one_device_with_all_of_it() {
    // Uneven shares (7 = 3 + 4), and a batch smaller than a world of 3 (one share empty).
    for (world, sizes) in [(2, vec![8, 7, 8, 5]), (3, vec![9, 2, 7])] {
        let (want, want_losses) = train(mlp(1), None, &batches(&sizes));
        let replicas = replicated(world, &sizes);
        let changed = want
            .iter()
            .zip(params(&*mlp(1)))
            .filter(|(a, b)| *a != b)
            .count();
        assert!(changed > want.len() / 2, "training moved the parameters");
        for (rank, (got, losses)) in replicas.iter().enumerate() {
            // Every replica holds the same bits: the reduced gradient is the same everywhere.
            assert_eq!(got, &replicas[0].0, "replica {rank} differs from rank 0");
            assert_close(got, &want, &format!("world {world} parameters"));
            for (l, w) in losses.iter().zip(&want_losses) {
                assert!((l - w).abs() < 1e-5, "world {world} loss {l} vs {w}");
            }
        }
    }
}

#[test]
fn a_replica_whose_loss_is_not_finite_stops_every_replica() {
    let group = InProcess::group(2);
    let out: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = group
            .into_iter()
            .map(|c| {
                s.spawn(move || {
                    let model = mlp(1);
                    let loss = if c.rank() == 1 { f64::NAN } else { 0.5 };
                    let local = (loss, (c.rank() == 0).then(Default::default));
                    let replicas = Replicas::new(Box::new(c));
                    let reduced = replicas.reduce_step(&*model, local, (1, 2), false);
                    (reduced.unwrap(), replicas.stop_agreed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((loss, step), stop) in out {
        assert!(loss.is_nan() && step.is_none() && !stop);
    }
}

/// One replica's run of `mart train`'s loop on the embedded MNIST sample.
fn run_replica(
    out: &Path,
    dataset: &data::Dataset,
    replicas: Option<&Replicas>,
    stop_after_steps: Option<u64>,
    resume: bool,
) -> anyhow::Result<Outcome> {
    let config = TrainConfig {
        epochs: 1,
        batch_size: 8,
        attack_steps: 1,
        train_limit: Some(24),
        eval_limit: Some(6),
        ..TrainConfig::default_run()
    };
    TrainRun {
        out: out.to_path_buf(),
        train: (&dataset.train.images, &dataset.train.labels),
        test: (&dataset.test.images, &dataset.test.labels),
        augment: None,
        stop: Arc::new(AtomicBool::new(false)),
        progress: false,
        stop_after_steps,
        device: Device::Cpu,
        unlabeled: None,
        replicas,
    }
    .run(config, resume)
}

/// Two replicas of a run in `out`, one thread each; rank 0's outcome.
fn two_replicas(
    out: &Path,
    dataset: &data::Dataset,
    stop_after_steps: Option<u64>,
    resume: bool,
) -> Outcome {
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = InProcess::group(2)
            .into_iter()
            .map(|c| {
                s.spawn(move || {
                    let replicas = Replicas::new(Box::new(c));
                    run_replica(out, dataset, Some(&replicas), stop_after_steps, resume).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes[0], outcomes[1], "the replicas ended alike");
    outcomes.into_iter().next().unwrap()
}

#[test]
fn a_replicated_run_writes_once_and_resumes_only_with_its_world_size() {
    let dataset = data::load("mnist-sample", None).unwrap();
    let straight = tempfile::tempdir().unwrap();
    let outcome = two_replicas(straight.path(), &dataset, None, false);
    assert!(matches!(outcome, Outcome::Finished { .. }), "{outcome:?}");
    let metrics = std::fs::read_to_string(straight.path().join("metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        1,
        "one epoch, written once: {metrics}"
    );
    let record: serde_json::Value = serde_json::from_str(metrics.trim()).unwrap();
    // 24 images in all: accuracy and loss are over the whole batch, not one share.
    let acc = record["train_accuracy"].as_f64().unwrap();
    assert!(
        (acc * 24.0 / 100.0 - (acc * 24.0 / 100.0).round()).abs() < 1e-6,
        "{acc}"
    );

    let stopped = tempfile::tempdir().unwrap();
    let outcome = two_replicas(stopped.path(), &dataset, Some(2), false);
    assert_eq!(outcome, Outcome::Interrupted { epoch: 0, batch: 2 });
    let alone = run_replica(stopped.path(), &dataset, None, None, true).unwrap_err();
    let message = format!("{alone:#}");
    assert!(
        message.contains("trained by 2 process(es) but this resume runs 1"),
        "{message}"
    );
    let outcome = two_replicas(stopped.path(), &dataset, None, true);
    assert!(matches!(outcome, Outcome::Finished { .. }), "{outcome:?}");
    let read = |dir: &Path| std::fs::read(dir.join("last.safetensors")).unwrap();
    assert_eq!(
        read(stopped.path()),
        read(straight.path()),
        "stopped and resumed with the same world size, the run is the uninterrupted one"
    );
}
