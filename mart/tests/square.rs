//! Square (AutoAttack's L-inf random search) on its own: the schedules against the reference's
//! definitions, the margin, the vertical-stripe start, the accept-only-if-better rule and the
//! points it returns. SPSA, and the contract both attacks keep, are in `square_spsa.rs`.

mod black_box_kit;

use black_box_kit::{LinearModel, cycling_labels, image, images, own_labels, predictions};
use mart::attack::{Attack, Square, margin, p_selection, window_side};
use tensor::{Rng, Tensor};

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
