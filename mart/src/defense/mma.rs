//! MMA training (Ding et al., BorealisAI `mma_training`): maximise each correctly classified
//! example's input-space margin, found by adaptive-norm PGD and a bisection, up to `d_max`.

use crate::device::beside;
use autograd::Var;
use autograd::loss::cross_entropy;
use nn::{Forward, Module};
use tensor::{IndexTensor, Rng, Tensor};

use super::{Batch, Defense, StepLoss};

/// MMA's constants.
#[derive(Clone, Debug, PartialEq)]
pub struct MmaOptions {
    /// Largest margin trained for (hinge): 0.45 on MNIST, 12/255 on CIFAR-10.
    pub d_max: f32,
    /// Smallest radius, and the radius of an example's first visit.
    pub min_eps: f32,
    /// AN-PGD steps (step size 2.5 * eps / steps).
    pub attack_steps: usize,
    /// Bisection steps along the found direction.
    pub bisection_steps: usize,
}

impl MmaOptions {
    /// The published settings for a radius `d_max`: min eps d_max / 10, 10 AN-PGD steps,
    /// 10 bisection steps.
    pub fn for_d_max(d_max: f32) -> Self {
        MmaOptions {
            d_max,
            min_eps: d_max / 10.0,
            attack_steps: 10,
            bisection_steps: 10,
        }
    }

    /// The largest radius searched: 1.05 * d_max.
    pub fn attack_max_eps(&self) -> f32 {
        1.05 * self.d_max
    }
}

/// The soft logit margin `logsumexp_{k!=y} z_k - z_y` of each row: negative when correct.
pub fn soft_logit_margin<'t>(logits: &Var<'t, f32>, labels: &IndexTensor) -> Var<'t, f32> {
    let classes = logits.dims()[1];
    let mask = Tensor::<f32>::one_hot(labels, classes).mul_scalar(-1e4);
    let others = logits.add(&Var::constant(mask)).logsumexp(1, false);
    others.sub(&logits.gather(1, &labels.unsqueeze(1)).squeeze(1))
}

/// MMA training state: the margin estimate of every training example.
pub struct Mma {
    /// Constants at the full radius.
    pub options: MmaOptions,
    /// Fraction of `d_max` and `min_eps` in use (an eps ramp), 1 by default.
    pub fraction: f32,
    margins: Vec<f32>,
}

impl Mma {
    /// MMA for a training set of `train_size` examples.
    pub fn new(options: MmaOptions, train_size: usize) -> Self {
        Mma {
            options,
            fraction: 1.0,
            margins: vec![0.0; train_size],
        }
    }

    /// The constants scaled by the current radius fraction.
    fn current_options(&self) -> MmaOptions {
        MmaOptions {
            d_max: self.options.d_max * self.fraction,
            min_eps: self.options.min_eps * self.fraction,
            ..self.options.clone()
        }
    }

    /// Soft logit margins of `images` in attack mode.
    fn margins_of(model: &dyn Module<f32>, images: &Tensor<f32>, labels: &IndexTensor) -> Vec<f32> {
        let logits = model.forward(&Var::constant(images.clone()), &mut Forward::attack());
        soft_logit_margin(&logits, labels).into_value().to_vec()
    }

    /// AN-PGD at per-example radii `eps` maximising the soft logit margin; returns the unit
    /// direction `(x_adv - x) / eps` of each example.
    fn directions(
        options: &MmaOptions,
        model: &dyn Module<f32>,
        x: &Tensor<f32>,
        y: &IndexTensor,
        eps: &[f32],
        rng: &mut Rng,
    ) -> Tensor<f32> {
        let radius = beside(Tensor::from_vec(eps.to_vec(), [eps.len(), 1, 1, 1]), x);
        let steps = options.attack_steps;
        let alpha = radius.mul_scalar(2.5 / steps as f32);
        let start: Tensor<f32> = rng.uniform_on(x.device(), x.shape().clone(), -1.0, 1.0);
        let mut adv = x.add(&start.mul(&radius)).clamp(0.0, 1.0);
        for _ in 0..steps {
            let tape = autograd::Tape::new();
            let xv = tape.var(adv.clone());
            let logits = model.forward(&xv, &mut Forward::attack());
            let loss = soft_logit_margin(&logits, y).sum_all();
            let grad = tape.backward(&loss, &[&xv]).remove(0);
            let stepped = adv.add(&grad.sign().mul(&alpha));
            let low = x.sub(&radius);
            let high = x.add(&radius);
            adv = stepped.maximum(&low).minimum(&high).clamp(0.0, 1.0);
        }
        adv.sub(x).div(&radius)
    }

    /// Smallest radius along `direction` in `[min_eps, max_eps]` at which each example is
    /// misclassified (soft logit margin >= 0), by bisection; `max_eps` when none is.
    fn bisect(
        options: &MmaOptions,
        model: &dyn Module<f32>,
        x: &Tensor<f32>,
        y: &IndexTensor,
        direction: &Tensor<f32>,
        start: &[f32],
    ) -> Vec<f32> {
        let n = start.len();
        let at = |t: &[f32]| {
            let radius = beside(Tensor::from_vec(t.to_vec(), [n, 1, 1, 1]), x);
            x.add(&direction.mul(&radius)).clamp(0.0, 1.0)
        };
        let mut low = vec![options.min_eps; n];
        let mut high = vec![options.attack_max_eps(); n];
        let found = Self::margins_of(model, &at(start), y);
        for i in 0..n {
            if found[i] >= 0.0 {
                high[i] = start[i]
            } else {
                low[i] = start[i]
            }
        }
        let reachable = Self::margins_of(model, &at(&high), y);
        for _ in 0..options.bisection_steps {
            let mid: Vec<f32> = low.iter().zip(&high).map(|(l, h)| 0.5 * (l + h)).collect();
            let margins = Self::margins_of(model, &at(&mid), y);
            for i in 0..n {
                if margins[i] >= 0.0 {
                    high[i] = mid[i]
                } else {
                    low[i] = mid[i]
                }
            }
        }
        high.iter()
            .zip(&reachable)
            .map(|(&h, &r)| {
                if r >= 0.0 {
                    h
                } else {
                    options.attack_max_eps()
                }
            })
            .collect()
    }
}

/// Per-example cross-entropy `[B]`.
fn per_example_ce<'t>(logits: &Var<'t, f32>, labels: &IndexTensor) -> Var<'t, f32> {
    logits
        .log_softmax(1)
        .gather(1, &labels.unsqueeze(1))
        .squeeze(1)
        .neg()
}

impl Defense for Mma {
    fn name(&self) -> &'static str {
        "mma"
    }

    fn loss<'t>(
        &mut self,
        model: &dyn Module<f32>,
        batch: &Batch<'_>,
        fwd: &mut Forward<'t, f32>,
        rng: &mut Rng,
    ) -> StepLoss<'t> {
        let (images, labels) = (batch.images, batch.labels);
        let options = self.current_options();
        let size = labels.numel();
        let clean_margins = Self::margins_of(model, images, labels);
        let correct: Vec<usize> = (0..size).filter(|&i| clean_margins[i] < 0.0).collect();
        for (i, &m) in clean_margins.iter().enumerate() {
            if m >= 0.0 {
                self.margins[batch.indices[i]] = 0.0;
            }
        }

        // Margin examples of the correctly classified part, with their new radii.
        let mut margin_images = None;
        if !correct.is_empty() {
            let x = images.select_rows(&correct);
            let y = labels.select_rows(&correct);
            let eps: Vec<f32> = correct
                .iter()
                .map(|&i| {
                    self.margins[batch.indices[i]].clamp(options.min_eps, options.attack_max_eps())
                })
                .collect();
            let direction = Self::directions(&options, model, &x, &y, &eps, rng);
            let radii = Self::bisect(&options, model, &x, &y, &direction, &eps);
            for (k, &i) in correct.iter().enumerate() {
                self.margins[batch.indices[i]] = radii[k];
            }
            let hinge: Vec<usize> = (0..correct.len())
                .filter(|&k| radii[k] < options.d_max)
                .collect();
            if !hinge.is_empty() {
                let r: Vec<f32> = hinge.iter().map(|&k| radii[k]).collect();
                let radius = beside(Tensor::from_vec(r, [hinge.len(), 1, 1, 1]), &x);
                let adv = x
                    .select_rows(&hinge)
                    .add(&direction.select_rows(&hinge).mul(&radius))
                    .clamp(0.0, 1.0);
                let adv_labels = y.select_rows(&hinge);
                margin_images = Some((adv, adv_labels));
            }
        }

        let batch_size = 1.0 / size as f32;
        let clean_logits = model.forward(&Var::constant(images.clone()), fwd);
        let wrong_mask: Vec<f32> = clean_margins
            .iter()
            .map(|&m| if m >= 0.0 { 1.0 } else { 0.0 })
            .collect();
        let wrong_ce = per_example_ce(&clean_logits, labels)
            .mul(&Var::constant(beside(
                Tensor::from_vec(wrong_mask, [size]),
                images,
            )))
            .sum_all();
        let mut main = wrong_ce;
        if let Some((adv, adv_labels)) = margin_images {
            let adv_logits = model.forward(&Var::constant(adv), fwd);
            main = main.add(&per_example_ce(&adv_logits, &adv_labels).sum_all());
        }
        let clean = cross_entropy(&clean_logits, labels);
        StepLoss {
            loss: main
                .mul_scalar(batch_size * 2.0 / 3.0)
                .add(&clean.mul_scalar(1.0 / 3.0)),
            logits: clean_logits.value().clone(),
        }
    }

    fn set_radius_fraction(&mut self, fraction: f32) {
        self.fraction = fraction;
    }

    fn state(&self) -> Vec<f32> {
        self.margins.clone()
    }

    fn restore(&mut self, state: Vec<f32>) -> Result<(), String> {
        if state.len() != self.margins.len() {
            return Err(format!(
                "MMA kept {} margins but the training set has {} examples",
                state.len(),
                self.margins.len()
            ));
        }
        self.margins = state;
        Ok(())
    }
}
