//! Dynamic adversarial training: its loss against the formula computed in f64 with plain loops
//! and its gradient against finite differences; the FOSC, its threshold schedule and the
//! stopping rule of the FOSC attack against an f64 port on a linear model; the defense's
//! weighting by epoch, and a resumed run bit for bit.

mod defense_reference;

use autograd::Tape;
use defense_reference::*;
use mart::defense::dynamic::{FoscPgd, ce_weights, fosc, fosc_threshold};
use mart::defense::{Batch, Defense, Dynamic, DynamicOptions, dynamic_loss};
use mart::train::config::{DefenseKind, DynamicSettings, FoscReference, TrainConfig};
use mart::train::{Outcome, TrainRun};
use mart::{commands, data};
use nn::Forward;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tensor::{Device, Rng, Tensor};

#[test]
fn dynamic_loss_is_the_mean_ce_then_the_self_weighted_ce() {
    let z = random_logits(1, B);
    let y = labels(B);
    let ce: Vec<f64> = (0..B)
        .map(|i| ce_row(row(&z, i), y.data()[i] as usize))
        .collect();
    let mean = ce.iter().sum::<f64>() / B as f64;
    close(
        value_of(
            &|v| dynamic_loss(&v[0], &y, None),
            std::slice::from_ref(&z),
            B,
        ),
        mean,
    );
    // Two zero weights: sum(w CE) / B divided by the fraction 4/6 of non-zero weights.
    let w = [0.7, 0.0, 1.9, 0.2, 0.0, 3.1];
    let w_tensor = Tensor::from_vec(w.to_vec(), [B]);
    let no_weight = Tensor::<f64>::zeros([B]);
    let weighted: f64 = (0..B).map(|i| w[i] * ce[i]).sum::<f64>() / B as f64 / (4.0 / 6.0);
    close(
        value_of(
            &|v| dynamic_loss(&v[0], &y, Some(&w_tensor)),
            std::slice::from_ref(&z),
            B,
        ),
        weighted,
    );
    assert_eq!(
        value_of(
            &|v| dynamic_loss(&v[0], &y, Some(&no_weight)),
            std::slice::from_ref(&z),
            B
        ),
        0.0
    );
    check_gradients(
        &|v| dynamic_loss(&v[0], &y, None),
        std::slice::from_ref(&z),
        B,
    );
    check_gradients(&|v| dynamic_loss(&v[0], &y, Some(&w_tensor)), &[z], B);
}

#[test]
fn dynamic_weights_are_each_examples_own_ce() {
    let z = Rng::new(2).normal::<f32>([B, C], 0.0, 3.0);
    let y = labels(B);
    let mut logits = z.to_vec();
    // A row the model is sure of: p_y rounds to 1 in f32, so its weight is 0.
    logits[0] = 100.0;
    let z = Tensor::from_vec(logits.clone(), [B, C]);
    let weights = ce_weights(&z, &y).to_f64_vec();
    let z64: Vec<f64> = logits.iter().map(|&v| f64::from(v)).collect();
    assert_eq!(weights[0], 0.0);
    for (i, &got) in weights.iter().enumerate().skip(1) {
        let want = ce_row(row(&z64, i), y.data()[i] as usize);
        assert!(
            (got - want).abs() < 1e-5 * want.max(1.0),
            "row {i}: {got} vs {want}"
        );
    }
}

#[test]
fn fosc_threshold_decreases_linearly_to_zero() {
    let at = |epoch| fosc_threshold(0.5, 100, epoch);
    assert_eq!(at(0), 0.5);
    assert_eq!(at(40), 0.3);
    assert_eq!(at(50), 0.25);
    assert_eq!(at(100), 0.0);
    assert_eq!(at(119), 0.0);
    // T' defaults to 5/6 of the run, rounded, at least 1.
    let d = DynamicSettings::default();
    assert_eq!((d.c_max, d.reference), (0.5, FoscReference::Start));
    assert_eq!(d.t_prime_for(120), 100);
    assert_eq!(d.t_prime_for(8), 7);
    assert_eq!(d.t_prime_for(1), 1);
    let fixed = DynamicSettings {
        t_prime: Some(3),
        ..d
    };
    assert_eq!(fixed.t_prime_for(120), 3);
}

#[test]
fn fosc_matches_a_hand_computation() {
    // Row 0: ||g||_1 = 3.5, <g, x - ref> = 0.1 + 0.2 + 0.1 + 0 = 0.4, so 0.3 * 3.5 - 0.4 = 0.65.
    // Row 1: ||g||_1 = 1, <g, x - ref> = -0.3, so 0.3 + 0.3 = 0.6.
    let g = Tensor::from_vec(vec![1.0, -2.0, 0.5, 0.0, 0.0, 0.0, -1.0, 0.0], [2, 1, 2, 2]);
    let reference = Tensor::from_vec(vec![0.5; 8], [2, 1, 2, 2]);
    let x = Tensor::from_vec(vec![0.6, 0.4, 0.7, 0.8, 0.5, 0.5, 0.8, 0.2], [2, 1, 2, 2]);
    let c = fosc(&g, &x, &reference, 0.3).to_vec();
    assert!((c[0] - 0.65).abs() < 1e-6, "{c:?}");
    assert!((c[1] - 0.6).abs() < 1e-6, "{c:?}");
}

/// The input gradient of CE for the linear classifier: `W^T (softmax(z) - onehot(y))`.
fn ce_gradient(model: &LinearPair, x: &[f64], y: usize) -> Vec<f64> {
    let p: Vec<f64> = log_softmax_row(&model.logits(x))
        .iter()
        .map(|l| l.exp())
        .collect();
    (0..PIXELS)
        .map(|q| {
            (0..K)
                .map(|k| model.weight[k][q] * (p[k] - f64::from(u8::from(k == y))))
                .sum()
        })
        .collect()
}

fn fosc64(g: &[f64], x: &[f64], reference: &[f64], eps: f64) -> f64 {
    let l1: f64 = g.iter().map(|v| v.abs()).sum();
    let dot: f64 = (0..g.len()).map(|q| g[q] * (x[q] - reference[q])).sum();
    eps * l1 - dot
}

/// The published attack, one example at a time: each iterate, and the FOSC at each.
fn fosc_port(
    model: &LinearPair,
    nat: &[f64],
    y: usize,
    start: &[f64],
    attack: &FoscPgd,
    natural_reference: bool,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let (eps, alpha) = (f64::from(attack.eps), f64::from(attack.alpha));
    let reference = if natural_reference { nat } else { start };
    let mut x = start.to_vec();
    let mut iterates = Vec::new();
    let mut c = Vec::new();
    for step in 0..attack.steps {
        let g = ce_gradient(model, &x, y);
        if step > 0 {
            c.push(fosc64(&g, &x, reference, eps));
            if *c.last().unwrap() <= attack.threshold {
                break;
            }
        }
        for q in 0..PIXELS {
            let stepped = x[q] + alpha * g[q].signum() * f64::from(u8::from(g[q] != 0.0));
            x[q] = stepped.clamp(nat[q] - eps, nat[q] + eps).clamp(0.0, 1.0);
        }
        iterates.push(x.clone());
    }
    (iterates, c)
}

#[test]
fn the_fosc_attack_matches_the_port_and_stopped_examples_stay_put() {
    let model = linear_pair(3);
    let rows = 12;
    let mut rng = Rng::new(4);
    let images = rng
        .uniform::<f32>([rows, 1, 4, 4], -0.2, 1.2)
        .clamp(0.0, 1.0);
    let y = Tensor::from_vec((0..rows).map(|i| (i % K) as u32).collect(), [rows]);
    let start = images.add(&rng.uniform::<f32>([rows, 1, 4, 4], -0.3, 0.3));
    let nat = images.to_f64_vec();
    let start64 = start.to_f64_vec();
    for natural_reference in [false, true] {
        let mut attack = FoscPgd {
            eps: 0.3,
            alpha: 0.075,
            steps: 10,
            threshold: f64::NEG_INFINITY,
            reference: if natural_reference {
                FoscReference::Natural
            } else {
                FoscReference::Start
            },
        };
        // The threshold: the median FOSC after the first step, so some examples stop there.
        let mut first: Vec<f64> = (0..rows)
            .map(|i| {
                let s = &start64[i * PIXELS..(i + 1) * PIXELS];
                let n = &nat[i * PIXELS..(i + 1) * PIXELS];
                fosc_port(
                    &model,
                    n,
                    y.data()[i] as usize,
                    s,
                    &attack,
                    natural_reference,
                )
                .1[0]
            })
            .collect();
        first.sort_by(f64::total_cmp);
        attack.threshold = 0.5 * (first[rows / 2 - 1] + first[rows / 2]);

        let runs: Vec<_> = (0..=attack.steps)
            .map(|steps| {
                FoscPgd {
                    steps,
                    ..attack.clone()
                }
                .run_from(&model.module, &images, &y, start.clone())
            })
            .collect();
        let moved_per_example: Vec<usize> = runs
            .last()
            .unwrap()
            .steps_moved
            .to_vec()
            .iter()
            .map(|&m| m as usize)
            .collect();
        let mut at_first_check = 0;
        for i in 0..rows {
            let s = &start64[i * PIXELS..(i + 1) * PIXELS];
            let n = &nat[i * PIXELS..(i + 1) * PIXELS];
            let (iterates, c) = fosc_port(
                &model,
                n,
                y.data()[i] as usize,
                s,
                &attack,
                natural_reference,
            );
            let moved = iterates.len();
            assert_eq!(moved_per_example[i], moved, "example {i}: {c:?}");
            // Every FOSC before the stop was above the threshold, the one at the stop not.
            for (k, &ck) in c.iter().enumerate() {
                assert_eq!(
                    ck > attack.threshold,
                    k + 1 < moved || moved == attack.steps
                );
            }
            let got = |steps: usize| {
                runs[steps].adversarial.to_f64_vec()[i * PIXELS..(i + 1) * PIXELS].to_vec()
            };
            for (k, want) in iterates.iter().enumerate() {
                for (a, b) in got(k + 1).iter().zip(want) {
                    assert!((a - b).abs() < 1e-5, "example {i} step {k}: {a} vs {b}");
                }
            }
            // Once stopped, the example does not move at any later step.
            for steps in moved..=attack.steps {
                assert_eq!(got(steps), got(moved), "example {i} moved after stopping");
            }
            at_first_check += usize::from(moved == 1);
            assert!(moved >= 1, "step 0 moves every example");
        }
        // Half the examples stop at the first check; the others go on (a linear model's FOSC
        // keeps falling as the example reaches the ball's corner, so they stop later).
        assert_eq!(at_first_check, rows / 2, "{:?}", moved_per_example);
        assert!(
            moved_per_example.iter().any(|&m| m > 2),
            "{:?}",
            moved_per_example
        );
    }
}

#[test]
fn dynamic_defense_weights_from_epoch_one_and_follows_the_schedule() {
    let model = linear_pair(15);
    let rows = 8;
    let images = Rng::new(16).uniform::<f32>([rows, 1, 4, 4], 0.0, 1.0);
    let y = Tensor::from_vec((0..rows).map(|i| (i % K) as u32).collect(), [rows]);
    let indices: Vec<usize> = (0..rows).collect();
    let batch = Batch {
        images: &images,
        labels: &y,
        indices: &indices,
    };
    let options = DynamicOptions {
        c_max: 0.5,
        t_prime: 4,
        reference: FoscReference::Start,
    };
    let mut defense = Dynamic::new(0.3, 0.075, 10, options);
    let loss_at = |defense: &mut Dynamic, epoch: usize| {
        defense.begin_epoch(epoch);
        let tape = Tape::new();
        let mut fwd = Forward::train(&tape, Rng::new(0));
        let out = defense.loss(&model.module, &batch, &mut fwd, &mut Rng::new(17));
        // The adversarial examples of the same stream, and the CE of each.
        let adv = defense
            .attack
            .run(&model.module, &images, &y, &mut Rng::new(17))
            .adversarial
            .to_f64_vec();
        let ce: Vec<f64> = (0..rows)
            .map(|i| {
                let z = model.logits(&adv[i * PIXELS..(i + 1) * PIXELS]);
                -log_softmax_row(&z)[y.data()[i] as usize]
            })
            .collect();
        (f64::from(out.loss.value().item()), ce)
    };
    let (epoch0, ce) = loss_at(&mut defense, 0);
    assert_eq!(defense.attack.threshold, 0.5);
    let mean = ce.iter().sum::<f64>() / rows as f64;
    assert!((epoch0 - mean).abs() < 1e-5 * mean, "{epoch0} vs {mean}");
    let (epoch1, ce) = loss_at(&mut defense, 1);
    assert_eq!(defense.attack.threshold, 0.375);
    let weighted = ce.iter().map(|c| c * c).sum::<f64>() / rows as f64;
    assert!(
        (epoch1 - weighted).abs() < 1e-4 * weighted,
        "{epoch1} vs {weighted}"
    );
    loss_at(&mut defense, 6);
    assert_eq!(defense.attack.threshold, 0.0);
}

/// Trains Dynamic on 64 digits for 3 epochs of 2 batches into `out`, stopping after
/// `stop_after_steps` steps, or resuming the run there.
fn dynamic_run(out: &Path, dataset: &data::Dataset, stop_after_steps: Option<u64>, resume: bool) {
    let config = TrainConfig {
        defense: DefenseKind::Dynamic,
        epochs: 3,
        batch_size: 32,
        attack_steps: 3,
        train_limit: Some(64),
        eval_limit: Some(20),
        final_eval_limit: Some(20),
        autoattack_limit: 0,
        ..TrainConfig::default_run()
    };
    let outcome = TrainRun {
        out: out.to_path_buf(),
        train: (&dataset.train.images, &dataset.train.labels),
        test: (&dataset.test.images, &dataset.test.labels),
        augment: None,
        stop: Arc::new(AtomicBool::new(false)),
        progress: false,
        stop_after_steps,
        device: Device::Cpu,
        unlabeled: None,
        replicas: None,
    }
    .run(config, resume)
    .unwrap();
    assert_eq!(
        matches!(outcome, Outcome::Finished { .. }),
        stop_after_steps.is_none(),
        "{outcome:?}"
    );
}

fn parameters(path: &Path) -> Vec<Vec<f32>> {
    let model = commands::load_model("smallcnn", path, Device::Cpu).unwrap();
    let mut out = Vec::new();
    model.visit("", &mut |_, entry| {
        if let nn::Entry::Param(p) = entry {
            out.push(p.value().to_vec())
        }
    });
    out
}

#[test]
fn a_resumed_dynamic_run_sets_the_epochs_threshold_and_weights_as_the_straight_one() {
    let dataset = data::load("mnist-sample", None).unwrap();
    let straight = tempfile::tempdir().unwrap();
    dynamic_run(straight.path(), &dataset, None, false);
    // Stopped in the middle of epoch 2, whose loss is weighted and whose threshold is 1/3.
    let split = tempfile::tempdir().unwrap();
    dynamic_run(split.path(), &dataset, Some(3), false);
    dynamic_run(split.path(), &dataset, None, true);
    assert!(
        parameters(&split.path().join("last.safetensors"))
            == parameters(&straight.path().join("last.safetensors")),
        "the resumed run differs from the straight one"
    );
}
