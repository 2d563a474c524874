//! `torch.nn.Conv2d`.

use autograd::Var;
use tensor::{Conv2dGeometry, Element, Pool2dGeometry, Rng, Tensor};

use super::init::default_uniform;
use crate::module::{Entry, EntryMut, Forward, Module, Param, join};

/// A 2-D convolution (`torch.nn.Conv2d`) with a square kernel: weight `[out, in, k, k]`
/// (OIHW), optional bias `[out]`, the same stride and zero padding on both axes.
pub struct Conv2d<T: Element> {
    /// `[out_channels, in_channels, k, k]`.
    pub weight: Param<T>,
    /// `[out_channels]`, absent for `bias=False`.
    pub bias: Option<Param<T>>,
    /// Stride and padding.
    pub geometry: Conv2dGeometry,
}

impl<T: Element> Conv2d<T> {
    /// `nn.Conv2d(in, out, kernel, stride, padding, bias)` with PyTorch's default
    /// initialisation: weight, then bias, each `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with
    /// `fan_in = in * kernel * kernel`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        geometry: Conv2dGeometry,
        bias: bool,
        rng: &mut Rng,
    ) -> Self {
        let fan_in = in_channels * kernel * kernel;
        let weight = default_uniform([out_channels, in_channels, kernel, kernel], fan_in, rng);
        let bias = bias.then(|| default_uniform([out_channels], fan_in, rng));
        Conv2d::from_tensors(weight, bias, geometry)
    }

    /// A convolution with the given OIHW weight and optional bias `[O]`.
    pub fn from_tensors(
        weight: Tensor<T>,
        bias: Option<Tensor<T>>,
        geometry: Conv2dGeometry,
    ) -> Self {
        assert!(
            weight.rank() == 4 && bias.as_ref().is_none_or(|b| b.dims() == [weight.dims()[0]]),
            "Conv2d: weight {:?} (OIHW) and bias {:?} do not match",
            weight.shape(),
            bias.as_ref().map(|b| b.shape())
        );
        Conv2d {
            weight: Param::new(weight),
            bias: bias.map(Param::new),
            geometry,
        }
    }
}

impl<T: Element> Module<T> for Conv2d<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let bias = self.bias.as_ref().map(|b| fwd.param(b));
        x.conv2d(&fwd.param(&self.weight), bias.as_ref(), self.geometry)
    }

    /// The convolution and the ReLU after it as one op ([`Var::conv2d_relu`]).
    fn forward_relu<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let bias = self.bias.as_ref().map(|b| fwd.param(b));
        x.conv2d_relu(&fwd.param(&self.weight), bias.as_ref(), self.geometry)
    }

    /// The convolution, the ReLU and the max pooling after it as one op
    /// ([`Var::conv2d_relu_max_pool`]).
    fn forward_relu_max_pool<'t>(
        &self,
        x: &Var<'t, T>,
        pool: Pool2dGeometry,
        fwd: &mut Forward<'t, T>,
    ) -> Var<'t, T> {
        let bias = self.bias.as_ref().map(|b| fwd.param(b));
        x.conv2d_relu_max_pool(&fwd.param(&self.weight), bias.as_ref(), self.geometry, pool)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        f(&join(prefix, "weight"), Entry::Param(&self.weight));
        if let Some(b) = &self.bias {
            f(&join(prefix, "bias"), Entry::Param(b));
        }
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        f(&join(prefix, "weight"), EntryMut::Param(&mut self.weight));
        if let Some(b) = &mut self.bias {
            f(&join(prefix, "bias"), EntryMut::Param(b));
        }
    }
}
