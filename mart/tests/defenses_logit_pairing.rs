//! ALP and CLP: each loss against its formula computed in f64 with plain loops and its gradient
//! against finite differences, CLP's pairing, and the flags of Dynamic's, ALP's and CLP's
//! constants (older run folders load with the defaults).

mod defense_reference;

use autograd::Tape;
use defense_reference::*;
use mart::cli::TrainArgs;
use mart::defense::{Batch, Clp, Defense, alp_loss, clp_loss, clp_order, smoothed_cross_entropy};
use mart::train::config::{DynamicSettings, FoscReference, LogitPairingSettings, TrainConfig};
use nn::Forward;
use tensor::{Rng, Tensor};

/// `mean_i [-(1 - s) log p_iy - (s/K) sum_k log p_ik]`.
fn smoothed_ce_reference(z: &[f64], y: &[u32], s: f64) -> f64 {
    let rows = y.len();
    (0..rows)
        .map(|i| {
            let l = log_softmax_row(row(z, i));
            -(1.0 - s) * l[y[i] as usize] - s / C as f64 * l.iter().sum::<f64>()
        })
        .sum::<f64>()
        / rows as f64
}

fn mean_square(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

#[test]
fn alp_loss_matches_the_formula() {
    let (clean, adv) = (random_logits(5, B), random_logits(6, B));
    let y = labels(B);
    for smoothing in [0.0, 0.1] {
        // TensorFlow's smoothed targets, written out: 1 - s + s/K on the label, s/K elsewhere.
        let targets = |i: usize, k: usize| {
            let on = if k == y.data()[i] as usize { 1.0 } else { 0.0 };
            on * (1.0 - smoothing) + smoothing / C as f64
        };
        let mixed_ce: f64 = [&clean, &adv]
            .iter()
            .flat_map(|z| {
                (0..B).map(move |i| {
                    let l = log_softmax_row(row(z, i));
                    -(0..C).map(|k| targets(i, k) * l[k]).sum::<f64>()
                })
            })
            .sum::<f64>()
            / (2 * B) as f64;
        let want = mixed_ce + 0.5 * mean_square(&clean, &adv);
        let loss: Loss<'_> = &|v| alp_loss(&v[0], &v[1], &y, 0.5, smoothing);
        close(value_of(loss, &[clean.clone(), adv.clone()], B), want);
        check_gradients(loss, &[clean.clone(), adv.clone()], B);
        close(
            value_of(
                &|v| smoothed_cross_entropy(&v[0], &y, smoothing),
                std::slice::from_ref(&clean),
                B,
            ),
            smoothed_ce_reference(&clean, y.data(), smoothing),
        );
    }
}

#[test]
fn clp_loss_pairs_the_two_halves_of_the_order() {
    for rows in [6, 7] {
        let z = random_logits(7, rows);
        let y = labels(rows);
        let order = clp_order(rows, &mut Rng::new(8));
        let half = rows / 2;
        let ce = (0..rows)
            .map(|i| ce_row(row(&z, i), y.data()[i] as usize))
            .sum::<f64>()
            / rows as f64;
        let pairs: f64 = (0..half)
            .map(|i| mean_square(row(&z, order[i]), row(&z, order[half + i])))
            .sum::<f64>()
            / half as f64;
        let loss: Loss<'_> = &|v| clp_loss(&v[0], &y, &order, 0.5);
        close(
            value_of(loss, std::slice::from_ref(&z), rows),
            ce + 0.5 * pairs,
        );
        check_gradients(loss, &[z], rows);
    }
    // A single example has no pair: the CE alone.
    let z = random_logits(9, 1);
    let y = labels(1);
    close(
        value_of(
            &|v| clp_loss(&v[0], &y, &[0], 0.5),
            std::slice::from_ref(&z),
            1,
        ),
        ce_row(&z, 0),
    );
}

#[test]
fn clp_order_is_a_fresh_permutation_and_the_defense_uses_it() {
    let a = clp_order(64, &mut Rng::new(10));
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..64).collect::<Vec<_>>());
    assert_ne!(a, (0..64).collect::<Vec<_>>(), "the batch is shuffled");
    assert_ne!(a, clp_order(64, &mut Rng::new(11)));

    // The defense on a linear model: CE plus the pairs of clp_order drawn from its stream.
    let model = linear_pair(12);
    let rows = 8;
    let images = Rng::new(13).uniform::<f32>([rows, 1, 4, 4], 0.0, 1.0);
    let y = Tensor::from_vec((0..rows).map(|i| (i % K) as u32).collect(), [rows]);
    let indices: Vec<usize> = (0..rows).collect();
    let tape = Tape::new();
    let mut fwd = Forward::train(&tape, Rng::new(0));
    let batch = Batch {
        images: &images,
        labels: &y,
        indices: &indices,
    };
    let out = Clp { lambda: 0.5 }.loss(&model.module, &batch, &mut fwd, &mut Rng::new(14));
    let order = clp_order(rows, &mut Rng::new(14));
    let x = images.to_f64_vec();
    let z: Vec<Vec<f64>> = (0..rows)
        .map(|i| model.logits(&x[i * PIXELS..(i + 1) * PIXELS]))
        .collect();
    let ce = (0..rows)
        .map(|i| -log_softmax_row(&z[i])[y.data()[i] as usize])
        .sum::<f64>()
        / rows as f64;
    let pairs = (0..rows / 2)
        .map(|i| mean_square(&z[order[i]], &z[order[rows / 2 + i]]))
        .sum::<f64>()
        / (rows / 2) as f64;
    let got = f64::from(out.loss.value().item());
    let want = ce + 0.5 * pairs;
    assert!((got - want).abs() < 1e-5 * want, "{got} vs {want}");
}

#[test]
fn the_constants_are_flags_and_older_configs_load_with_the_defaults() {
    let args = TrainArgs {
        defense: Some("dynamic".into()),
        dynamic_c_max: Some(0.3),
        dynamic_t_prime: Some(7),
        fosc_reference: Some("natural".into()),
        alp_lambda: Some(1.0),
        alp_label_smoothing: Some(0.1),
        clp_lambda: Some(0.25),
        ..TrainArgs::default()
    };
    let c = args.to_config().unwrap();
    assert_eq!(
        c.dynamic,
        DynamicSettings {
            c_max: 0.3,
            t_prime: Some(7),
            reference: FoscReference::Natural
        }
    );
    assert_eq!(
        c.logit_pairing,
        LogitPairingSettings {
            alp_lambda: 1.0,
            alp_label_smoothing: 0.1,
            clp_lambda: 0.25
        }
    );
    let defaults = TrainArgs::default().to_config().unwrap();
    assert_eq!(defaults.logit_pairing, LogitPairingSettings::default());
    assert_eq!(
        (
            defaults.logit_pairing.alp_lambda,
            defaults.logit_pairing.alp_label_smoothing,
            defaults.logit_pairing.clp_lambda
        ),
        (0.5, 0.0, 0.5)
    );
    for (bad, what) in [
        (
            TrainArgs {
                fosc_reference: Some("paper".into()),
                ..TrainArgs::default()
            },
            "start or natural",
        ),
        (
            TrainArgs {
                dynamic_t_prime: Some(0),
                ..TrainArgs::default()
            },
            "--dynamic-t-prime",
        ),
        (
            TrainArgs {
                alp_label_smoothing: Some(1.0),
                ..TrainArgs::default()
            },
            "--alp-label-smoothing",
        ),
        (
            TrainArgs {
                clp_lambda: Some(-1.0),
                ..TrainArgs::default()
            },
            "--clp-lambda",
        ),
        (
            TrainArgs {
                defense: Some("fosc".into()),
                ..TrainArgs::default()
            },
            "dynamic, alp, clp or natural",
        ),
    ] {
        let err = bad.to_config().unwrap_err();
        assert!(err.contains(what), "{err}");
    }
    // A config.json written before these settings existed.
    let mut old = serde_json::to_value(TrainConfig::default_run()).unwrap();
    let map = old.as_object_mut().unwrap();
    map.remove("dynamic");
    map.remove("logit_pairing");
    let loaded: TrainConfig = serde_json::from_value(old).unwrap();
    assert_eq!(loaded, TrainConfig::default_run());
}
