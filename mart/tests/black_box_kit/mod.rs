//! What the Square and SPSA tests (`square.rs`, `square_spsa.rs`) share: a linear model with its
//! f64 margins, images with pixels at both ends of [0, 1], labels, and predictions. Every test
//! file compiles its own copy and uses only part of it.
#![allow(dead_code)]

use autograd::Var;
use nn::layers::{Flatten, Linear, Sequential};
use nn::{Forward, Module};
use tensor::{IndexTensor, Rng, Tensor};

/// A linear classifier on flattened images, with its weights kept for f64 references.
pub struct LinearModel {
    pub model: Sequential<f32>,
    weight: Vec<f64>,
    bias: Vec<f64>,
    classes: usize,
}

impl LinearModel {
    pub fn new(classes: usize, features: usize, rng: &mut Rng) -> Self {
        let weight = rng.normal::<f32>([classes, features], 0.0, 1.0);
        let bias = rng.normal::<f32>([classes], 0.0, 1.0);
        LinearModel {
            weight: weight.to_f64_vec(),
            bias: bias.to_f64_vec(),
            classes,
            model: Sequential::new(vec![
                Box::new(Flatten),
                Box::new(Linear::from_tensors(weight, bias)),
            ]),
        }
    }

    /// `z_y - max_{j != y} z_j` of one flattened image, in f64.
    pub fn margin(&self, image: &[f32], label: usize) -> f64 {
        let logit = |k: usize| {
            let row = &self.weight[k * image.len()..(k + 1) * image.len()];
            self.bias[k]
                + row
                    .iter()
                    .zip(image)
                    .map(|(w, &x)| w * f64::from(x))
                    .sum::<f64>()
        };
        let other = (0..self.classes)
            .filter(|&k| k != label)
            .map(logit)
            .fold(f64::NEG_INFINITY, f64::max);
        logit(label) - other
    }

    /// The margin's gradient for `label` when there are two classes: `W[y] - W[1 - y]`.
    pub fn two_class_gradient(&self, label: usize, features: usize) -> Vec<f64> {
        assert_eq!(self.classes, 2);
        let row = |k: usize| &self.weight[k * features..(k + 1) * features];
        row(label)
            .iter()
            .zip(row(1 - label))
            .map(|(a, b)| a - b)
            .collect()
    }
}

/// Images in [0, 1] with some pixels at exactly 0 and exactly 1.
pub fn images(dims: [usize; 4], rng: &mut Rng) -> Tensor<f32> {
    let images = rng.uniform::<f32>(dims, -0.2, 1.2).clamp(0.0, 1.0);
    assert!(images.data().contains(&0.0) && images.data().contains(&1.0));
    images
}

/// Labels cycling over `classes`.
pub fn cycling_labels(n: usize, classes: usize) -> IndexTensor {
    Tensor::from_vec((0..n).map(|i| (i % classes) as u32).collect(), [n])
}

/// The model's own predictions as labels: every clean image is classified right, so Square
/// attacks them all.
pub fn own_labels(model: &dyn Module<f32>, x: &Tensor<f32>) -> IndexTensor {
    Tensor::from_vec(predictions(model, x), [x.dims()[0]])
}

pub fn predictions(model: &dyn Module<f32>, x: &Tensor<f32>) -> Vec<u32> {
    model
        .forward(&Var::constant(x.clone()), &mut Forward::eval())
        .value()
        .argmax_axis(1)
        .to_vec()
}

pub fn image(t: &Tensor<f32>, i: usize) -> &[f32] {
    let len = t.numel() / t.dims()[0];
    &t.data()[i * len..(i + 1) * len]
}
