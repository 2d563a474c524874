//! SPSA (torchattacks' finite-difference Adam): its estimate and Adam step against f64
//! references; and the contract Square and SPSA both keep: the budget, determinism, that both
//! lower a model's accuracy, and the CPU's points on the GPU path. Square's own rules are in
//! `square.rs`.

mod black_box_kit;

use black_box_kit::{LinearModel, cycling_labels, image, images, own_labels, predictions};
use mart::attack::{Attack, Spsa, Square};
use nn::{EntryMut, ModelKind, Module};
use tensor::{IndexTensor, Rng, Tensor};

/// SmallCNN with random weights in its (zero-initialised) last layer, as in `attacks.rs`.
fn small_cnn(rng: &mut Rng) -> Box<dyn Module<f32>> {
    let mut model = ModelKind::SmallCnn.build::<f32>(rng);
    model.visit_mut("", &mut |name, entry| {
        if let EntryMut::Param(p) = entry
            && name.starts_with("classifier.fc3")
        {
            *p.value_mut() = rng.normal(p.value().shape().clone(), 0.0, 0.3);
        }
    });
    model
}

fn accuracy(model: &dyn Module<f32>, x: &Tensor<f32>, labels: &IndexTensor) -> f64 {
    let right = predictions(model, x)
        .iter()
        .zip(labels.data())
        .filter(|(p, l)| p == l)
        .count();
    right as f64 / labels.numel() as f64
}

fn assert_within_budget(name: &str, adv: &Tensor<f32>, clean: &Tensor<f32>, eps: f32) {
    assert_eq!(adv.dims(), clean.dims(), "{name}: shape");
    for (&a, &x) in adv.data().iter().zip(clean.data()) {
        assert!((0.0..=1.0).contains(&a), "{name}: pixel {a} outside [0, 1]");
        assert!((a - x).abs() <= eps + 1e-6, "{name}: |{a} - {x}| > {eps}");
    }
}

#[test]
fn both_attacks_stay_in_the_ball_and_in_range() {
    let mut rng = Rng::new(1);
    let linear = LinearModel::new(10, 3 * 8 * 8, &mut rng);
    let x = images([6, 3, 8, 8], &mut rng);
    let y = own_labels(&linear.model, &x);
    for eps in [0.05f32, 0.3] {
        let mut square = Square::standard(eps);
        square.queries = 30;
        let mut spsa = Spsa::new(eps, 4, 16);
        spsa.lr = 0.1; // big steps, so the eps clamp bites within four of them
        for attack in [&square as &dyn Attack, &spsa] {
            let adv = attack.perturb(&linear.model, &x, &y, &mut rng);
            assert_within_budget(&attack.name(), &adv, &x, eps);
            assert_ne!(adv.data(), x.data(), "{}: nothing moved", attack.name());
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_points() {
    let mut rng = Rng::new(2);
    let linear = LinearModel::new(10, 3 * 8 * 8, &mut rng);
    let x = images([6, 3, 8, 8], &mut rng);
    let y = own_labels(&linear.model, &x);
    let square = Square {
        queries: 20,
        ..Square::standard(0.1)
    };
    let spsa = Spsa::new(0.1, 2, 8);
    for attack in [&square as &dyn Attack, &spsa] {
        let first = attack.perturb(&linear.model, &x, &y, &mut Rng::new(7));
        let again = attack.perturb(&linear.model, &x, &y, &mut Rng::new(7));
        assert_eq!(first.data(), again.data(), "{}", attack.name());
    }
    // The seed is used: Square's best points (changed for every image) and SPSA's output.
    let run = |seed| {
        square
            .single_run(&linear.model, &x, &y, &mut Rng::new(seed))
            .best
    };
    assert_eq!(run(7).data(), run(7).data());
    assert_ne!(run(7).data(), run(8).data());
    let spsa_of = |seed| spsa.perturb(&linear.model, &x, &y, &mut Rng::new(seed));
    assert_ne!(spsa_of(7).data(), spsa_of(8).data());
}

#[test]
fn spsa_estimate_on_a_linear_margin_points_along_the_gradient() {
    let (c, hw) = (3, 4);
    let features = c * hw * hw;
    let mut rng = Rng::new(6);
    let linear = LinearModel::new(2, features, &mut rng);
    let (x, y) = (images([2, c, hw, hw], &mut rng), cycling_labels(2, 2));
    let spsa = Spsa::new(0.1, 1, 4096);
    let estimate = spsa.gradient_estimate(&linear.model, &x, &y, &mut rng);
    for i in 0..2 {
        let truth = linear.two_class_gradient(y.data()[i] as usize, features);
        let est: Vec<f64> = image(&estimate, i).iter().map(|&e| f64::from(e)).collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        let cosine = dot(&est, &truth) / (dot(&est, &est) * dot(&truth, &truth)).sqrt();
        // Unbiased: E[(g.v) v] = g; with d = 48 and n = 4096 the cosine is about 0.99.
        assert!(cosine > 0.95, "cosine {cosine}");
        let projection = dot(&est, &truth) / dot(&truth, &truth);
        assert!((projection - 1.0).abs() < 0.15, "projection {projection}");
    }
}

#[test]
fn spsa_single_direction_gives_the_directional_derivative_times_the_direction() {
    let features = 3 * 4 * 4;
    let mut rng = Rng::new(7);
    let linear = LinearModel::new(2, features, &mut rng);
    let (x, y) = (images([3, 3, 4, 4], &mut rng), cycling_labels(3, 2));
    let spsa = Spsa::new(0.1, 1, 1);
    let estimate = spsa.gradient_estimate(&linear.model, &x, &y, &mut rng);
    // v up to a sign shared by the batch: est_0 = (g_0.v) v, so v' = sign(est_0) = +-v and
    // (g.v) v = (g.v') v'.
    let v: Vec<f64> = image(&estimate, 0)
        .iter()
        .map(|&e| f64::from(e.signum()))
        .collect();
    for i in 0..3 {
        // Every coordinate of the estimate is +-(g.v), with v's signs.
        let truth = linear.two_class_gradient(y.data()[i] as usize, features);
        let directional: f64 = truth.iter().zip(&v).map(|(g, v)| g * v).sum();
        for (&e, v) in image(&estimate, i).iter().zip(&v) {
            let want = directional * v;
            assert!(
                (f64::from(e) - want).abs() < 1e-3 * want.abs().max(1.0),
                "{e} vs {want}"
            );
        }
    }
}

#[test]
fn spsa_direction_chunks_do_not_change_the_estimate() {
    let mut rng = Rng::new(8);
    let linear = LinearModel::new(10, 3 * 4 * 4, &mut rng);
    let (x, y) = (images([3, 3, 4, 4], &mut rng), cycling_labels(3, 10));
    let whole = Spsa {
        max_batch: 200,
        ..Spsa::new(0.1, 1, 150)
    };
    let chunked = Spsa {
        max_batch: 64,
        ..whole.clone()
    };
    let a = whole.gradient_estimate(&linear.model, &x, &y, &mut Rng::new(1));
    let b = chunked.gradient_estimate(&linear.model, &x, &y, &mut Rng::new(1));
    for (p, q) in a.data().iter().zip(b.data()) {
        assert!((p - q).abs() < 1e-4 * p.abs().max(1.0), "{p} vs {q}");
    }
}

/// Three steps against torch.optim.Adam and `linf_clamp_` computed in f64 on the same estimates.
#[test]
fn spsa_takes_adam_steps_down_the_margin_then_clamps() {
    let (eps, lr) = (0.05f32, 0.02f32);
    let mut rng = Rng::new(9);
    let linear = LinearModel::new(2, 3 * 4 * 4, &mut rng);
    let (x, y) = (images([2, 3, 4, 4], &mut rng), cycling_labels(2, 2));
    let spsa = Spsa {
        lr,
        ..Spsa::new(eps, 3, 32)
    };
    let adv = spsa.perturb(&linear.model, &x, &y, &mut Rng::new(3));

    let mut estimates = Rng::new(3);
    let clean: Vec<f64> = x.to_f64_vec();
    let mut dx = vec![0.0f64; clean.len()];
    let (mut m, mut v) = (vec![0.0f64; clean.len()], vec![0.0f64; clean.len()]);
    for t in 1..=3 {
        let point: Vec<f64> = clean.iter().zip(&dx).map(|(a, d)| a + d).collect();
        let point = Tensor::from_f64s(&point, x.shape().clone());
        let g = spsa
            .gradient_estimate(&linear.model, &point, &y, &mut estimates)
            .to_f64_vec();
        let (bias1, bias2) = (1.0 - 0.9f64.powi(t), 1.0 - 0.999f64.powi(t));
        for k in 0..clean.len() {
            m[k] = 0.9 * m[k] + 0.1 * g[k];
            v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k];
            let step = f64::from(lr) / bias1 * m[k] / (v[k].sqrt() / bias2.sqrt() + 1e-8);
            let moved = (dx[k] - step).clamp(-f64::from(eps), f64::from(eps));
            dx[k] = (clean[k] + moved).clamp(0.0, 1.0) - clean[k];
        }
    }
    let mut moved = 0;
    for (k, &a) in adv.data().iter().enumerate() {
        let want = clean[k] + dx[k];
        assert!(
            (f64::from(a) - want).abs() < 1e-5,
            "pixel {k}: {a} vs {want}"
        );
        moved += usize::from(dx[k].abs() > 0.01);
    }
    assert!(moved > clean.len() / 2, "only {moved} pixels moved");
    let margins_fell = (0..2).all(|i| {
        let label = y.data()[i] as usize;
        linear.margin(image(&adv, i), label) < linear.margin(image(&x, i), label)
    });
    assert!(margins_fell, "SPSA climbed the margin");
}

#[test]
fn both_attacks_lower_the_accuracy_of_a_small_cnn() {
    let mut rng = Rng::new(10);
    let model = small_cnn(&mut rng);
    let x = images([8, 1, 28, 28], &mut rng);
    let y = own_labels(&*model, &x);
    let eps = 0.3;
    let square = Square {
        queries: 100,
        ..Square::standard(eps)
    };
    let spsa = Spsa {
        lr: 0.05,
        ..Spsa::new(eps, 4, 32)
    };
    for attack in [&square as &dyn Attack, &spsa] {
        let adv = attack.perturb(&*model, &x, &y, &mut rng);
        assert_within_budget(&attack.name(), &adv, &x, eps);
        let robust = accuracy(&*model, &adv, &y);
        assert!(
            robust < 1.0,
            "{}: accuracy {robust} not below 1",
            attack.name()
        );
    }
}

/// The GPU path: on the PTX simulator (and `cuda:0` when one answers) both attacks give the
/// CPU's points for the same seed, since every step is a tensor op and the draws do not depend
/// on the device. Square is compared on its run's best points, which move for every image.
#[test]
fn both_attacks_give_the_cpu_points_on_the_gpu_path() {
    let mut rng = Rng::new(11);
    let mut linear = LinearModel::new(10, 3 * 4 * 4, &mut rng);
    let x = images([4, 3, 4, 4], &mut rng);
    let y = own_labels(&linear.model, &x);
    let square = Square {
        queries: 12,
        ..Square::standard(0.2)
    };
    let spsa = Spsa {
        max_batch: 3,
        ..Spsa::new(0.1, 2, 5)
    };
    let run_both = |model: &dyn Module<f32>, x: &Tensor<f32>, y: &IndexTensor| {
        let run = square.single_run(model, x, y, &mut Rng::new(1));
        let spsa = spsa.perturb(model, x, y, &mut Rng::new(1));
        [run.best, spsa]
    };
    let want = run_both(&linear.model, &x, &y);
    for device in tensor::gpu::test_devices::gpu_test_devices("square and SPSA") {
        linear.model.to_device(device).expect("the device opens");
        let (xd, yd) = (x.to_device(device).unwrap(), y.to_device(device).unwrap());
        let got = run_both(&linear.model, &xd, &yd);
        for (name, (got, want)) in ["square", "spsa"].iter().zip(got.iter().zip(&want)) {
            assert_eq!(got.device(), device);
            for (g, w) in got.to_vec().iter().zip(want.data()) {
                assert!((g - w).abs() <= 1e-5, "{name} on {device}: {g} vs {w}");
            }
        }
    }
}
