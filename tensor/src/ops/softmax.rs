//! softmax, log_softmax and logsumexp along an axis, stabilised by subtracting the maximum.

use crate::backend::{BackendOps, SoftmaxOp};
use crate::element::Element;
use crate::parallel::for_each_row_mut;
use crate::tensor::{Storage, Tensor};

/// Which of the three related results to produce.
#[derive(Clone, Copy)]
enum Form {
    Softmax,
    LogSoftmax,
}

/// Applies `form` along `axis`, one `[len]` line (possibly strided by `inner`) at a time.
fn normalise<T: Element>(x: &Tensor<T>, axis: usize, form: Form, op: &str) -> Tensor<T> {
    x.shape().check_axis(axis, op);
    let (_, len, inner) = x.shape().split_at_axis(axis);
    let src = x.data();
    let mut out = vec![T::zero(); src.len()];
    // One block = one outer index: `len * inner` elements.
    for_each_row_mut(&mut out, len * inner, 4, |o, dst| {
        let block = &src[o * len * inner..(o + 1) * len * inner];
        for i in 0..inner {
            let at = |l: usize| l * inner + i;
            let max = (0..len).fold(T::neg_infinity(), |m, l| m.max(block[at(l)]));
            let sum = (0..len).fold(T::zero(), |s, l| s + (block[at(l)] - max).exp());
            match form {
                Form::Softmax => {
                    for l in 0..len {
                        dst[at(l)] = (block[at(l)] - max).exp() / sum;
                    }
                }
                Form::LogSoftmax => {
                    let log_sum = sum.ln();
                    for l in 0..len {
                        dst[at(l)] = block[at(l)] - max - log_sum;
                    }
                }
            }
        }
    });
    Tensor::from_vec(out, x.shape().clone())
}

impl<T: Element> Tensor<T> {
    /// `exp(x) / sum(exp(x))` along `axis`.
    pub fn softmax(&self, axis: usize) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::softmax(SoftmaxOp::Softmax, self, axis),
            Storage::Gpu(x) => {
                Tensor::from_gpu_storage(T::Gpu::softmax(SoftmaxOp::Softmax, x, axis))
            }
        }
    }

    /// `x - logsumexp(x)` along `axis`, exact even for very negative probabilities.
    pub fn log_softmax(&self, axis: usize) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::softmax(SoftmaxOp::LogSoftmax, self, axis),
            Storage::Gpu(x) => {
                Tensor::from_gpu_storage(T::Gpu::softmax(SoftmaxOp::LogSoftmax, x, axis))
            }
        }
    }

    /// `log(sum(exp(x)))` along `axis`.
    pub fn logsumexp(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::logsumexp(self, axis, keepdim),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::logsumexp(x, axis, keepdim)),
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn softmax_impl(&self, axis: usize) -> Tensor<T> {
        normalise(self, axis, Form::Softmax, "softmax")
    }

    pub(crate) fn log_softmax_impl(&self, axis: usize) -> Tensor<T> {
        normalise(self, axis, Form::LogSoftmax, "log_softmax")
    }

    pub(crate) fn logsumexp_impl(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        self.shape().check_axis(axis, "logsumexp");
        let max = self.max_axis(axis, true);
        // Rows that are all -inf would give NaN from (-inf) - (-inf); use 0 as their shift.
        let shift = max.map(|m| if m.is_finite() { m } else { T::zero() });
        let lse = self
            .sub(&shift)
            .exp()
            .sum_axis(axis, true)
            .log()
            .add(&shift);
        if keepdim { lse } else { lse.squeeze(axis) }
    }
}
