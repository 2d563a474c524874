//! `torch.nn.Linear`.

use autograd::Var;
use tensor::{Element, Rng, Tensor};

use super::init::default_uniform;
use crate::module::{Entry, EntryMut, Forward, Module, Param, join};

/// A fully connected layer `y = x W^T + b` (`torch.nn.Linear`), weight `[out, in]`, bias `[out]`.
pub struct Linear<T: Element> {
    /// `[out_features, in_features]`, PyTorch's layout.
    pub weight: Param<T>,
    /// `[out_features]`.
    pub bias: Param<T>,
}

impl<T: Element> Linear<T> {
    /// `nn.Linear(in_features, out_features)` with PyTorch's default initialisation: weight,
    /// then bias, each `U(-1/sqrt(in), 1/sqrt(in))`.
    pub fn new(in_features: usize, out_features: usize, rng: &mut Rng) -> Self {
        let weight = default_uniform([out_features, in_features], in_features, rng);
        let bias = default_uniform([out_features], in_features, rng);
        Linear::from_tensors(weight, bias)
    }

    /// A layer with the given weight `[out, in]` and bias `[out]`.
    pub fn from_tensors(weight: Tensor<T>, bias: Tensor<T>) -> Self {
        assert!(
            weight.rank() == 2 && bias.dims() == [weight.dims()[0]],
            "Linear: weight {:?} and bias {:?} do not match",
            weight.shape(),
            bias.shape()
        );
        Linear {
            weight: Param::new(weight),
            bias: Param::new(bias),
        }
    }
}

impl<T: Element> Module<T> for Linear<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        // x W^T reads W transposed through strides: no copy of the transpose.
        x.matmul_t(false, &fwd.param(&self.weight), true)
            .add(&fwd.param(&self.bias))
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        f(&join(prefix, "weight"), Entry::Param(&self.weight));
        f(&join(prefix, "bias"), Entry::Param(&self.bias));
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        f(&join(prefix, "weight"), EntryMut::Param(&mut self.weight));
        f(&join(prefix, "bias"), EntryMut::Param(&mut self.bias));
    }
}
