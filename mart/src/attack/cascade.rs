//! AutoAttack's cascade (Croce and Hein 2020, `run_standard_evaluation` of fra31/auto-attack):
//! the clean-correct points start robust; each attack runs only on the points still robust, in
//! ascending index order and chunks of [`AUTOATTACK_BATCH`], its random stream seeded afresh for
//! every chunk as the reference does (`torch.random.manual_seed(seed)` in each `perturb`); a point
//! the model misclassifies after an attack is no longer robust and keeps that attack's example.

use nn::Module;
use tensor::{IndexTensor, Rng, Tensor};

use super::{Attack, predicted_labels};
use crate::device::moved;

/// Images per chunk, the reference's default `bs`. Square draws one window per chunk, so the
/// chunk size is part of the attack's definition, not a tuning knob.
pub const AUTOATTACK_BATCH: usize = 250;

/// What a cascade found.
#[derive(Clone, Debug)]
pub struct CascadeOutcome {
    /// Robust accuracy in percent after each attack, in the cascade's order.
    pub stages: Vec<(String, f64)>,
    /// Per image: still classified correctly after every attack.
    pub robust: Vec<bool>,
    /// The adversarial images (on the CPU): the successful attack's example where one
    /// succeeded, the clean image elsewhere (as the reference's `x_adv`).
    pub adversarial: Tensor<f32>,
}

impl CascadeOutcome {
    /// Robust accuracy in percent after the whole cascade.
    pub fn accuracy(&self) -> f64 {
        percent(&self.robust)
    }
}

/// Percent of `true` in `flags` (0 for none).
fn percent(flags: &[bool]) -> f64 {
    100.0 * flags.iter().filter(|&&f| f).count() as f64 / flags.len().max(1) as f64
}

/// Runs `attacks` in order on `model` as AutoAttack does; `images` and `labels` may live on
/// the CPU (chunks are moved to the model's device). `on_chunk(attack, n)` is told of each
/// chunk of `n` images attacked (progress).
pub fn run_cascade(
    attacks: &[Box<dyn Attack>],
    model: &dyn Module<f32>,
    (images, labels): (&Tensor<f32>, &IndexTensor),
    seed: u64,
    mut on_chunk: impl FnMut(&str, usize),
) -> CascadeOutcome {
    let device = nn::device_of(model);
    let total = labels.numel();
    let host_labels = labels.to_usizes();
    let mut robust = vec![false; total];
    for start in (0..total).step_by(AUTOATTACK_BATCH) {
        let end = (start + AUTOATTACK_BATCH).min(total);
        let x = moved(&images.slice(0, start, end), device);
        let predicted = predicted_labels(model, &x).to_usizes();
        for (i, p) in predicted.into_iter().enumerate() {
            robust[start + i] = p == host_labels[start + i];
        }
    }
    let images = images.to_cpu();
    let labels = labels.to_cpu();
    let row = images.numel() / total.max(1);
    let mut adversarial = images.to_vec();
    let mut stages = Vec::with_capacity(attacks.len());
    for attack in attacks {
        let name = attack.name();
        let still: Vec<usize> = (0..total).filter(|&i| robust[i]).collect();
        for rows in still.chunks(AUTOATTACK_BATCH) {
            let x = moved(&images.select_rows(rows), device);
            let y = moved(&labels.select_rows(rows), device);
            let adv = attack.perturb(model, &x, &y, &mut Rng::new(seed));
            let predicted = predicted_labels(model, &adv).to_usizes();
            let adv = adv.to_cpu();
            let adv = adv.data();
            for (k, (&i, p)) in rows.iter().zip(predicted).enumerate() {
                if p != host_labels[i] {
                    robust[i] = false;
                    adversarial[i * row..(i + 1) * row]
                        .copy_from_slice(&adv[k * row..(k + 1) * row]);
                }
            }
            on_chunk(&name, rows.len());
        }
        stages.push((name, percent(&robust)));
    }
    CascadeOutcome {
        stages,
        robust,
        adversarial: Tensor::from_vec(adversarial, images.shape().clone()),
    }
}
