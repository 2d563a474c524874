//! FGSM (Goodfellow et al.): one signed-gradient step of size eps on the cross-entropy.

use nn::Module;
use tensor::{IndexTensor, Rng, Tensor};

use super::{Attack, input_gradient, projected_step};
use crate::objective::Objective;

/// The fast gradient sign method: `clamp(x + eps * sign(grad CE), 0, 1)`.
#[derive(Clone, Debug)]
pub struct Fgsm {
    /// L-inf radius.
    pub eps: f32,
}

impl Attack for Fgsm {
    fn name(&self) -> String {
        "fgsm".to_string()
    }

    fn perturb(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        _rng: &mut Rng,
    ) -> Tensor<f32> {
        let grad = input_gradient(model, images, labels, &Objective::CrossEntropy, None);
        projected_step(images, &grad, images, self.eps, self.eps)
    }
}
