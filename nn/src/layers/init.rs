//! Weight initialisations of `torch.nn.init`, drawn from the seeded [`Rng`].

use tensor::{Element, Rng, Shape, Tensor};

/// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`: PyTorch's default for `Linear` and `Conv2d` weights
/// (`kaiming_uniform_(a=sqrt(5))`, whose bound `sqrt(6 / ((1 + 5) fan_in))` is the same) and
/// their biases.
pub fn default_uniform<T: Element>(
    shape: impl Into<Shape>,
    fan_in: usize,
    rng: &mut Rng,
) -> Tensor<T> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    rng.uniform(shape, -bound, bound)
}

/// `N(0, 2 / fan_in)`: `torch.nn.init.kaiming_normal_` with its defaults (fan-in mode, ReLU gain).
pub fn kaiming_normal<T: Element>(
    shape: impl Into<Shape>,
    fan_in: usize,
    rng: &mut Rng,
) -> Tensor<T> {
    rng.normal(shape, 0.0, (2.0 / fan_in as f64).sqrt())
}
