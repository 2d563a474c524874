//! FAB-T's projection against a brute-force minimal-norm step.

use mart::attack::projection_linf;
use tensor::{Rng, Tensor};

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
