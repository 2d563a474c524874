//! FAB-T: its projection against a brute-force minimal-norm step, and the attack's promises:
//! points within eps and in [0, 1], fooled points misclassified, the same seed the same output,
//! and on a linear model the reference's iteration, computed in f64.

use autograd::Var;
use mart::attack::{Attack, FabTargeted, projection_linf};
use nn::{EntryMut, Flatten, Forward, Linear, ModelKind, Module, Sequential};
use tensor::{IndexTensor, Rng, Tensor};

/// The interval of `<w, u>` over the box [0, 1]^d intersected with the L-inf ball of radius
/// `delta` around `t`.
fn reachable_range(t: &[f64], w: &[f64], delta: f64) -> (f64, f64) {
    let (mut low, mut high) = (0.0, 0.0);
    for (&ti, &wi) in t.iter().zip(w) {
        let (l, h) = ((ti - delta).max(0.0), (ti + delta).min(1.0));
        low += (wi * l).min(wi * h);
        high += (wi * l).max(wi * h);
    }
    (low, high)
}

/// The smallest radius at which the box reaches `<w, u> = b`, by bisection on the radius
/// (reachability only grows with it); `None` when even the whole box does not reach it.
fn minimal_distance(t: &[f64], w: &[f64], b: f64) -> Option<f64> {
    let (low, high) = reachable_range(t, w, 1.0);
    if b < low || b > high {
        return None;
    }
    let (mut inside, mut outside) = (1.0, 0.0);
    for _ in 0..200 {
        let middle = 0.5 * (inside + outside);
        let (low, high) = reachable_range(t, w, middle);
        if low <= b && b <= high {
            inside = middle;
        } else {
            outside = middle;
        }
    }
    Some(inside)
}

/// A value from `grid` a third of the time (to make ties), else uniform in `[low, high]`.
fn value(rng: &mut Rng, grid: &[f64], low: f64, high: f64) -> f64 {
    if rng.below(3) == 0 {
        grid[rng.below(grid.len())]
    } else {
        low + (high - low) * rng.uniform::<f64>([1], 0.0, 1.0).item()
    }
}

/// A hyperplane problem `(t, w, b)` in dimension `dim`: points on a grid or at the box's
/// faces, weights with zeros and repeated magnitudes, and offsets that the box reaches
/// (through a random box point, or the point itself) or may not reach.
fn problem(rng: &mut Rng, dim: usize) -> (Vec<f64>, Vec<f64>, f64) {
    let t: Vec<f64> = (0..dim)
        .map(|_| value(rng, &[0.0, 0.25, 0.5, 0.75, 1.0], 0.0, 1.0))
        .collect();
    let all_zero = rng.below(20) == 0;
    let w: Vec<f64> = (0..dim)
        .map(|_| match rng.below(4) {
            _ if all_zero => 0.0,
            0 => 0.0,
            _ => value(rng, &[-1.0, -0.5, 0.5, 1.0], -1.0, 1.0),
        })
        .collect();
    let dot = |u: &[f64]| u.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
    let b = match rng.below(5) {
        0 => dot(&t),
        1 | 2 => {
            let u: Vec<f64> = (0..dim)
                .map(|_| value(rng, &[0.0, 1.0], 0.0, 1.0))
                .collect();
            dot(&u)
        }
        _ => dot(&t) + value(rng, &[0.0], -3.0, 3.0),
    };
    (t, w, b)
}

#[test]
fn projection_finds_the_minimal_linf_step_in_the_box() {
    let mut rng = Rng::new(11);
    let (mut reached, mut unreachable) = (0, 0);
    for dim in 2..=6 {
        let rows = 300;
        let problems: Vec<_> = (0..rows).map(|_| problem(&mut rng, dim)).collect();
        let points = problems.iter().flat_map(|p| p.0.clone()).collect();
        let w = problems.iter().flat_map(|p| p.1.clone()).collect();
        let (points, w) = (
            Tensor::<f64>::from_vec(points, [rows, dim]),
            Tensor::<f64>::from_vec(w, [rows, dim]),
        );
        let b = Tensor::<f64>::from_vec(problems.iter().map(|p| p.2).collect(), [rows]);
        let steps = projection_linf(&points, &w, &b).to_vec();
        for (row, (t, w, b)) in problems.iter().enumerate() {
            let d = &steps[row * dim..(row + 1) * dim];
            let u: Vec<f64> = t.iter().zip(d).map(|(t, d)| t + d).collect();
            let context = format!("dim {dim} row {row}: t {t:?} w {w:?} b {b} -> d {d:?}");
            for (i, &ui) in u.iter().enumerate() {
                assert!(
                    (-1e-12..=1.0 + 1e-12).contains(&ui),
                    "left the box: {context}"
                );
                assert!(w[i] != 0.0 || d[i] == 0.0, "moved a zero weight: {context}");
            }
            let norm = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            match minimal_distance(t, w, *b) {
                Some(best) => {
                    reached += 1;
                    let scale: f64 = w.iter().map(|v| v.abs()).sum::<f64>() + b.abs();
                    let dot: f64 = u.iter().zip(w).map(|(u, w)| u * w).sum();
                    assert!(
                        (dot - b).abs() <= 1e-9 * scale,
                        "missed the plane: {context}"
                    );
                    assert!(
                        (norm - best).abs() <= 1e-9 * best + 1e-12,
                        "norm {norm}, brute force {best}: {context}"
                    );
                }
                None => {
                    unreachable += 1;
                    // The box corner nearest the plane in <w, x>, on each moved coordinate.
                    let above = t.iter().zip(w).map(|(t, w)| t * w).sum::<f64>() >= *b;
                    for (i, &ui) in u.iter().enumerate() {
                        if w[i] != 0.0 {
                            let corner = if (w[i] > 0.0) == above { 0.0 } else { 1.0 };
                            assert!((ui - corner).abs() <= 1e-12, "not the corner: {context}");
                        }
                    }
                }
            }
        }
    }
    assert!(
        reached > 500 && unreachable > 100,
        "{reached} reached, {unreachable} not"
    );
}

#[test]
fn projection_in_f32_agrees_with_f64() {
    let mut rng = Rng::new(12);
    let (rows, dim) = (64, 40);
    let points = rng.uniform::<f64>([rows, dim], -0.3, 1.3).clamp(0.0, 1.0);
    let w = rng.normal::<f64>([rows, dim], 0.0, 1.0);
    let b = points
        .mul(&w)
        .sum_axis(1, false)
        .add(&rng.normal([rows], 0.0, 1.0));
    let exact = projection_linf(&points, &w, &b).to_vec();
    let single = projection_linf(&points.cast::<f32>(), &w.cast(), &b.cast()).to_f64_vec();
    for (e, s) in exact.iter().zip(&single) {
        assert!((e - s).abs() <= 1e-4, "f32 {s} against f64 {e}");
    }
}

/// SmallCNN with random weights in its zero-initialised last layer (as in tests/attacks.rs),
/// so that input gradients are not all zero.
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

fn predictions(model: &dyn Module<f32>, x: &Tensor<f32>) -> IndexTensor {
    model
        .forward(&Var::constant(x.clone()), &mut Forward::eval())
        .value()
        .argmax_axis(1)
}

/// MNIST-shaped images with some pixels at exactly 0 and 1, labelled as the model classifies
/// them, so that every point is attacked.
fn batch(model: &dyn Module<f32>, n: usize, rng: &mut Rng) -> (Tensor<f32>, IndexTensor) {
    let images = rng
        .uniform::<f32>([n, 1, 28, 28], -0.2, 1.2)
        .clamp(0.0, 1.0);
    let labels = predictions(model, &images);
    (images, labels)
}

/// A short FAB-T for tests: fewer iterations and targets, two restarts so the random start runs.
fn short_fab(eps: f32) -> FabTargeted {
    FabTargeted {
        steps: 12,
        restarts: 2,
        target_classes: 2,
        ..FabTargeted::standard(eps)
    }
}

fn linf(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |m, (a, b)| m.max((a - b).abs()))
}

#[test]
fn standard_is_autoattacks_configuration() {
    let fab = FabTargeted::standard(0.3);
    assert_eq!(
        (fab.eps, fab.steps, fab.restarts, fab.target_classes),
        (0.3, 100, 1, 9)
    );
    assert_eq!((fab.alpha_max, fab.eta, fab.beta), (0.1, 1.05, 0.9));
    assert_eq!(fab.name(), "fab-t");
}

#[test]
fn fooled_points_are_misclassified_within_eps_and_in_range() {
    let mut rng = Rng::new(3);
    let model = small_cnn(&mut rng);
    let (x, y) = batch(&*model, 8, &mut rng);
    // Row 0 is misclassified from the start: FAB leaves it alone.
    let mut labels = y.to_usizes();
    labels[0] = (labels[0] + 1) % 10;
    let y = Tensor::from_vec(labels.iter().map(|&l| l as u32).collect(), [8]);
    let pixels = x.numel() / 8;
    // At 0.005 about half the points have an adversarial example within eps.
    for eps in [0.005f32, 0.3] {
        let adv = short_fab(eps).perturb(&*model, &x, &y, &mut Rng::new(1));
        assert_eq!(adv.dims(), x.dims());
        let predicted = predictions(&*model, &adv).to_usizes();
        let mut fooled = 0;
        for row in 0..8 {
            let (a, n) = (
                &adv.data()[row * pixels..(row + 1) * pixels],
                &x.data()[row * pixels..(row + 1) * pixels],
            );
            assert!(a.iter().all(|v| (0.0..=1.0).contains(v)), "left [0, 1]");
            let distance = linf(a, n);
            assert!(distance <= eps, "row {row} moved {distance} > eps {eps}");
            if a != n {
                fooled += 1;
                assert_ne!(
                    predicted[row], labels[row],
                    "row {row} changed but not fooled"
                );
            }
        }
        assert_eq!(
            &adv.data()[..pixels],
            &x.data()[..pixels],
            "moved a misclassified point"
        );
        assert!(fooled > 0, "fooled nothing at eps {eps}");
        if eps < 0.01 {
            assert!(fooled < 7, "all 7 attacked points fooled at eps {eps}");
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_output() {
    let mut rng = Rng::new(4);
    let model = small_cnn(&mut rng);
    let (x, y) = batch(&*model, 6, &mut rng);
    let fab = short_fab(0.3);
    let first = fab.perturb(&*model, &x, &y, &mut Rng::new(9));
    let second = fab.perturb(&*model, &x, &y, &mut Rng::new(9));
    assert_eq!(first.to_vec(), second.to_vec());
}

/// A linear model on `[N, 1, 4, 4]` images with three classes, the third never winning: the
/// boundary between classes 0 and 1 is a hyperplane. Returns the model and its weight and bias.
fn linear_model(rng: &mut Rng) -> (Sequential<f32>, Vec<f64>, Vec<f64>) {
    let weight = rng.normal::<f32>([3, 16], 0.0, 1.0);
    let bias = Tensor::from_vec(vec![0.0, 0.0, -1e3], [3]);
    let w = weight.to_f64_vec();
    let model = Sequential::new(vec![
        Box::new(Flatten),
        Box::new(Linear::from_tensors(weight, bias.clone())),
    ]);
    (model, w, bias.to_f64_vec())
}

/// FAB's best norm after `steps` iterations towards a hyperplane at L-inf distance `closest`
/// when the box never bites: every iterate lies on the ray from the clean point along the
/// optimal step, at distance `r`; the projections from it and from the clean point have norms
/// `|closest - r|` and `closest`, and the reference's alpha, eta and beta act on `r` alone.
fn fab_on_a_ray(closest: f64, steps: usize) -> f64 {
    let (mut r, mut best) = (0.0f64, f64::INFINITY);
    for _ in 0..steps {
        let (a1, a2) = ((closest - r).abs().max(1e-8), closest.max(1e-8));
        let alpha = (a1 / (a1 + a2)).clamp(0.0, 0.1);
        r = (1.0 - alpha) * (r + 1.05 * (closest - r)) + alpha * 1.05 * closest;
        if r > closest {
            best = best.min(r);
            r *= 0.9;
        }
    }
    best
}

#[test]
fn on_a_linear_model_fab_follows_the_reference_iteration() {
    let mut rng = Rng::new(5);
    let (model, weight, bias) = linear_model(&mut rng);
    let x = rng.uniform::<f32>([12, 1, 4, 4], 0.35, 0.65);
    let y = predictions(&model, &x);
    let fab = FabTargeted {
        target_classes: 1,
        ..FabTargeted::standard(1.0)
    };
    let adv = fab.perturb(&model, &x, &y, &mut Rng::new(0));
    let mut checked = 0;
    for (row, &label) in y.to_usizes().iter().enumerate() {
        let target = 1 - label;
        let t: Vec<f64> = x.to_f64_vec()[row * 16..(row + 1) * 16].to_vec();
        let w: Vec<f64> = (0..16)
            .map(|i| weight[target * 16 + i] - weight[label * 16 + i])
            .collect();
        let closest = minimal_distance(&t, &w, bias[label] - bias[target]).unwrap();
        // Far from the box's faces, so that no iterate is clamped.
        if 1.1 * closest > 0.35 {
            continue;
        }
        checked += 1;
        let expected = fab_on_a_ray(closest, fab.steps);
        let found = f64::from(linf(
            &adv.data()[row * 16..(row + 1) * 16],
            &x.data()[row * 16..(row + 1) * 16],
        ));
        assert!(
            (found - expected).abs() <= 1e-5 * expected,
            "row {row}: FAB moved {found}, the reference iteration {expected} (closest {closest})"
        );
    }
    assert!(checked >= 4, "only {checked} rows far from the box's faces");
}
