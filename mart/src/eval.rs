//! Robust accuracy: a model's accuracy on clean images and under each attack of a table.

use autograd::Var;
use autograd::loss::accuracy;
use nn::{Forward, Module};
use tensor::{IndexTensor, Rng, Tensor};

use crate::attack::AttackSpec;
use crate::device::moved;

/// Logits of `images` in evaluation mode (no tape, running statistics).
pub fn predict(model: &dyn Module<f32>, images: &Tensor<f32>) -> Tensor<f32> {
    model
        .forward(&Var::constant(images.clone()), &mut Forward::eval())
        .into_value()
}

/// Number of correct predictions on `images`.
pub fn count_correct(model: &dyn Module<f32>, images: &Tensor<f32>, labels: &IndexTensor) -> usize {
    let logits = predict(model, images);
    (accuracy(&logits, labels) * labels.numel() as f64).round() as usize
}

/// How an attack table is run.
#[derive(Clone, Copy, Debug)]
pub struct EvalSettings {
    /// L-inf radius of every attack.
    pub eps: f32,
    /// Images per batch.
    pub batch: usize,
}

/// Accuracy in percent of `model` on `images` under each attack of `specs`; `on_batch` is
/// called after each batch of each attack (progress).
pub fn robust_accuracy(
    model: &dyn Module<f32>,
    (images, labels): (&Tensor<f32>, &IndexTensor),
    specs: &[AttackSpec],
    settings: EvalSettings,
    rng: &mut Rng,
    mut on_batch: impl FnMut(&AttackSpec, usize),
) -> Vec<(String, f64)> {
    let EvalSettings { eps, batch } = settings;
    let total = labels.numel();
    let device = nn::device_of(model);
    specs
        .iter()
        .map(|spec| {
            let attack = spec.build(eps);
            let mut correct = 0;
            for start in (0..total).step_by(batch.max(1)) {
                let end = (start + batch).min(total);
                let x = moved(&images.slice(0, start, end), device);
                let y = moved(&labels.slice(0, start, end), device);
                let x = match &attack {
                    Some(a) => a.perturb(model, &x, &y, rng),
                    None => x,
                };
                correct += count_correct(model, &x, &y);
                on_batch(spec, end - start);
            }
            (spec.name(), 100.0 * correct as f64 / total.max(1) as f64)
        })
        .collect()
}
