//! Square attack (Andriushchenko et al. 2020), L-inf, as AutoAttack's `SquareAttack` in its
//! standard configuration: a random search that needs only the model's logits.
//!
//! Every point starts at vertical stripes `x + eps * s` (one sign per channel and column). Each
//! iteration draws one square window and one sign per channel for the whole batch of points not
//! yet fooled, moves the window of each such point by `2 eps` times the sign (projected back into
//! the ball and [0, 1]) and keeps the move where the margin loss fell or the point became
//! misclassified. The window shrinks with the iteration count ([`p_selection`], [`window_side`]).

use nn::Module;
use tensor::{IndexTensor, Rng, Tensor};

use super::{Attack, attack_logits as logits, project, row_mask};

/// AutoAttack's Square: `queries` iterations per restart from windows covering `p_init` of the
/// image, margin loss, the p schedule in raw iterations (`resc_schedule=False`).
#[derive(Clone, Debug)]
pub struct Square {
    /// L-inf radius.
    pub eps: f32,
    /// Iterations (one query per still-robust point each) per restart.
    pub queries: usize,
    /// Fraction of the image the first windows cover.
    pub p_init: f32,
    /// Runs from fresh stripes on the points still robust after the previous ones.
    pub restarts: usize,
}

/// Where one run of the attack ended.
#[derive(Clone, Debug)]
pub struct SquareRun {
    /// The best point found for every example (the last accepted one).
    pub best: Tensor<f32>,
    /// The margin `z_y - max_{j != y} z_j` at `best`; the run stops moving an example once its
    /// margin is at most 0.
    pub margins: Vec<f32>,
}

/// The fraction of the image a window covers at 0-based `iteration`: `p_init` up to 10, then
/// halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 (each bound inclusive), as the
/// reference's `p_selection` without its rescaling to `n_queries` (off in AutoAttack's standard).
pub fn p_selection(p_init: f64, iteration: usize) -> f64 {
    const HALVINGS_AFTER: [usize; 9] = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
    let halvings = HALVINGS_AFTER
        .iter()
        .filter(|&&bound| iteration > bound)
        .count();
    p_init / f64::from(1u32 << halvings)
}

/// The side of the square window for fraction `p` of a `channels x height x width` image:
/// `min(max(round(sqrt(p * n_features / channels)), 1), height, width)`, with Python's
/// round-half-to-even and the reference's order of operations.
pub fn window_side(p: f64, channels: usize, height: usize, width: usize) -> usize {
    let n_features = (channels * height * width) as f64;
    let side = (p * n_features / channels as f64).sqrt().round_ties_even() as usize;
    side.max(1).min(height.min(width))
}

/// Per-example margin `z_y - max_{j != y} z_j` of `logits` `[B, K]` for `labels` `[B]`, as `[B]`
/// (the true class is masked with -inf, as the reference does): at most 0 when misclassified.
pub fn margin(logits: &Tensor<f32>, labels: &IndexTensor) -> Tensor<f32> {
    let [batch, classes] = logits.dims() else {
        panic!("margin: logits {:?} are not [B, K]", logits.dims());
    };
    let correct = logits.gather(1, &labels.unsqueeze(1));
    let true_class = Tensor::<f32>::one_hot(labels, *classes);
    let best_other = true_class
        .where_(&Tensor::scalar(f32::NEG_INFINITY), logits)
        .max_axis(1, true);
    correct.sub(&best_other).reshape([*batch])
}

/// `f32` hyperparameters as the f64 their decimal spelling names (0.8, not 0.800000011920929),
/// which is the Python float the reference computes with.
pub(super) fn as_python_float(value: f32) -> f64 {
    value
        .to_string()
        .parse()
        .expect("an f32's decimal spelling parses as f64")
}

/// For each of `total` rows, its position in `rows` (0 for rows not there, which callers mask):
/// `subset.select_rows(&spread(rows, total))` lays a subset's rows back out at full size.
fn spread(rows: &[usize], total: usize) -> Vec<usize> {
    let mut at = vec![0; total];
    for (position, &row) in rows.iter().enumerate() {
        at[row] = position;
    }
    at
}

impl Square {
    /// AutoAttack's standard Square for radius `eps`: 5000 queries, p_init 0.8, one restart.
    pub fn standard(eps: f32) -> Self {
        Square {
            eps,
            queries: 5000,
            p_init: 0.8,
            restarts: 1,
        }
    }

    /// One run (the reference's `attack_single_run`) on every example of `images`, whatever the
    /// model predicts for it clean ([`Attack::perturb`] picks the examples to attack).
    pub fn single_run(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> SquareRun {
        let [n, c, h, w] = *images.dims() else {
            panic!("square: images {:?} are not NCHW", images.dims());
        };
        let eps = self.eps;
        let stripes = rng.rademacher_on::<f32>(images.device(), [n, c, 1, w]);
        let mut best = images.add(&stripes.mul_scalar(eps)).clamp(0.0, 1.0);
        let mut margins = margin(&logits(model, &best), labels).to_vec();
        let p_init = as_python_float(self.p_init);
        for iteration in 0..self.queries {
            let active: Vec<usize> = (0..n).filter(|&i| margins[i] > 0.0).collect();
            if active.is_empty() {
                break;
            }
            let side = window_side(p_selection(p_init, iteration), c, h, w);
            // The reference's `random_int(0, h - s)` is below h - s: the window never touches
            // the last row or column unless it spans the image.
            let top = if h > side { rng.below(h - side) } else { 0 };
            let left = if w > side { rng.below(w - side) } else { 0 };
            let signs = rng.rademacher_on::<f32>(images.device(), [c, 1, 1]);
            let window = signs
                .mul_scalar(2.0 * eps)
                .broadcast_to([c, side, side])
                .pad(
                    &[(0, 0), (top, h - top - side), (left, w - left - side)],
                    0.0,
                );

            let clean = images.select_rows(&active);
            let candidate = project(&best.select_rows(&active).add(&window), &clean, eps);
            let new_margins =
                margin(&logits(model, &candidate), &labels.select_rows(&active)).to_vec();

            // The reference accepts when the loss fell or the point is misclassified. With the
            // margin loss on active points (margin > 0) both mean the margin fell.
            let mut accepted = vec![false; n];
            for (&row, &m) in active.iter().zip(&new_margins) {
                if m < margins[row] {
                    accepted[row] = true;
                    margins[row] = m;
                }
            }
            let laid_out = candidate.select_rows(&spread(&active, n));
            best = row_mask(&accepted, &best).where_(&laid_out, &best);
        }
        SquareRun { best, margins }
    }
}

impl Attack for Square {
    fn name(&self) -> String {
        "square".into()
    }

    /// As the reference's `perturb`: points the model gets right are attacked, `restarts` times
    /// on those still robust; a point counts as fooled when the model's argmax at the run's best
    /// point differs from its label. Fooled points get that point, the others their clean image.
    fn perturb(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> Tensor<f32> {
        let n = images.dims()[0];
        let truth = labels.to_vec();
        let predicted = logits(model, images).argmax_axis(1).to_vec();
        let mut robust: Vec<bool> = (0..n).map(|i| predicted[i] == truth[i]).collect();
        let mut adversarial = images.clone();
        for _ in 0..self.restarts {
            let rows: Vec<usize> = (0..n).filter(|&i| robust[i]).collect();
            if rows.is_empty() {
                break;
            }
            let run = self.single_run(
                model,
                &images.select_rows(&rows),
                &labels.select_rows(&rows),
                rng,
            );
            let predicted = logits(model, &run.best).argmax_axis(1).to_vec();
            let mut fooled = vec![false; n];
            for (position, &row) in rows.iter().enumerate() {
                if predicted[position] != truth[row] {
                    fooled[row] = true;
                    robust[row] = false;
                }
            }
            let laid_out = run.best.select_rows(&spread(&rows, n));
            adversarial = row_mask(&fooled, images).where_(&laid_out, &adversarial);
        }
        adversarial
    }
}
