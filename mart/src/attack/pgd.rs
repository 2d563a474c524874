//! Projected gradient descent (Madry et al.) on any [`Objective`], with the random starts the
//! reference codes use. CW-inf is PGD on the CW margin.

use nn::Module;
use tensor::{IndexTensor, Rng, Tensor};

use super::{Attack, input_gradient, project, projected_step};
use crate::objective::Objective;

/// Where PGD starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// At the clean image.
    None,
    /// `x + U(-eps, eps)`, not clamped before the first gradient (PGD evaluation, Madry).
    Uniform,
    /// `x + std * N(0, 1)`, not clamped (MART's and TRADES' training attacks use std 0.001).
    Gaussian(f64),
}

/// `steps` projected signed-gradient steps of size `alpha` within radius `eps`.
#[derive(Clone, Debug)]
pub struct Pgd {
    /// L-inf radius.
    pub eps: f32,
    /// Step size.
    pub alpha: f32,
    /// Number of steps.
    pub steps: usize,
    /// Random start.
    pub start: Start,
    /// What is maximised.
    pub objective: Objective,
    /// Name in tables.
    pub label: String,
}

impl Pgd {
    /// The starting point for `images`.
    pub fn start_point(&self, images: &Tensor<f32>, rng: &mut Rng) -> Tensor<f32> {
        match self.start {
            Start::None => images.clone(),
            Start::Uniform => {
                let eps = f64::from(self.eps);
                images.add(&rng.uniform_on(images.device(), images.shape().clone(), -eps, eps))
            }
            Start::Gaussian(std) => {
                images.add(&rng.normal_on(images.device(), images.shape().clone(), 0.0, std))
            }
        }
    }

    /// Runs the attack; `natural_probs` is needed by the KL objective only.
    pub fn run(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        natural_probs: Option<&Tensor<f32>>,
        rng: &mut Rng,
    ) -> Tensor<f32> {
        let mut x = self.start_point(images, rng);
        for _ in 0..self.steps {
            let grad = input_gradient(model, &x, labels, &self.objective, natural_probs);
            x = projected_step(&x, &grad, images, self.alpha, self.eps);
        }
        if self.steps == 0 {
            project(&x, images, self.eps)
        } else {
            x
        }
    }
}

impl Attack for Pgd {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn perturb(
        &self,
        model: &dyn Module<f32>,
        images: &Tensor<f32>,
        labels: &IndexTensor,
        rng: &mut Rng,
    ) -> Tensor<f32> {
        self.run(model, images, labels, None, rng)
    }
}

impl Pgd {
    /// The same attack with radius and step size scaled by `fraction` (an eps ramp).
    pub fn scaled(&self, fraction: f32) -> Pgd {
        Pgd {
            eps: self.eps * fraction,
            alpha: self.alpha * fraction,
            ..self.clone()
        }
    }
}
