//! Reductions along one axis or over all elements: sum, mean, max, min, argmax, top-2.
//!
//! A tensor reduced along `axis` is viewed as `[outer, len, inner]`; the result is
//! `[outer, inner]`, reshaped to the input's shape without (or, with `keepdim`, with a size-1)
//! `axis`.

use crate::backend::{BackendOps, ReduceOp};
use crate::element::Element;
use crate::parallel::{GRAIN, for_each_row_mut, worth_splitting};
use crate::shape::Shape;
use crate::simd::vectorized;
use crate::tensor::{IndexTensor, Storage, Tensor};
use rayon::prelude::*;
use tensor_spec::checks::split_for_best_two;

/// Folds `x` along `axis` with `fold`, starting every output from `init`.
fn fold_axis<T: Element>(
    x: &Tensor<T>,
    axis: usize,
    keepdim: bool,
    op: &str,
    init: T,
    fold: impl Fn(T, T) -> T + Sync + Send,
) -> Tensor<T> {
    x.shape().check_axis(axis, op);
    let (outer, len, inner) = x.shape().split_at_axis(axis);
    let src = x.data();
    let mut out = vec![init; outer * inner];
    for_each_row_mut(&mut out, inner, len, |o, dst| {
        let block = &src[o * len * inner..(o + 1) * len * inner];
        vectorized(
            #[inline(always)]
            || {
                if inner == 1 {
                    dst[0] = block.iter().fold(init, |acc, &v| fold(acc, v));
                } else {
                    for row in block.chunks_exact(inner) {
                        for (d, &v) in dst.iter_mut().zip(row) {
                            *d = fold(*d, v);
                        }
                    }
                }
            },
        )
    });
    Tensor::from_vec(out, x.shape().reduced(axis, keepdim))
}

/// Indices of the best and (optionally) second-best element along `axis` by `better(a, b)`
/// (a strictly better than b); ties keep the lower index, as PyTorch's argmax.
fn best_two_along<T: Element>(
    x: &Tensor<T>,
    axis: usize,
    op: &str,
    want_second: bool,
) -> (Vec<u32>, Vec<u32>) {
    let (outer, len, inner) = split_for_best_two(x.shape(), axis, op, want_second);
    let src = x.data();
    let pick = |pos: usize| -> (u32, u32) {
        let (o, i) = (pos / inner, pos % inner);
        let at = |l: usize| src[(o * len + l) * inner + i];
        let (mut best, mut second) = (0usize, usize::MAX);
        for l in 1..len {
            let v = at(l);
            if v > at(best) {
                second = best;
                best = l;
            } else if want_second && (second == usize::MAX || v > at(second)) {
                second = l;
            }
        }
        (best as u32, second as u32)
    };
    let pairs: Vec<(u32, u32)> = if worth_splitting(outer * len * inner) {
        (0..outer * inner).into_par_iter().map(pick).collect()
    } else {
        (0..outer * inner).map(pick).collect()
    };
    pairs.into_iter().unzip()
}

impl<T: Element> Tensor<T> {
    /// Sum along `axis`.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        self.reduce(ReduceOp::Sum, axis, keepdim)
    }

    /// Mean along `axis`.
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        self.reduce(ReduceOp::Mean, axis, keepdim)
    }

    /// Maximum along `axis`.
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        self.reduce(ReduceOp::Max, axis, keepdim)
    }

    /// Minimum along `axis`.
    pub fn min_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        self.reduce(ReduceOp::Min, axis, keepdim)
    }

    /// Index of the maximum along `axis` (the first one on ties), with `axis` removed.
    pub fn argmax_axis(&self, axis: usize) -> IndexTensor {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::argmax_axis(self, axis),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::argmax_axis(x, axis)),
        }
    }

    /// Indices of the largest and second-largest elements along `axis` (lower index first on
    /// ties), each with `axis` removed.
    pub fn top2_axis(&self, axis: usize) -> (IndexTensor, IndexTensor) {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::top2_axis(self, axis),
            Storage::Gpu(x) => {
                let (first, second) = T::Gpu::top2_axis(x, axis);
                (
                    Tensor::from_gpu_storage(first),
                    Tensor::from_gpu_storage(second),
                )
            }
        }
    }

    /// Sum of all elements, as a scalar tensor.
    pub fn sum_all(&self) -> Tensor<T> {
        self.reduce_all(ReduceOp::Sum)
    }

    /// Mean of all elements, as a scalar tensor.
    pub fn mean_all(&self) -> Tensor<T> {
        self.reduce_all(ReduceOp::Mean)
    }

    /// Largest element, as a scalar tensor.
    pub fn max_all(&self) -> Tensor<T> {
        self.reduce_all(ReduceOp::Max)
    }

    /// Smallest element, as a scalar tensor.
    pub fn min_all(&self) -> Tensor<T> {
        self.reduce_all(ReduceOp::Min)
    }

    /// Sums away the axes that broadcasting added or stretched, giving `target`'s shape: the
    /// gradient of `broadcast_to`.
    pub fn sum_to(&self, target: &Shape) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::sum_to(self, target),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::sum_to(x, target)),
        }
    }
}

/// Each op's one dispatch: on the backend that holds `self`.
impl<T: Element> Tensor<T> {
    /// A reduction along `axis`.
    fn reduce(&self, op: ReduceOp, axis: usize, keepdim: bool) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::reduce(op, self, axis, keepdim),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::reduce(op, x, axis, keepdim)),
        }
    }

    /// A reduction over all elements, to a rank-0 tensor.
    fn reduce_all(&self, op: ReduceOp) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::reduce_all(op, self),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::reduce_all(op, x)),
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn sum_axis_impl(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        fold_axis(self, axis, keepdim, "sum_axis", T::zero(), |a, b| a + b)
    }

    pub(crate) fn mean_axis_impl(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        self.shape().check_axis(axis, "mean_axis");
        let len = T::from_usize(self.dims()[axis]).unwrap();
        self.sum_axis(axis, keepdim).mul_scalar(T::one() / len)
    }

    pub(crate) fn max_axis_impl(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        fold_axis(
            self,
            axis,
            keepdim,
            "max_axis",
            T::neg_infinity(),
            |a, b| {
                if b > a { b } else { a }
            },
        )
    }

    pub(crate) fn min_axis_impl(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        fold_axis(self, axis, keepdim, "min_axis", T::infinity(), |a, b| {
            if b < a { b } else { a }
        })
    }

    pub(crate) fn argmax_axis_impl(&self, axis: usize) -> IndexTensor {
        let (best, _) = best_two_along(self, axis, "argmax_axis", false);
        Tensor::from_vec(best, self.shape().reduced(axis, false))
    }

    pub(crate) fn top2_axis_impl(&self, axis: usize) -> (IndexTensor, IndexTensor) {
        let (best, second) = best_two_along(self, axis, "top2_axis", true);
        let shape = self.shape().reduced(axis, false);
        (
            Tensor::from_vec(best, shape.clone()),
            Tensor::from_vec(second, shape),
        )
    }

    pub(crate) fn sum_all_impl(&self) -> Tensor<T> {
        let data = self.data();
        let partial = |chunk: &[T]| {
            vectorized(
                #[inline(always)]
                || chunk.iter().fold(T::zero(), |a, &b| a + b),
            )
        };
        let total = if worth_splitting(data.len()) {
            data.par_chunks(GRAIN)
                .map(partial)
                .reduce(T::zero, |a, b| a + b)
        } else {
            partial(data)
        };
        Tensor::scalar(total)
    }

    pub(crate) fn mean_all_impl(&self) -> Tensor<T> {
        let n = T::from_usize(self.numel()).unwrap();
        Tensor::scalar(self.sum_all().item() / n)
    }

    pub(crate) fn max_all_impl(&self) -> Tensor<T> {
        Tensor::scalar(self.data().iter().fold(T::neg_infinity(), |a, &b| a.max(b)))
    }

    pub(crate) fn min_all_impl(&self) -> Tensor<T> {
        Tensor::scalar(self.data().iter().fold(T::infinity(), |a, &b| a.min(b)))
    }

    pub(crate) fn sum_to_impl(&self, target: &Shape) -> Tensor<T> {
        if self.shape() == target {
            return self.clone();
        }
        let extra = self
            .rank()
            .checked_sub(target.rank())
            .unwrap_or_else(|| panic!("sum_to: cannot reduce {:?} to {target:?}", self.shape()));
        let mut out = self.clone();
        for _ in 0..extra {
            out = out.sum_axis(0, false);
        }
        for (axis, &d) in target.dims().iter().enumerate() {
            if d == 1 && out.dims()[axis] != 1 {
                out = out.sum_axis(axis, true);
            }
        }
        assert_eq!(
            out.shape(),
            target,
            "sum_to: cannot reduce {:?} to {target:?}",
            self.shape()
        );
        out
    }
}
