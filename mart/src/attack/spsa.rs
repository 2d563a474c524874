//! SPSA (Uesato et al. 2018) as torchattacks 3.5.1 `SPSA` (advertorch's `LinfSPSAAttack`): Adam
//! descent on the margin with a gradient estimated from finite differences along random signs,
//! so it sees only logits and is blind to masked gradients.

use nn::Module;
use tensor::ops::optim::AdamStep;
use tensor::{IndexTensor, Rng, Tensor};

use super::square::{as_python_float, margin};
use super::{Attack, attack_logits as logits};

/// L-inf SPSA: `steps` Adam steps (0.9, 0.999, 1e-8, `lr`) on the perturbation `dx`, each on the
/// gradient of the margin `z_y - max_{j != y} z_j` estimated from `directions` Rademacher
/// directions `v` as the mean of `(L(x + dx + delta v) - L(x + dx - delta v)) / (2 delta v)`;
/// after each step `dx` is clamped to `eps` and `x + dx` to [0, 1].
///
/// Cost: `2 * directions` forward passes per image per step (256 for the usual 128 directions),
/// no backward pass. The directions go through the model `max_batch` at a time, each time as one
/// forward of `2 * max_batch * B` images for a batch of `B`: lower `max_batch` to bound memory.
#[derive(Clone, Debug)]
pub struct Spsa {
    /// L-inf radius.
    pub eps: f32,
    /// Adam steps.
    pub steps: usize,
    /// Random directions per gradient estimate (torchattacks' `nb_sample`).
    pub directions: usize,
    /// Finite-difference step along each direction.
    pub delta: f32,
    /// Adam's learning rate.
    pub lr: f32,
    /// Directions evaluated per forward (torchattacks' `max_batch_size`).
    pub max_batch: usize,
}

impl Spsa {
    /// SPSA with torchattacks' defaults besides the three given: delta 0.01, lr 0.01, and 64
    /// directions per forward.
    pub fn new(eps: f32, steps: usize, directions: usize) -> Self {
        Spsa {
            eps,
            steps,
            directions,
            delta: 0.01,
            lr: 0.01,
            max_batch: 64,
        }
    }

    /// The SPSA estimate of the margin's gradient at `x` (torchattacks' `spsa_grad`): one
    /// direction `v` per sample, shared by every image of the batch, as the reference draws it.
    pub fn gradient_estimate(
        &self,
        model: &dyn Module<f32>,
        x: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> Tensor<f32> {
        assert!(
            self.directions > 0 && self.max_batch > 0,
            "spsa: {} directions in chunks of {} estimate nothing",
            self.directions,
            self.max_batch
        );
        let batch = x.dims()[0];
        let image = &x.dims()[1..];
        let with_leading = |lead: &[usize]| [lead, image].concat();
        let mut sum = Tensor::zeros_on(x.shape().clone(), x.device());
        let mut remaining = self.directions;
        while remaining > 0 {
            let chunk = remaining.min(self.max_batch);
            remaining -= chunk;
            let v = rng.rademacher_on::<f32>(x.device(), with_leading(&[chunk, 1]));
            let copies = x.unsqueeze(0).broadcast_to(with_leading(&[chunk, batch]));
            let step = v.mul_scalar(self.delta);
            let probes = Tensor::concat(&[&copies.add(&step), &copies.sub(&step)], 0)
                .reshape(with_leading(&[2 * chunk * batch]));
            let probe_labels = labels
                .unsqueeze(0)
                .broadcast_to([2 * chunk, batch])
                .reshape([2 * chunk * batch]);
            let losses = margin(&logits(model, &probes), &probe_labels).reshape([2, chunk, batch]);
            let mut per_probe = vec![1; image.len()];
            per_probe.splice(0..0, [chunk, batch]);
            let difference = losses
                .slice(0, 0, 1)
                .sub(&losses.slice(0, 1, 2))
                .reshape(per_probe);
            let estimates = difference.div(&v.mul_scalar(2.0 * self.delta));
            sum = sum.add(&estimates.sum_axis(0, false));
        }
        sum.div(&Tensor::scalar(self.directions as f32))
    }
}

impl Attack for Spsa {
    fn name(&self) -> String {
        "spsa".into()
    }

    fn perturb(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> Tensor<f32> {
        let adam = AdamStep {
            lr: as_python_float(self.lr),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let mut dx = Tensor::zeros_on(images.shape().clone(), images.device());
        let mut moments = None;
        let mut adversarial = images.clone();
        for step in 1..=self.steps {
            let grad = self.gradient_estimate(model, &images.add(&dx), labels, rng);
            // Adam descends: the margin falls, towards misclassification.
            dx.adam_step(&grad, &mut moments, step as u64, &adam);
            adversarial = images.add(&dx.clamp(-self.eps, self.eps)).clamp(0.0, 1.0);
            dx = adversarial.sub(images);
        }
        adversarial
    }
}
