//! A convolution followed by batch normalisation (and ReLU), with the normalisation folded into
//! the convolution's weights outside training.
//!
//! In Eval and Attack modes a `BatchNorm2d` is a fixed affine map per channel, `y = x s + t`
//! with `s = weight / sqrt(running_var + eps)` and `t = bias - running_mean s`. After a
//! convolution it can be folded into it: `bn(conv(x)) = conv'(x)` with the kernels of output
//! channel `o` scaled by `s[o]` and the bias `t + s b` (`b` the convolution's own bias, if any),
//! what `torch.nn.utils.fusion.fuse_conv_bn_eval` computes. The folded convolution, with the
//! ReLU after it fused in ([`Var::conv2d_relu`]), writes its output once, where the three layers
//! read and write it four more times (scale, shift, ReLU) and their backward twice more. The
//! values agree with the unfolded layers up to rounding (the scaled kernels are rounded once).
//!
//! An attack runs the same model many times, so the folded weights are kept ([`FoldCache`])
//! until any of the tensors they were made from changes: every change to a parameter or a
//! running statistic (an optimiser step, a batch in Train mode, loading a checkpoint, moving to
//! another device) gives it new storage, since the cache still shares the old one. A forward
//! pass in Train mode drops them: the weights are about to change, and the kept tensors would
//! hold the old ones (and their transformed copies) in memory.

use std::cell::RefCell;

use autograd::Var;
use tensor::{Element, Tensor};

use super::{BatchNorm2d, Conv2d};
use crate::module::{Forward, Mode, Module};

/// `relu(bn(conv(x)))` when `relu` holds, else `bn(conv(x))`: the layers one after the other in
/// Train mode (batch statistics), one folded convolution in Eval and Attack modes (see the
/// [module docs](self)).
pub fn conv_bn<'t, T: Element>(
    conv: &Conv2d<T>,
    bn: &BatchNorm2d<T>,
    x: &Var<'t, T>,
    relu: bool,
    fwd: &mut Forward<'t, T>,
) -> Var<'t, T> {
    if fwd.mode() == Mode::Train {
        // Training changes the weights: let the folded ones (and what they hold) go now.
        bn.fold_cache().clear();
        let y = bn.forward(&conv.forward(x, fwd), fwd);
        return if relu { y.relu() } else { y };
    }
    let (weight, bias) = bn.fold_cache().folded(conv, bn);
    let (weight, bias) = (Var::constant(weight), Var::constant(bias));
    if relu {
        x.conv2d_relu(&weight, Some(&bias), conv.geometry)
    } else {
        x.conv2d(&weight, Some(&bias), conv.geometry)
    }
}

/// The folded weights and bias of the last convolution a `BatchNorm2d` was folded into, with
/// the tensors they were made from (sharing their storage, so that a change to any of them is
/// seen as new storage).
pub struct FoldCache<T: Element> {
    entry: RefCell<Option<Folded<T>>>,
}

impl<T: Element> Default for FoldCache<T> {
    /// Nothing folded yet.
    fn default() -> Self {
        FoldCache {
            entry: RefCell::new(None),
        }
    }
}

/// One fold: its sources (conv weight, conv bias, bn weight, bn bias, running mean, running
/// variance) and its result.
struct Folded<T: Element> {
    sources: Vec<Option<Tensor<T>>>,
    weight: Tensor<T>,
    bias: Tensor<T>,
}

impl<T: Element> FoldCache<T> {
    /// Forgets the kept fold.
    fn clear(&self) {
        self.entry.borrow_mut().take();
    }

    /// The weight and bias of `conv` with `bn` folded in: the kept ones when they were made
    /// from these very tensors, else made now and kept.
    fn folded(&self, conv: &Conv2d<T>, bn: &BatchNorm2d<T>) -> (Tensor<T>, Tensor<T>) {
        let sources = vec![
            Some(conv.weight.value().clone()),
            conv.bias.as_ref().map(|b| b.value().clone()),
            Some(bn.weight.value().clone()),
            Some(bn.bias.value().clone()),
            Some(bn.running_mean()),
            Some(bn.running_var()),
        ];
        let mut entry = self.entry.borrow_mut();
        if let Some(kept) = entry.as_ref().filter(|kept| same(&kept.sources, &sources)) {
            return (kept.weight.clone(), kept.bias.clone());
        }
        let (weight, bias) = fold(conv, bn);
        *entry = Some(Folded {
            sources,
            weight: weight.clone(),
            bias: bias.clone(),
        });
        (weight, bias)
    }
}

/// True when each tensor of `a` is the tensor of `b` at its place: the same storage and
/// dimensions (or both absent).
fn same<T: Element>(a: &[Option<Tensor<T>>], b: &[Option<Tensor<T>>]) -> bool {
    a.iter().zip(b).all(|pair| match pair {
        (Some(a), Some(b)) => a.shares_storage(b) && a.dims() == b.dims(),
        (None, None) => true,
        _ => false,
    })
}

/// `conv`'s weight `[O, C, k, k]` with each output channel's kernels scaled by `s[o]`, and the
/// bias `t + s b`, for `bn`'s running statistics (see the [module docs](self)).
fn fold<T: Element>(conv: &Conv2d<T>, bn: &BatchNorm2d<T>) -> (Tensor<T>, Tensor<T>) {
    let (scale, shift) = bn.eval_scale_shift();
    let weight = conv.weight.value();
    let out_channels = weight.dims()[0];
    assert_eq!(
        scale.dims(),
        [out_channels],
        "conv_bn: BatchNorm2d of {:?} channels after a convolution of weight {:?}",
        scale.dims(),
        weight.shape()
    );
    let folded = weight.mul(&scale.reshape([out_channels, 1, 1, 1]));
    let bias = match &conv.bias {
        Some(b) => shift.add(&b.value().mul(&scale)),
        None => shift,
    };
    (folded, bias)
}
