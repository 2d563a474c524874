//! Robust accuracy: a model's accuracy on clean images and under each attack of a table, the
//! attacks crafted on the model itself (white-box) or on a surrogate (black-box transfer).

use autograd::Var;
use autograd::loss::accuracy;
use nn::{Forward, Module};
use tensor::{IndexTensor, Rng, Tensor};

use crate::attack::{AttackSpec, run_cascade};
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

/// The model judged and the model the attacks are crafted on: the same one for white-box
/// evaluation, a separately trained surrogate for black-box transfer (the paper's Table 3).
#[derive(Clone, Copy)]
pub struct Models<'m> {
    /// The model whose accuracy is reported.
    pub judged: &'m dyn Module<f32>,
    /// The model whose gradients (or queries) craft the adversarial examples.
    pub source: &'m dyn Module<f32>,
}

impl<'m> Models<'m> {
    /// White-box: attacks see the judged model itself.
    pub fn white_box(model: &'m dyn Module<f32>) -> Self {
        Models {
            judged: model,
            source: model,
        }
    }

    /// Whether the attacks are crafted on the judged model.
    fn is_white_box(&self) -> bool {
        std::ptr::addr_eq(self.judged, self.source)
    }
}

/// One row of an attack table.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackRow {
    /// The attack's command-line name (`pgd20`, `autoattack`, ...).
    pub name: String,
    /// Accuracy in percent under it.
    pub accuracy: f64,
    /// For AutoAttack's cascade in white-box mode: robust accuracy after each of its attacks.
    pub stages: Vec<(String, f64)>,
}

/// Accuracy in percent of `model` on `images` under each attack of `specs`; `on_batch` is
/// called after each batch of each attack (progress).
pub fn robust_accuracy(
    model: &dyn Module<f32>,
    data: (&Tensor<f32>, &IndexTensor),
    specs: &[AttackSpec],
    settings: EvalSettings,
    rng: &mut Rng,
    on_batch: impl FnMut(&AttackSpec, usize),
) -> Vec<(String, f64)> {
    attack_table(
        Models::white_box(model),
        data,
        specs,
        settings,
        rng,
        on_batch,
    )
    .into_iter()
    .map(|row| (row.name, row.accuracy))
    .collect()
}

/// The full table: each attack of `specs` crafted on `models.source` and judged on
/// `models.judged`. AutoAttack and its parts run as the reference's cascade (on the points
/// still robust), seeded with `rng`'s seed; the other attacks batch by batch from `rng`.
pub fn attack_table(
    models: Models<'_>,
    (images, labels): (&Tensor<f32>, &IndexTensor),
    specs: &[AttackSpec],
    settings: EvalSettings,
    rng: &mut Rng,
    mut on_batch: impl FnMut(&AttackSpec, usize),
) -> Vec<AttackRow> {
    let EvalSettings { eps, batch } = settings;
    let total = labels.numel();
    let device = nn::device_of(models.judged);
    let judged_accuracy = |adversarial: &Tensor<f32>| {
        let mut correct = 0;
        for start in (0..total).step_by(batch.max(1)) {
            let end = (start + batch).min(total);
            let x = moved(&adversarial.slice(0, start, end), device);
            let y = moved(&labels.slice(0, start, end), device);
            correct += count_correct(models.judged, &x, &y);
        }
        100.0 * correct as f64 / total.max(1) as f64
    };
    specs
        .iter()
        .map(|spec| {
            if let Some(parts) = spec.cascade(eps) {
                let seed = rng.state().0;
                let outcome = run_cascade(&parts, models.source, (images, labels), seed, |_, n| {
                    on_batch(spec, n)
                });
                let (accuracy, stages) = if models.is_white_box() {
                    (outcome.accuracy(), outcome.stages)
                } else {
                    (judged_accuracy(&outcome.adversarial), Vec::new())
                };
                return AttackRow {
                    name: spec.name(),
                    accuracy,
                    stages,
                };
            }
            let attack = spec.build(eps);
            let mut correct = 0;
            for start in (0..total).step_by(batch.max(1)) {
                let end = (start + batch).min(total);
                let x = moved(&images.slice(0, start, end), device);
                let y = moved(&labels.slice(0, start, end), device);
                let x = match &attack {
                    Some(a) => a.perturb(models.source, &x, &y, rng),
                    None => x,
                };
                correct += count_correct(models.judged, &x, &y);
                on_batch(spec, end - start);
            }
            AttackRow {
                name: spec.name(),
                accuracy: 100.0 * correct as f64 / total.max(1) as f64,
                stages: Vec::new(),
            }
        })
        .collect()
}

/// The checkpoint (and surrogate) loaded, with the test images they are judged on.
pub struct Loaded {
    /// The model judged.
    pub model: Box<dyn Module<f32>>,
    /// The surrogate the attacks are crafted on, for transfer.
    pub surrogate: Option<Box<dyn Module<f32>>>,
    /// The first `--limit` test images.
    pub images: Tensor<f32>,
    /// Their labels.
    pub labels: IndexTensor,
    /// The L-inf radius: `--eps` or the data set's default.
    pub eps: f32,
}

impl Loaded {
    /// The judged model and the one the attacks see.
    pub fn models(&self) -> Models<'_> {
        Models {
            judged: &*self.model,
            source: self.surrogate.as_deref().unwrap_or(&*self.model),
        }
    }
}
