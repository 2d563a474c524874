//! `torch.nn.BatchNorm2d`.

use std::cell::{Cell, RefCell};

use autograd::Var;
use tensor::{Element, Tensor};

use super::fold::FoldCache;
use crate::module::{Entry, EntryMut, Forward, Mode, Module, Param, join};

/// Weight of the newest batch in the running statistics (PyTorch's `momentum=0.1`).
const MOMENTUM: f64 = 0.1;
/// Added to the variance before the square root (PyTorch's `eps=1e-5`).
const EPS: f64 = 1e-5;

/// Batch normalisation over the channels of NCHW input (`torch.nn.BatchNorm2d`, affine, with
/// running statistics).
///
/// Train mode normalises with the batch mean and biased variance over N, H, W and moves the
/// running statistics toward the batch (the variance unbiased, as PyTorch); Eval and Attack
/// modes normalise with the running statistics and change nothing. The running statistics sit
/// in cells because `forward` takes `&self`.
pub struct BatchNorm2d<T: Element> {
    /// Scale `[C]`, initially 1.
    pub weight: Param<T>,
    /// Shift `[C]`, initially 0.
    pub bias: Param<T>,
    running_mean: RefCell<Tensor<T>>,
    running_var: RefCell<Tensor<T>>,
    num_batches_tracked: Cell<i64>,
    /// This layer folded into the convolution before it, for Eval and Attack modes
    /// ([`super::fold::conv_bn`]).
    fold_cache: FoldCache<T>,
}

impl<T: Element> BatchNorm2d<T> {
    /// `nn.BatchNorm2d(channels)`: weight 1, bias 0, running mean 0, running variance 1.
    pub fn new(channels: usize) -> Self {
        BatchNorm2d {
            weight: Param::new(Tensor::ones([channels])),
            bias: Param::new(Tensor::zeros([channels])),
            running_mean: RefCell::new(Tensor::zeros([channels])),
            running_var: RefCell::new(Tensor::ones([channels])),
            num_batches_tracked: Cell::new(0),
            fold_cache: FoldCache::default(),
        }
    }

    /// The running mean `[C]`.
    pub fn running_mean(&self) -> Tensor<T> {
        self.running_mean.borrow().clone()
    }

    /// The running (unbiased) variance `[C]`.
    pub fn running_var(&self) -> Tensor<T> {
        self.running_var.borrow().clone()
    }

    /// How many training batches have updated the running statistics.
    pub fn num_batches_tracked(&self) -> i64 {
        self.num_batches_tracked.get()
    }

    /// The per-channel map of Eval and Attack modes, `y = x scale + shift`, as `[C]` tensors:
    /// `scale = weight / sqrt(running_var + eps)`, `shift = bias - running_mean scale`.
    pub fn eval_scale_shift(&self) -> (Tensor<T>, Tensor<T>) {
        let eps = T::from_f64_lossy(EPS);
        let scale = self
            .weight
            .value()
            .div(&self.running_var.borrow().add_scalar(eps).sqrt());
        let shift = self
            .bias
            .value()
            .sub(&self.running_mean.borrow().mul(&scale));
        (scale, shift)
    }

    /// Where [`super::fold::conv_bn`] keeps this layer folded into a convolution.
    pub(super) fn fold_cache(&self) -> &FoldCache<T> {
        &self.fold_cache
    }

    /// `running = (1 - momentum) running + momentum batch`.
    fn blend(running: &RefCell<Tensor<T>>, batch: &Tensor<T>) {
        let keep = T::from_f64_lossy(1.0 - MOMENTUM);
        let take = T::from_f64_lossy(MOMENTUM);
        let mut running = running.borrow_mut();
        *running = running.mul_scalar(keep).add(&batch.mul_scalar(take));
    }
}

impl<T: Element> Module<T> for BatchNorm2d<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let d = x.dims().to_vec();
        assert!(
            d.len() == 4,
            "BatchNorm2d: expected NCHW input, got {:?}",
            x.shape()
        );
        let (n, c, plane) = (d[0], d[1], d[2] * d[3]);
        assert_eq!(
            self.weight.value().dims(),
            [c],
            "BatchNorm2d: {} channels expected, input has shape {:?}",
            self.weight.value().numel(),
            x.shape()
        );
        if fwd.mode() != Mode::Train {
            // y = x * scale + shift (see `eval_scale_shift`), the form PyTorch's CPU kernel
            // evaluates: one pass over x, the rest per channel. The parameters are constants
            // outside training.
            let (scale, shift) = self.eval_scale_shift();
            return x.channel_affine(&Var::constant(scale), &Var::constant(shift));
        }
        let eps = T::from_f64_lossy(EPS);
        let weight = fwd.param(&self.weight);
        let bias = fwd.param(&self.bias);
        let count = n * plane;
        assert!(
            count > 1,
            "BatchNorm2d: expected more than 1 value per channel when training, got input {:?}",
            x.shape()
        );
        let (y, mean, var) = x.batch_norm_train(&weight, &bias, eps);
        let unbias = T::from_usize(count).unwrap() / T::from_usize(count - 1).unwrap();
        Self::blend(&self.running_mean, &mean);
        Self::blend(&self.running_var, &var.mul_scalar(unbias));
        self.num_batches_tracked
            .set(self.num_batches_tracked.get() + 1);
        y
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        f(&join(prefix, "weight"), Entry::Param(&self.weight));
        f(&join(prefix, "bias"), Entry::Param(&self.bias));
        f(
            &join(prefix, "running_mean"),
            Entry::Buffer(&self.running_mean.borrow()),
        );
        f(
            &join(prefix, "running_var"),
            Entry::Buffer(&self.running_var.borrow()),
        );
        f(
            &join(prefix, "num_batches_tracked"),
            Entry::Count(self.num_batches_tracked.get()),
        );
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        f(&join(prefix, "weight"), EntryMut::Param(&mut self.weight));
        f(&join(prefix, "bias"), EntryMut::Param(&mut self.bias));
        f(
            &join(prefix, "running_mean"),
            EntryMut::Buffer(self.running_mean.get_mut()),
        );
        f(
            &join(prefix, "running_var"),
            EntryMut::Buffer(self.running_var.get_mut()),
        );
        f(
            &join(prefix, "num_batches_tracked"),
            EntryMut::Count(self.num_batches_tracked.get_mut()),
        );
    }
}
