//! APGD and APGD-T (AutoAttack's first two attacks), their parts: the DLR losses against their
//! formulas and finite differences (and the reference port's hand-written gradients with them),
//! and the checkpoint schedule and step-size control against the reference's formulas. Whole
//! attacks are in `apgd_attacks.rs`.

mod apgd_reference;

use apgd_reference::{Loss, loss_and_logit_gradient};
use autograd::{Tape, Var};
use mart::attack::{ApgdSchedule, StepSizeControl, apgd_checkpoints, dlr_loss, targeted_dlr_loss};
use tensor::{IndexTensor, Rng, Tensor};

const CLASSES: usize = 10;

/// Logits `[rows, CLASSES]` whose values in a row are at least 0.4 apart (so the sort order
/// survives finite-difference nudges), scaled and shifted at random; and labels that are the
/// argmax in every third row, the runner-up in the next, another class in the third.
fn separated_logits(rows: usize, rng: &mut Rng) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut logits = Vec::new();
    let mut labels = Vec::new();
    for r in 0..rows {
        let mut order: Vec<usize> = (0..CLASSES).collect();
        rng.shuffle(&mut order);
        let noise = rng.uniform::<f64>([CLASSES], 0.0, 0.1).to_vec();
        let scale = rng.uniform::<f64>([2], 0.5, 3.0).to_vec();
        let row: Vec<f64> = (0..CLASSES)
            .map(|c| (0.5 * order[c] as f64 + noise[c]) * scale[0] - scale[1])
            .collect();
        let mut by_value: Vec<usize> = (0..CLASSES).collect();
        by_value.sort_by(|&a, &b| row[b].partial_cmp(&row[a]).unwrap());
        labels.push(match r % 3 {
            0 => by_value[0],
            1 => by_value[1],
            _ => by_value[2 + rng.below(CLASSES - 2)],
        });
        logits.push(row);
    }
    (logits, labels)
}

fn as_tensor(rows: &[Vec<f64>]) -> Tensor<f64> {
    Tensor::from_vec(rows.concat(), [rows.len(), rows[0].len()])
}

fn as_labels(labels: &[usize]) -> IndexTensor {
    Tensor::from_vec(labels.iter().map(|&l| l as u32).collect(), [labels.len()])
}

/// The logits of row `z` sorted from the largest.
fn descending(z: &[f64]) -> Vec<f64> {
    let mut v = z.to_vec();
    v.sort_by(|a, b| b.partial_cmp(a).unwrap());
    v
}

/// A target for each row other than its label.
fn targets_for(labels: &[usize], rng: &mut Rng) -> Vec<usize> {
    labels
        .iter()
        .map(|&y| (y + 1 + rng.below(CLASSES - 1)) % CLASSES)
        .collect()
}

#[test]
fn dlr_matches_the_formula_in_f64() {
    let mut rng = Rng::new(1);
    let (logits, labels) = separated_logits(12, &mut rng);
    let ours = dlr_loss(&Var::constant(as_tensor(&logits)), &as_labels(&labels)).into_value();
    assert_eq!(ours.dims(), [12]);
    for ((z, &y), &got) in logits.iter().zip(&labels).zip(ours.data()) {
        let s = descending(z);
        let best_other = (0..CLASSES)
            .filter(|&c| c != y)
            .map(|c| z[c])
            .fold(f64::NEG_INFINITY, f64::max);
        let want = -(z[y] - best_other) / (s[0] - s[2] + 1e-12);
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
    // Shifting and scaling the logits leaves DLR unchanged.
    let moved: Vec<Vec<f64>> = logits
        .iter()
        .map(|z| z.iter().map(|v| 7.0 * v + 3.0).collect())
        .collect();
    let again = dlr_loss(&Var::constant(as_tensor(&moved)), &as_labels(&labels)).into_value();
    for (a, b) in again.data().iter().zip(ours.data()) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

#[test]
fn targeted_dlr_matches_the_formula_in_f64() {
    let mut rng = Rng::new(2);
    let (logits, labels) = separated_logits(12, &mut rng);
    let targets = targets_for(&labels, &mut rng);
    let ours = targeted_dlr_loss(
        &Var::constant(as_tensor(&logits)),
        &as_labels(&labels),
        &as_labels(&targets),
    )
    .into_value();
    assert_eq!(ours.dims(), [12]);
    for (r, &got) in ours.data().iter().enumerate() {
        let (z, y, t) = (&logits[r], labels[r], targets[r]);
        let s = descending(z);
        let want = -(z[y] - z[t]) / (s[0] - (s[2] + s[3]) / 2.0 + 1e-12);
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
}

/// Central differences of `loss` (summed over rows) at `logits`, entry by entry.
fn finite_differences(logits: &[Vec<f64>], loss: &dyn Fn(&Tensor<f64>) -> f64) -> Vec<f64> {
    let h = 1e-6;
    let flat = logits.concat();
    let shape = [logits.len(), CLASSES];
    (0..flat.len())
        .map(|i| {
            let mut up = flat.clone();
            let mut down = flat.clone();
            up[i] += h;
            down[i] -= h;
            let (up, down) = (Tensor::from_vec(up, shape), Tensor::from_vec(down, shape));
            (loss(&up) - loss(&down)) / (2.0 * h)
        })
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert!(want.iter().any(|w| w.abs() > 1e-3), "{what}: zero gradient");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6 + 1e-4 * w.abs(),
            "{what}: entry {i}: {g} vs finite difference {w}"
        );
    }
}

#[test]
fn dlr_gradients_match_finite_differences() {
    let mut rng = Rng::new(3);
    let (logits, labels) = separated_logits(6, &mut rng);
    let targets = targets_for(&labels, &mut rng);
    let (y, t) = (as_labels(&labels), as_labels(&targets));
    let y_targeted = y.clone();
    type LossFn = Box<dyn for<'t> Fn(&Var<'t, f64>) -> Var<'t, f64>>;
    let losses: [(&str, LossFn, Vec<Loss>); 2] = [
        (
            "dlr",
            Box::new(move |z| dlr_loss(z, &y)),
            vec![Loss::Dlr; labels.len()],
        ),
        (
            "targeted dlr",
            Box::new(move |z| targeted_dlr_loss(z, &y_targeted, &t)),
            targets.iter().map(|&t| Loss::TargetedDlr(t)).collect(),
        ),
    ];
    for (name, loss, port_losses) in losses {
        let tape = Tape::<f64>::new();
        let z = tape.var(as_tensor(&logits));
        let grad = tape.backward(&loss(&z).sum_all(), &[&z]).remove(0);
        let numeric = finite_differences(&logits, &|v| {
            loss(&Var::constant(v.clone())).value().sum_all().item()
        });
        assert_close(grad.data(), &numeric, name);
        // The reference port's hand-written gradient, used below, passes the same check.
        let by_hand: Vec<f64> = logits
            .iter()
            .zip(&labels)
            .zip(&port_losses)
            .flat_map(|((z, &y), &l)| loss_and_logit_gradient(z, y, l).1)
            .collect();
        assert_close(&by_hand, &numeric, &format!("port's {name}"));
    }
}

/// The checkpoints as `autopgd_base.py` computes them: `counter3` counts iterations up to `k`,
/// which starts at `max(int(0.22 N), 1)` and shrinks by `max(int(0.03 N), 1)` down to
/// `max(int(0.06 N), 1)`.
fn reference_checkpoints(n: usize) -> Vec<usize> {
    let n_iter_2 = ((0.22 * n as f64) as i64).max(1);
    let n_iter_min = ((0.06 * n as f64) as i64).max(1);
    let size_decr = ((0.03 * n as f64) as i64).max(1);
    let (mut k, mut counter3, mut out) = (n_iter_2, 0, Vec::new());
    for i in 0..n {
        counter3 += 1;
        if counter3 == k {
            out.push(i);
            k = (k - size_decr).max(n_iter_min);
            counter3 = 0;
        }
    }
    out
}

#[test]
fn checkpoints_follow_the_reference_formulas() {
    assert_eq!(apgd_checkpoints(100), [21, 40, 56, 69, 79, 86, 92, 98]);
    let schedule = ApgdSchedule::new(100);
    assert_eq!(
        (
            schedule.first_interval,
            schedule.min_interval,
            schedule.interval_decrease
        ),
        (22, 6, 3)
    );
    for n in [1, 2, 3, 5, 10, 17, 20, 37, 50, 100, 150, 250, 1000] {
        assert_eq!(apgd_checkpoints(n), reference_checkpoints(n), "N = {n}");
    }
}

/// Feeds `losses[i]` (one value per example) to a fresh control of 100 iterations and returns
/// the decisions of the checkpoints met, by iteration.
fn run_control(start: Vec<f32>, losses: &[Vec<f32>]) -> (StepSizeControl, Vec<(usize, Vec<bool>)>) {
    let mut control = StepSizeControl::new(ApgdSchedule::new(100), 0.75, start, 0.6);
    let mut decisions = Vec::new();
    for (i, l) in losses.iter().enumerate() {
        control.record(i, l);
        if let Some(reduced) = control.checkpoint(i) {
            decisions.push((i, reduced));
        }
    }
    (control, decisions)
}

#[test]
fn first_checkpoint_counts_a_positive_first_loss_as_an_increase() {
    // Iterations 1..=16 raise the loss, 17..=21 lower it: 16 increases in 22 steps, at most
    // 0.75 * 22 = 16.5, so the step halves, unless the first step also counts, as it does in
    // the reference when its loss is above the zero it is compared with.
    let curve = |i: usize| -> f32 {
        if i <= 16 {
            1.0 + i as f32
        } else {
            17.0 - 0.5 * (i - 16) as f32
        }
    };
    let losses: Vec<Vec<f32>> = (0..22).map(|i| vec![curve(i), curve(i) - 100.0]).collect();
    let (control, decisions) = run_control(vec![0.5, -99.5], &losses);
    assert_eq!(decisions, [(21, vec![false, true])]);
    assert_eq!(control.step_size(), [0.6, 0.3]);
    assert_eq!(control.loss_best(), [17.0, -83.0]);
}

#[test]
fn a_stalled_best_loss_halves_the_step_at_the_next_checkpoint() {
    // Both examples rise steadily to the first checkpoint (no halving), drop, then rise in 18
    // of the next 19 steps (no oscillation); only the second beats its best by iteration 40.
    let mut losses: Vec<Vec<f32>> = (0..22).map(|i| vec![i as f32 + 1.0; 2]).collect();
    for i in 22..41 {
        let rising = (i - 22) as f32 * 0.01;
        let second = if i == 40 { 50.0 } else { rising };
        losses.push(vec![rising, second]);
    }
    let (control, decisions) = run_control(vec![0.0, 0.0], &losses);
    assert_eq!(
        decisions,
        [(21, vec![false, false]), (40, vec![true, false])]
    );
    assert_eq!(control.step_size(), [0.3, 0.6]);
    // The checkpoints fall where the schedule says, whatever the losses.
    let flat: Vec<Vec<f32>> = (0..100).map(|_| vec![1.0]).collect();
    let (_, decisions) = run_control(vec![1.0], &flat);
    let at: Vec<usize> = decisions.iter().map(|(i, _)| *i).collect();
    assert_eq!(at, apgd_checkpoints(100));
}
