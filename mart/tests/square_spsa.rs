//! Square (AutoAttack's L-inf random search) and SPSA (torchattacks' finite-difference Adam):
//! the schedules against the reference's definitions, the budget, determinism, Square's
//! accept-only-if-better rule, SPSA's estimate and Adam step against f64 references, and that
//! both lower a model's accuracy.

use autograd::Var;
use mart::attack::{Attack, Spsa, Square, margin, p_selection, window_side};
use nn::layers::{Flatten, Linear, Sequential};
use nn::{EntryMut, Forward, ModelKind, Module};
use tensor::{IndexTensor, Rng, Tensor};

/// A linear classifier on flattened images, with its weights kept for f64 references.
struct LinearModel {
    model: Sequential<f32>,
    weight: Vec<f64>,
    bias: Vec<f64>,
    classes: usize,
}

impl LinearModel {
    fn new(classes: usize, features: usize, rng: &mut Rng) -> Self {
        let weight = rng.normal::<f32>([classes, features], 0.0, 1.0);
        let bias = rng.normal::<f32>([classes], 0.0, 1.0);
        LinearModel {
            weight: weight.to_f64_vec(),
            bias: bias.to_f64_vec(),
            classes,
            model: Sequential::new(vec![
                Box::new(Flatten),
                Box::new(Linear::from_tensors(weight, bias)),
            ]),
        }
    }

    /// `z_y - max_{j != y} z_j` of one flattened image, in f64.
    fn margin(&self, image: &[f32], label: usize) -> f64 {
        let logit = |k: usize| {
            let row = &self.weight[k * image.len()..(k + 1) * image.len()];
            self.bias[k]
                + row
                    .iter()
                    .zip(image)
                    .map(|(w, &x)| w * f64::from(x))
                    .sum::<f64>()
        };
        let other = (0..self.classes)
            .filter(|&k| k != label)
            .map(logit)
            .fold(f64::NEG_INFINITY, f64::max);
        logit(label) - other
    }

    /// The margin's gradient for `label` when there are two classes: `W[y] - W[1 - y]`.
    fn two_class_gradient(&self, label: usize, features: usize) -> Vec<f64> {
        assert_eq!(self.classes, 2);
        let row = |k: usize| &self.weight[k * features..(k + 1) * features];
        row(label)
            .iter()
            .zip(row(1 - label))
            .map(|(a, b)| a - b)
            .collect()
    }
}

/// Images in [0, 1] with some pixels at exactly 0 and exactly 1.
fn images(dims: [usize; 4], rng: &mut Rng) -> Tensor<f32> {
    let images = rng.uniform::<f32>(dims, -0.2, 1.2).clamp(0.0, 1.0);
    assert!(images.data().contains(&0.0) && images.data().contains(&1.0));
    images
}

/// Labels cycling over `classes`.
fn cycling_labels(n: usize, classes: usize) -> IndexTensor {
    Tensor::from_vec((0..n).map(|i| (i % classes) as u32).collect(), [n])
}

/// The model's own predictions as labels: every clean image is classified right, so Square
/// attacks them all.
fn own_labels(model: &dyn Module<f32>, x: &Tensor<f32>) -> IndexTensor {
    Tensor::from_vec(predictions(model, x), [x.dims()[0]])
}

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

fn predictions(model: &dyn Module<f32>, x: &Tensor<f32>) -> Vec<u32> {
    model
        .forward(&Var::constant(x.clone()), &mut Forward::eval())
        .value()
        .argmax_axis(1)
        .to_vec()
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

fn image(t: &Tensor<f32>, i: usize) -> &[f32] {
    let len = t.numel() / t.dims()[0];
    &t.data()[i * len..(i + 1) * len]
}

#[test]
fn p_schedule_halves_after_each_bound_of_the_reference() {
    // The reference's if-chain: p_init for it <= 10, p_init / 2 for 10 < it <= 50, ...
    let chain: [(usize, f64); 10] = [
        (10, 1.0),
        (50, 2.0),
        (200, 4.0),
        (500, 8.0),
        (1000, 16.0),
        (2000, 32.0),
        (4000, 64.0),
        (6000, 128.0),
        (8000, 256.0),
        (usize::MAX, 512.0),
    ];
    let expected = |it: usize| 0.8 / chain.iter().find(|(upto, _)| it <= *upto).unwrap().1;
    let mut probes = vec![0, 1, 5000, 9999, 100_000];
    for (bound, _) in &chain[..9] {
        probes.extend([bound - 1, *bound, bound + 1]);
    }
    for it in probes {
        assert_eq!(p_selection(0.8, it), expected(it), "iteration {it}");
    }
    assert_eq!(p_selection(0.8, 10), 0.8);
    assert_eq!(p_selection(0.8, 11), 0.4);
    assert_eq!(p_selection(0.8, 8001), 0.8 / 512.0);
}

#[test]
fn window_side_rounds_halves_to_even_and_fits_the_image() {
    // sqrt(0.25 * 25) = 2.5 rounds to 2, sqrt(0.25 * 49) = 3.5 to 4 (Python's round).
    assert_eq!(window_side(0.25, 1, 5, 5), 2);
    assert_eq!(window_side(0.25, 3, 5, 5), 2);
    assert_eq!(window_side(0.25, 1, 7, 7), 4);
    // CIFAR-10 at the start and at the end of the schedule: sqrt(819.2) = 28.6, sqrt(1.6) = 1.26.
    assert_eq!(window_side(0.8, 3, 32, 32), 29);
    assert_eq!(window_side(0.8 / 512.0, 3, 32, 32), 1);
    // Never below 1, never beyond the shorter side.
    assert_eq!(window_side(1e-6, 1, 28, 28), 1);
    assert_eq!(window_side(0.8, 1, 4, 100), 4);
    assert_eq!(window_side(1.0, 3, 6, 6), 6);
}

#[test]
fn margin_is_the_true_logit_minus_the_best_other() {
    let logits = Tensor::from_vec(vec![1.0, 3.0, 2.0, 5.0, 4.0, 5.0, 0.5, -1.0, 0.0], [3, 3]);
    let labels = Tensor::from_vec(vec![1, 0, 2], [3]);
    // A tie with another class is a margin of 0.
    assert_eq!(margin(&logits, &labels).to_vec(), vec![1.0, 0.0, -0.5]);
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
fn square_starts_at_vertical_stripes_of_height_eps() {
    let mut rng = Rng::new(3);
    let linear = LinearModel::new(10, 3 * 8 * 8, &mut rng);
    let (x, y) = (images([4, 3, 8, 8], &mut rng), cycling_labels(4, 10));
    let mut square = Square::standard(0.1);
    square.queries = 0;
    let run = square.single_run(&linear.model, &x, &y, &mut rng);
    let (best, clean) = (run.best.data(), x.data());
    for n in 0..4 {
        for c in 0..3 {
            for col in 0..8 {
                let at = |row: usize| ((n * 3 + c) * 8 + row) * 8 + col;
                // The sign of the column is the one of any unclamped pixel in it.
                let sign = (0..8)
                    .map(|row| best[at(row)] - clean[at(row)])
                    .find(|d| d.abs() > 0.09)
                    .unwrap()
                    .signum();
                for row in 0..8 {
                    let want = (clean[at(row)] + sign * 0.1).clamp(0.0, 1.0);
                    assert_eq!(best[at(row)], want, "image {n} channel {c} column {col}");
                }
            }
        }
        let want = linear.margin(image(&run.best, n), y.data()[n] as usize);
        assert!((f64::from(run.margins[n]) - want).abs() < 1e-4);
    }
}

/// Runs of 0, 1, ..., 60 queries from one seed are the prefixes of one run: between consecutive
/// ones the reference's single iteration is visible.
#[test]
fn square_accepts_only_lower_margins_in_one_window_and_freezes_fooled_points() {
    let (n, c, hw, eps) = (8, 3, 8, 0.1);
    let mut rng = Rng::new(4);
    let linear = LinearModel::new(10, c * hw * hw, &mut rng);
    let x = images([n, c, hw, hw], &mut rng);
    let y = own_labels(&linear.model, &x);
    let run_of = |queries: usize| {
        let square = Square {
            queries,
            ..Square::standard(eps)
        };
        square.single_run(&linear.model, &x, &y, &mut Rng::new(9))
    };
    let mut before = run_of(0);
    let (mut moves, mut fooled_during_the_run) = (0, 0);
    for it in 0..60 {
        let after = run_of(it + 1);
        let side = window_side(p_selection(0.8, it), c, hw, hw);
        let mut rows = Vec::new();
        let mut cols = Vec::new();
        let mut direction = vec![0.0f32; c];
        for i in 0..n {
            let label = y.data()[i] as usize;
            let (old, new) = (image(&before.best, i), image(&after.best, i));
            let want = linear.margin(new, label);
            assert!(
                (f64::from(after.margins[i]) - want).abs() < 1e-4,
                "margin of {i}"
            );
            assert!(
                after.margins[i] <= before.margins[i],
                "{i} got worse at {it}"
            );
            if before.margins[i] <= 0.0 {
                assert_eq!(old, new, "fooled point {i} moved at {it}");
                continue;
            }
            if old == new {
                // Unchanged, or re-accepted at a margin that differs only by rounding.
                assert!((after.margins[i] - before.margins[i]).abs() < 1e-4);
                continue;
            }
            moves += 1;
            assert!(
                after.margins[i] < before.margins[i],
                "{i} moved without a gain"
            );
            for (k, (&o, &m)) in old.iter().zip(new).enumerate() {
                if o != m {
                    let (channel, row, col) = (k / (hw * hw), k / hw % hw, k % hw);
                    rows.push(row);
                    cols.push(col);
                    // One sign per channel for the whole batch.
                    let d = (m - o).signum();
                    assert!(direction[channel] == 0.0 || direction[channel] == d);
                    direction[channel] = d;
                }
            }
        }
        for span in [&rows, &cols] {
            if let (Some(lo), Some(hi)) = (span.iter().min(), span.iter().max()) {
                assert!(hi - lo < side, "changes span {lo}..={hi}, window {side}");
            }
        }
        fooled_during_the_run += (0..n)
            .filter(|&i| before.margins[i] > 0.0 && after.margins[i] <= 0.0)
            .count();
        before = after;
    }
    assert!(
        moves > 10,
        "only {moves} accepted moves: the test saw too little"
    );
    assert!(
        fooled_during_the_run > 0,
        "no point fooled mid-run: freezing untested"
    );
    assert!(
        before.margins.iter().any(|&m| m > 0.0),
        "every point fooled"
    );
}

#[test]
fn square_returns_fooled_points_and_clean_images_otherwise() {
    let mut rng = Rng::new(5);
    let linear = LinearModel::new(10, 3 * 8 * 8, &mut rng);
    let x = images([10, 3, 8, 8], &mut rng);
    let clean_predictions = predictions(&linear.model, &x);
    // Right on even images, wrong on odd ones (which Square must leave clean).
    let labels = clean_predictions
        .iter()
        .enumerate()
        .map(|(i, &p)| if i % 2 == 0 { p } else { (p + 1) % 10 })
        .collect();
    let y = Tensor::from_vec(labels, [10]);
    let square = Square {
        queries: 40,
        restarts: 2,
        ..Square::standard(0.05)
    };
    let adv = square.perturb(&linear.model, &x, &y, &mut rng);
    let adv_predictions = predictions(&linear.model, &adv);
    let (mut fooled, mut robust) = (0, 0);
    for (i, (&label, &prediction)) in y.data().iter().zip(&adv_predictions).enumerate() {
        if i % 2 == 1 {
            assert_eq!(image(&adv, i), image(&x, i), "{i} was wrong already");
        } else if image(&adv, i) == image(&x, i) {
            robust += 1;
            assert_eq!(prediction, label);
        } else {
            fooled += 1;
            assert_ne!(prediction, label, "{i} returned but not fooled");
        }
    }
    assert!(fooled > 0 && robust > 0, "{fooled} fooled, {robust} robust");
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
    for device in tensor::cuda::test_devices::gpu_test_devices("square and SPSA") {
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
