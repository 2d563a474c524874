//! Figure 1's treated subsets: the regularised CE against its formula in f64 and finite
//! differences, each treatment on a linear model against f64 references (FGSM's step written
//! out from the linear model's gradient), the unchanged configuration of every other run, and
//! the refusal of subsets that do not fit.

mod defense_reference;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use autograd::Tape;
use defense_reference::*;
use mart::attack::{Pgd, Start};
use mart::commands::{RunPlace, train_config};
use mart::defense::{Batch, Defense, Standard, Treated, subset_regularized_loss};
use mart::objective::Objective;
use mart::train::config::{DefenseKind, TrainConfig};
use mart::train::subset::{SubsetTreatment, Treatment};
use nn::Forward;
use tensor::{Device, Rng, Tensor};

/// `KL(softmax(a) || softmax(b))` of one row, in f64.
fn kl_row(a: &[f64], b: &[f64]) -> f64 {
    let (la, lb) = (log_softmax_row(a), log_softmax_row(b));
    la.iter().zip(&lb).map(|(x, y)| x.exp() * (x - y)).sum()
}

#[test]
fn the_regularised_ce_matches_the_formula() {
    let (nat, adv) = (random_logits(21, B), random_logits(22, B));
    let y = labels(B);
    for members in [
        vec![true, false, true, true, false, false],
        vec![false; B],
        vec![true; B],
    ] {
        let beta = 3.0;
        let ce = (0..B)
            .map(|i| ce_row(row(&adv, i), y.data()[i] as usize))
            .sum::<f64>()
            / B as f64;
        let kl = (0..B)
            .filter(|&i| members[i])
            .map(|i| kl_row(row(&nat, i), row(&adv, i)))
            .sum::<f64>()
            / B as f64;
        let loss: Loss<'_> = &|v| subset_regularized_loss(&v[0], &v[1], &y, &members, beta);
        close(
            value_of(loss, &[nat.clone(), adv.clone()], B),
            ce + beta * kl,
        );
        check_gradients(loss, &[nat.clone(), adv.clone()], B);
    }
}

/// The training attack of the tests: 3 steps of 0.1 within 0.3 from a uniform start.
fn attack() -> Pgd {
    Pgd {
        eps: 0.3,
        alpha: 0.1,
        steps: 3,
        start: Start::Uniform,
        objective: Objective::CrossEntropy,
        label: "train-pgd3".into(),
    }
}

/// FGSM on the linear model, written out in f64: the CE's input gradient of example `x` is
/// `W^T (softmax(z) - onehot(y))`; one step of `eps` along its sign, clamped to [0, 1].
fn fgsm_reference(model: &LinearPair, x: &[f64], y: usize, eps: f64) -> Vec<f64> {
    let z = model.logits(x);
    let p: Vec<f64> = log_softmax_row(&z).iter().map(|l| l.exp()).collect();
    (0..PIXELS)
        .map(|j| {
            let g: f64 = (0..K)
                .map(|k| model.weight[k][j] * (p[k] - f64::from(u8::from(k == y))))
                .sum();
            (x[j] + eps * g.signum()).clamp(0.0, 1.0)
        })
        .collect()
}

#[test]
fn each_treatment_changes_the_subset_only() {
    let model = linear_pair(23);
    let rows = 8;
    let images = Rng::new(24).uniform::<f32>([rows, 1, 4, 4], 0.0, 1.0);
    let y = Tensor::from_vec((0..rows).map(|i| (i % K) as u32).collect(), [rows]);
    // Training indices 10..18; the subset holds 11, 14 and 15 of them (and 30, not in the batch).
    let indices: Vec<usize> = (10..18).collect();
    let subset_rows = [1, 4, 5];
    let beta = 2.0;
    let clean = images.to_f64_vec();
    let pgd = attack()
        .run(&model.module, &images, &y, None, &mut Rng::new(25))
        .to_f64_vec();
    let pixels = |v: &[f64], i: usize| v[i * PIXELS..(i + 1) * PIXELS].to_vec();
    let mean_ce = |inputs: &[Vec<f64>]| {
        (0..rows)
            .map(|i| ce_row(&model.logits(&inputs[i]), y.data()[i] as usize))
            .sum::<f64>()
            / rows as f64
    };
    let loss_of = |defense: &mut dyn Defense| {
        let tape = Tape::new();
        let mut fwd = Forward::train(&tape, Rng::new(0));
        let batch = Batch {
            images: &images,
            labels: &y,
            indices: &indices,
        };
        let out = defense.loss(&model.module, &batch, &mut fwd, &mut Rng::new(25));
        f64::from(out.loss.value().item())
    };
    for treatment in [
        Treatment::NotPerturbed,
        Treatment::Fgsm,
        Treatment::Regularized,
    ] {
        let subset = SubsetTreatment::new("S-", vec![30, 15, 11, 14], treatment);
        let inputs: Vec<Vec<f64>> = (0..rows)
            .map(|i| match (treatment, subset_rows.contains(&i)) {
                (Treatment::NotPerturbed, true) => pixels(&clean, i),
                (Treatment::Fgsm, true) => {
                    fgsm_reference(&model, &pixels(&clean, i), y.data()[i] as usize, 0.3)
                }
                _ => pixels(&pgd, i),
            })
            .collect();
        let mut want = mean_ce(&inputs);
        if treatment == Treatment::Regularized {
            want += beta / rows as f64
                * subset_rows
                    .iter()
                    .map(|&i| kl_row(&model.logits(&pixels(&clean, i)), &model.logits(&inputs[i])))
                    .sum::<f64>();
        }
        let got = loss_of(&mut Treated::new(attack(), subset, beta));
        assert!(
            (got - want).abs() < 1e-5 * want.abs().max(1.0),
            "{treatment:?}: {got} vs {want}"
        );
    }
    // A batch with none of the subset is standard adversarial training, bit for bit.
    let elsewhere = SubsetTreatment::new("S+", vec![0, 1, 2, 40], Treatment::NotPerturbed);
    let treated = loss_of(&mut Treated::new(attack(), elsewhere, beta));
    assert_eq!(treated, loss_of(&mut Standard::new(attack())));
    assert!(
        (treated - mean_ce(&(0..rows).map(|i| pixels(&pgd, i)).collect::<Vec<_>>())).abs() < 1e-5
    );
}

#[test]
fn runs_without_a_subset_keep_their_configuration() {
    let plain = serde_json::to_value(TrainConfig::default_run()).unwrap();
    assert!(
        plain.get("subset").is_none(),
        "no key, so no run name moves"
    );
    let back: TrainConfig = serde_json::from_value(plain).unwrap();
    assert_eq!(back.subset, None);
    let treated = TrainConfig {
        defense: DefenseKind::Standard,
        subset: Some(SubsetTreatment::new("S+", vec![5, 2], Treatment::Fgsm)),
        ..TrainConfig::default_run()
    };
    let json = serde_json::to_string(&treated).unwrap();
    assert!(json.contains(r#""subset":{"name":"S+","examples":[2,5],"treatment":"Fgsm"}"#));
    assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), treated);
}

#[test]
fn subsets_that_do_not_fit_the_run_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let base = TrainConfig {
        train_limit: Some(64),
        epochs: 1,
        autoattack_limit: 0,
        ..TrainConfig::default_run()
    };
    for (config, expected) in [
        (
            TrainConfig {
                subset: Some(SubsetTreatment::new("S-", vec![3], Treatment::Fgsm)),
                ..base.clone()
            },
            "modifies standard adversarial training, not mart",
        ),
        (
            TrainConfig {
                defense: DefenseKind::Standard,
                subset: Some(SubsetTreatment::new("S-", vec![3, 64], Treatment::Fgsm)),
                ..base.clone()
            },
            "holds training example 64, but the run trains on 64",
        ),
    ] {
        let place = RunPlace {
            out: dir.path().join(expected.len().to_string()),
            data_dir: None,
            device: Device::Cpu,
        };
        let err = train_config(
            Some(config),
            &place,
            Arc::new(AtomicBool::new(false)),
            false,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains(expected), "{err:#}");
        assert!(!place.out.join("last.safetensors").exists());
    }
}
