//! A line-by-line f64 port of the reference APGD (fra31/auto-attack `autopgd_base.py`,
//! `attack_single_run` and both `perturb`s, L-inf) for a linear model `z = W x + b`, one example
//! at a time with scalars, so `mart`'s batched tensor version can be held against it.
//!
//! The gradients are written by hand: for a linear model `dL/dx = W^T dL/dz`.
//!
//! Two test files compile it: `apgd_attacks.rs` runs whole attacks, `apgd.rs` checks the
//! gradients only and leaves the rest unused.
#![allow(dead_code)]

/// A linear classifier over flattened images.
pub struct LinearModel {
    /// `[classes][pixels]`.
    pub weight: Vec<Vec<f64>>,
    /// `[classes]`.
    pub bias: Vec<f64>,
}

/// The loss the reference maximises.
#[derive(Clone, Copy)]
pub enum Loss {
    CrossEntropy,
    Dlr,
    /// Targeted DLR towards this class.
    TargetedDlr(usize),
}

/// `torch.sign`: 0 at 0.
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Python's `a[i]` for a possibly negative `i`.
fn python_index(i: i64, len: usize) -> usize {
    i.rem_euclid(len as i64) as usize
}

/// Classes in the order of `torch.sort` ascending (stable): `order[len - 1]` is the argmax.
pub fn ascending_classes(z: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..z.len()).collect();
    order.sort_by(|&a, &b| z[a].partial_cmp(&z[b]).unwrap());
    order
}

/// The first index of the largest logit (`max(1)[1]`).
pub fn argmax(z: &[f64]) -> usize {
    (0..z.len()).fold(0, |best, c| if z[c] > z[best] { c } else { best })
}

impl LinearModel {
    pub fn logits(&self, x: &[f64]) -> Vec<f64> {
        self.weight
            .iter()
            .zip(&self.bias)
            .map(|(row, b)| row.iter().zip(x).map(|(w, v)| w * v).sum::<f64>() + b)
            .collect()
    }

    /// The loss at `x`, its gradient with respect to `x`, and whether `y` still wins.
    fn evaluate(&self, x: &[f64], y: usize, loss: Loss) -> (f64, Vec<f64>, bool) {
        let z = self.logits(x);
        let (value, dz) = loss_and_logit_gradient(&z, y, loss);
        let mut dx = vec![0.0; x.len()];
        for (row, g) in self.weight.iter().zip(&dz) {
            for (d, w) in dx.iter_mut().zip(row) {
                *d += w * g;
            }
        }
        (value, dx, argmax(&z) == y)
    }
}

/// A loss of logits `z` and its gradient, as `autopgd_base.py` writes each loss.
///
/// The DLR denominators leave out the reference's `+ 1e-12`: in f32 it vanishes next to any
/// denominator above about 1e-5, and in f64 it would not, breaking the exact cancellation that
/// PyTorch's division backward, `(a / b) / b`, gives when the label is the third class (DLR's
/// plateau at 1, where the reference's gradient is exactly zero and its step does not move).
pub fn loss_and_logit_gradient(z: &[f64], y: usize, loss: Loss) -> (f64, Vec<f64>) {
    let classes = z.len();
    let mut dz = vec![0.0; classes];
    let sorted = ascending_classes(z);
    let from_top = |k: usize| sorted[classes - k];
    match loss {
        Loss::CrossEntropy => {
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = z.iter().map(|v| (v - m).exp()).sum();
            for (c, d) in dz.iter_mut().enumerate() {
                *d = (z[c] - m).exp() / total - if c == y { 1.0 } else { 0.0 };
            }
            (m + total.ln() - z[y], dz)
        }
        Loss::Dlr => {
            // x_sorted[:, -2] when the label is the argmax, x_sorted[:, -1] otherwise.
            let other = if from_top(1) == y {
                from_top(2)
            } else {
                from_top(1)
            };
            let numerator = z[y] - z[other];
            let denominator = z[from_top(1)] - z[from_top(3)];
            let scale = numerator / denominator / denominator;
            dz[y] -= 1.0 / denominator;
            dz[other] += 1.0 / denominator;
            dz[from_top(1)] += scale;
            dz[from_top(3)] -= scale;
            (-numerator / denominator, dz)
        }
        Loss::TargetedDlr(t) => {
            let numerator = z[y] - z[t];
            let denominator = z[from_top(1)] - 0.5 * (z[from_top(3)] + z[from_top(4)]);
            let scale = numerator / denominator / denominator;
            dz[y] -= 1.0 / denominator;
            dz[t] += 1.0 / denominator;
            dz[from_top(1)] += scale;
            dz[from_top(3)] -= 0.5 * scale;
            dz[from_top(4)] -= 0.5 * scale;
            (-numerator / denominator, dz)
        }
    }
}

/// The reference's run constants.
pub struct Settings {
    pub eps: f64,
    pub n_iter: usize,
    pub rho: f64,
}

/// `attack_single_run` for one example from the random direction `t`: whether it was fooled,
/// and `x_best_adv`.
pub fn single_run(
    model: &LinearModel,
    x: &[f64],
    y: usize,
    loss: Loss,
    t: &[f64],
    s: &Settings,
) -> (bool, Vec<f64>) {
    let n_iter_2 = ((0.22 * s.n_iter as f64) as i64).max(1);
    let n_iter_min = ((0.06 * s.n_iter as f64) as i64).max(1);
    let size_decr = ((0.03 * s.n_iter as f64) as i64).max(1);
    let project = |v: f64, centre: f64| v.max(centre - s.eps).min(centre + s.eps).clamp(0.0, 1.0);

    let t_norm = t.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut x_adv: Vec<f64> = x
        .iter()
        .zip(t)
        .map(|(xi, ti)| (xi + s.eps * (ti / (t_norm + 1e-12))).clamp(0.0, 1.0))
        .collect();
    let mut x_best = x_adv.clone();
    let mut x_best_adv = x_adv.clone();
    let mut loss_steps = vec![0.0; s.n_iter];
    let (loss_start, mut grad, mut acc) = model.evaluate(&x_adv, y, loss);
    let mut grad_best = grad.clone();
    let mut loss_best = loss_start;
    let mut step_size = 2.0 * s.eps;
    let mut x_adv_old = x_adv.clone();
    let mut k = n_iter_2;
    let mut counter3 = 0;
    let mut loss_best_last_check = loss_best;
    let mut reduced_last_check = true;

    for i in 0..s.n_iter {
        let grad2: Vec<f64> = x_adv.iter().zip(&x_adv_old).map(|(a, o)| a - o).collect();
        x_adv_old = x_adv.clone();
        let a = if i > 0 { 0.75 } else { 1.0 };
        x_adv = (0..x.len())
            .map(|d| {
                let x1 = project(x_adv[d] + step_size * sign(grad[d]), x[d]);
                project(x_adv[d] + (x1 - x_adv[d]) * a + grad2[d] * (1.0 - a), x[d])
            })
            .collect();

        let (y1, g, correct) = model.evaluate(&x_adv, y, loss);
        grad = g;
        acc = acc && correct;
        if !correct {
            x_best_adv = x_adv.clone();
        }
        if std::env::var("APGD_DEBUG").is_ok() {
            eprintln!("port {i} loss {y1} step {step_size} correct {correct}");
        }
        loss_steps[i] = y1;
        if y1 > loss_best {
            x_best = x_adv.clone();
            grad_best = grad.clone();
            loss_best = y1;
        }
        counter3 += 1;
        if counter3 == k {
            let j = i as i64;
            let increases = (0..k)
                .filter(|c| {
                    loss_steps[python_index(j - c, s.n_iter)]
                        > loss_steps[python_index(j - c - 1, s.n_iter)]
                })
                .count();
            let oscillation = increases as f64 <= k as f64 * s.rho;
            let no_improvement = !reduced_last_check && loss_best_last_check >= loss_best;
            let reduce = oscillation || no_improvement;
            reduced_last_check = reduce;
            loss_best_last_check = loss_best;
            if reduce {
                step_size /= 2.0;
                x_adv = x_best.clone();
                grad = grad_best.clone();
            }
            k = (k - size_decr).max(n_iter_min);
            counter3 = 0;
        }
    }
    (!acc, x_best_adv)
}

/// Draws the random start directions of one run on `rows` examples, as `mart` does (one
/// uniform tensor of the run's batch shape), row by row.
pub type DrawStarts<'a> = dyn FnMut(usize) -> Vec<Vec<f64>> + 'a;

/// Which of the reference's two attack classes runs.
pub enum Kind {
    /// `APGDAttack` with this loss.
    Untargeted(Loss),
    /// `APGDAttack_targeted`: targeted DLR towards the 2nd, 3rd, ... largest clean logit.
    Targeted { target_classes: usize },
}

/// One attack as the reference runs it.
pub struct Plan {
    pub kind: Kind,
    pub restarts: usize,
    pub settings: Settings,
}

/// The reference `perturb` of either class: one run per restart (per target rank for the
/// targeted class) on the points still robust; fooled points get their `x_best_adv`.
pub fn perturb(
    model: &LinearModel,
    images: &[Vec<f64>],
    labels: &[usize],
    plan: &Plan,
    draw: &mut DrawStarts<'_>,
) -> Vec<Vec<f64>> {
    let mut adv = images.to_vec();
    let mut robust: Vec<bool> = images
        .iter()
        .zip(labels)
        .map(|(x, &y)| argmax(&model.logits(x)) == y)
        .collect();
    let ranks: Vec<Option<usize>> = match plan.kind {
        Kind::Untargeted(_) => vec![None],
        Kind::Targeted { target_classes } => (2..target_classes + 2).map(Some).collect(),
    };
    for rank in ranks {
        for _ in 0..plan.restarts {
            let rows: Vec<usize> = (0..images.len()).filter(|&r| robust[r]).collect();
            if rows.is_empty() {
                continue;
            }
            let starts = draw(rows.len());
            for (&r, t) in rows.iter().zip(&starts) {
                let loss = match (&plan.kind, rank) {
                    (Kind::Untargeted(loss), _) => *loss,
                    (Kind::Targeted { .. }, rank) => {
                        let order = ascending_classes(&model.logits(&images[r]));
                        Loss::TargetedDlr(order[order.len() - rank.unwrap()])
                    }
                };
                let (fooled, x_adv) =
                    single_run(model, &images[r], labels[r], loss, t, &plan.settings);
                if fooled {
                    robust[r] = false;
                    adv[r] = x_adv;
                }
            }
        }
    }
    adv
}
