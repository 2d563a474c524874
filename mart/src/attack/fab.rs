//! FAB-T (Croce & Hein 2020), the targeted Fast Adaptive Boundary attack of AutoAttack's
//! "standard" L-inf suite: a minimal-norm attack that walks to the decision boundary between the
//! true class and a target class by repeated projections onto its linearisation, then pulls
//! back towards the clean image while it stays misclassified.
//!
//! A port of `FABAttack_PT` (fab_base.py, fab_pt.py) with `targeted=True`: the same targets, the
//! same step (projections from the current point and from the clean image, mixed by `alpha`,
//! overshot by `eta`), the same backward step `beta` and the same best-so-far rule. Images and
//! gradients stay tensors on their device; only `[B]` flags, labels and norms come to the host.

use autograd::Tape;
use nn::{Forward, Module};
use tensor::{IndexTensor, Rng, Tensor};

use super::chunks::{row_chunks, stack_rows};
use super::fab_projection::projection_linf;
use super::{Attack, attack_logits as logits, row_mask};

/// The reference's "no adversarial point found yet" norm.
const NOT_FOUND: f32 = 1e10;
/// Floor on the step norms in `alpha`'s ratio, so two zero steps do not give 0 / 0.
const MIN_STEP_NORM: f32 = 1e-8;

/// Targeted FAB in the L-inf norm: for each of `target_classes` targets (the 2nd, 3rd, ...
/// largest clean logit), `restarts` runs of `steps` iterations on the points still robust.
#[derive(Clone, Debug, PartialEq)]
pub struct FabTargeted {
    /// L-inf radius: a point counts as fooled only within it (and a random restart starts at
    /// half of it).
    pub eps: f32,
    /// Iterations per run (`n_iter`).
    pub steps: usize,
    /// Runs per target; every run after the first starts at a random point (`n_restarts`).
    pub restarts: usize,
    /// How many targets are tried (`n_target_classes`).
    pub target_classes: usize,
    /// Largest weight of the projection from the clean image in a step (`alpha_max`).
    pub alpha_max: f32,
    /// Overshoot of each projection (`eta`).
    pub eta: f32,
    /// Backward step towards the clean image after a success (`beta`).
    pub beta: f32,
}

impl FabTargeted {
    /// AutoAttack's "standard" L-inf configuration: 100 iterations, 1 restart, 9 targets,
    /// alpha_max 0.1, eta 1.05, beta 0.9.
    pub fn standard(eps: f32) -> FabTargeted {
        FabTargeted {
            eps,
            steps: 100,
            restarts: 1,
            target_classes: 9,
            alpha_max: 0.1,
            eta: 1.05,
            beta: 0.9,
        }
    }

    /// The reference's `attack_single_run` towards the `rank`-th largest clean logit: the
    /// closest misclassified iterate for each point the model classifies correctly, the clean
    /// image where none was found (and for the points already misclassified).
    fn single_run(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rank: usize,
        random_start: bool,
        rng: &mut Rng,
    ) -> Tensor<f32> {
        let clean_logits = logits(model, images);
        let predicted = clean_logits.argmax_axis(1).to_usizes();
        let true_labels = labels.to_usizes();
        let correct: Vec<usize> = (0..predicted.len())
            .filter(|&i| predicted[i] == true_labels[i])
            .collect();
        if correct.is_empty() {
            return images.clone();
        }
        let targets = clean_logits.sort_axis(1, true).1.slice(1, rank - 1, rank);
        let (images2, labels2, targets2) = (
            images.select_rows(&correct),
            labels.select_rows(&correct),
            targets.select_rows(&correct),
        );
        let start = if random_start {
            self.random_start(&images2, rng)
        } else {
            images2.clone()
        };
        let adv = self.iterate(model, &images2, &start, &labels2, &targets2);
        let replaced: Vec<(usize, usize)> = correct.iter().copied().zip(0..).collect();
        with_rows_replaced(images, &adv, &replaced)
    }

    /// `clamp01(x + (eps / 2) * t / ||t||_inf)`, `t ~ U(-1, 1)`: the reference's random start
    /// (its `min(res2, eps)` is eps, as no point has been found at the start of a run).
    fn random_start(&self, images: &Tensor<f32>, rng: &mut Rng) -> Tensor<f32> {
        let t = rng.uniform_on::<f32>(images.device(), images.shape().clone(), -1.0, 1.0);
        let largest = row_view(&t).abs().max_axis(1, true);
        let unit = row_view(&t).div(&largest).reshape(images.shape().clone());
        images.add(&unit.mul_scalar(self.eps * 0.5)).clamp(0.0, 1.0)
    }

    /// `steps` FAB iterations from `start` for clean `images`, all classified as `labels`;
    /// returns the closest misclassified iterate of each point, or its clean image.
    fn iterate(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        start: &Tensor<f32>,
        labels: &IndexTensor,
        targets: &IndexTensor,
    ) -> Tensor<f32> {
        let image_shape = images.shape().clone();
        let rows = images.dims()[0];
        let x0 = row_view(images);
        let mut x1 = row_view(start);
        let mut adv = x0.clone();
        let mut best = vec![NOT_FOUND; rows];
        let true_labels = labels.to_usizes();
        let zero = Tensor::scalar(0.0f32);
        for _ in 0..self.steps {
            let (margin, grad) =
                margin_and_gradient(model, &x1.reshape(image_shape.clone()), labels, targets);
            let w = row_view(&grad);
            let b = margin
                .neg()
                .add(&w.mul(&x1).sum_axis(1, true))
                .reshape([rows]);
            let projections = projection_linf(
                &Tensor::concat(&[&x1, &x0], 0),
                &Tensor::concat(&[&w, &w], 0),
                &Tensor::concat(&[&b, &b], 0),
            );
            let norms = projections
                .abs()
                .max_axis(1, true)
                .maximum(&Tensor::scalar(MIN_STEP_NORM));
            let (from_x1, from_x0) = (norms.slice(0, 0, rows), norms.slice(0, rows, 2 * rows));
            let alpha = from_x1
                .div(&from_x1.add(&from_x0))
                .maximum(&zero)
                .minimum(&Tensor::scalar(self.alpha_max));
            let (d1, d2) = (
                projections.slice(0, 0, rows),
                projections.slice(0, rows, 2 * rows),
            );
            x1 = x1
                .add(&d1.mul_scalar(self.eta))
                .mul(&alpha.neg().add_scalar(1.0))
                .add(&x0.add(&d2.mul_scalar(self.eta)).mul(&alpha))
                .clamp(0.0, 1.0);

            let predicted = logits(model, &x1.reshape(image_shape.clone()))
                .argmax_axis(1)
                .to_usizes();
            let fooled: Vec<bool> = predicted
                .iter()
                .zip(&true_labels)
                .map(|(p, y)| p != y)
                .collect();
            if !fooled.contains(&true) {
                continue;
            }
            let distance = linf_distances(&x1, &x0);
            let closer: Vec<bool> = (0..rows)
                .map(|i| fooled[i] && distance[i] < best[i])
                .collect();
            for i in (0..rows).filter(|&i| closer[i]) {
                best[i] = distance[i];
            }
            adv = row_mask(&closer, &x1).where_(&x1, &adv);
            let pulled_back = x0.add(&x1.sub(&x0).mul_scalar(self.beta));
            x1 = row_mask(&fooled, &x1).where_(&pulled_back, &x1);
        }
        adv.reshape(image_shape)
    }
}

impl Attack for FabTargeted {
    fn name(&self) -> String {
        "fab-t".into()
    }

    /// The reference's `perturb` with `targeted=True`: for each target and restart, a run on
    /// the points still robust; a point is fooled when the run's image is misclassified within
    /// eps, and then keeps that image. Robust points come back clean.
    fn perturb(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> Tensor<f32> {
        let clean_logits = logits(model, images);
        let classes = clean_logits.dims()[1];
        assert!(
            self.target_classes < classes,
            "fab-t: {} target classes need more than the model's {classes} classes",
            self.target_classes
        );
        let true_labels = labels.to_usizes();
        let predicted = clean_logits.argmax_axis(1).to_usizes();
        let mut robust: Vec<bool> = predicted
            .iter()
            .zip(&true_labels)
            .map(|(p, y)| p == y)
            .collect();
        let mut adv = images.clone();
        for rank in 2..self.target_classes + 2 {
            for restart in 0..self.restarts {
                let rows: Vec<usize> = (0..robust.len()).filter(|&i| robust[i]).collect();
                if rows.is_empty() {
                    continue;
                }
                let (x, y) = (images.select_rows(&rows), labels.select_rows(&rows));
                let candidate = self.single_run(model, &x, &y, rank, restart > 0, rng);
                let predicted = logits(model, &candidate).argmax_axis(1).to_usizes();
                let distance = linf_distances(&row_view(&x), &row_view(&candidate));
                let mut replaced = Vec::new();
                for (j, &row) in rows.iter().enumerate() {
                    let stays_robust = predicted[j] == true_labels[row] || distance[j] > self.eps;
                    if !stays_robust {
                        robust[row] = false;
                        replaced.push((row, j));
                    }
                }
                adv = with_rows_replaced(&adv, &candidate, &replaced);
            }
        }
        adv
    }
}

/// `f = z_t - z_y` per example (`[B, 1]`) at `x`, and the gradient of its batch sum with
/// respect to `x` (the reference's `get_diff_logits_grads_batch_targeted`), the batch in row
/// chunks on the CPU ([`row_chunks`]; the examples are independent).
fn margin_and_gradient(
    model: &dyn Module<f32>,
    x: &Tensor<f32>,
    labels: &IndexTensor,
    targets: &IndexTensor,
) -> (Tensor<f32>, Tensor<f32>) {
    let chunks = row_chunks(x.dims()[0], x.device());
    if chunks.len() == 1 {
        return margin_and_gradient_rows(model, x, labels, targets);
    }
    let (margins, grads) = chunks
        .iter()
        .map(|rows| {
            let part = |t: &IndexTensor| t.slice(0, rows.start, rows.end);
            let x = x.slice(0, rows.start, rows.end);
            margin_and_gradient_rows(model, &x, &part(labels), &part(targets))
        })
        .unzip();
    (stack_rows(margins), stack_rows(grads))
}

/// [`margin_and_gradient`] on one chunk.
fn margin_and_gradient_rows(
    model: &dyn Module<f32>,
    x: &Tensor<f32>,
    labels: &IndexTensor,
    targets: &IndexTensor,
) -> (Tensor<f32>, Tensor<f32>) {
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let logits = model.forward(&xv, &mut Forward::attack());
    let margin = logits
        .gather(1, targets)
        .sub(&logits.gather(1, &labels.unsqueeze(1)));
    let grad = tape.backward(&margin.sum_all(), &[&xv]).remove(0);
    (margin.into_value(), grad)
}

/// `x` as `[B, rest]` (free).
fn row_view(x: &Tensor<f32>) -> Tensor<f32> {
    let rows = x.dims()[0];
    x.reshape([rows, x.numel() / rows.max(1)])
}

/// The L-inf distance between matching rows of `a` and `b`, on the host.
fn linf_distances(a: &Tensor<f32>, b: &Tensor<f32>) -> Vec<f32> {
    a.sub(b).abs().max_axis(1, false).to_vec()
}

/// `base` with row `to` replaced by row `from` of `replacement`, for each `(to, from)`.
fn with_rows_replaced(
    base: &Tensor<f32>,
    replacement: &Tensor<f32>,
    replaced: &[(usize, usize)],
) -> Tensor<f32> {
    if replaced.is_empty() {
        return base.clone();
    }
    let rows = base.dims()[0];
    let mut pick: Vec<usize> = (0..rows).collect();
    for &(to, from) in replaced {
        pick[to] = rows + from;
    }
    Tensor::concat(&[base, replacement], 0).select_rows(&pick)
}
