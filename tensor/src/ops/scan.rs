//! Ops that look along a whole axis at once: a stable sort (values and the indices that sort
//! them, as `torch.sort(stable=True)`) and a cumulative sum (`torch.cumsum`).
//!
//! AutoAttack needs both: the DLR losses read the largest logits in order, and FAB's projection
//! onto a hyperplane sorts the coordinates by their breakpoints and sums along that order.
//!
//! On a GPU both run the kernels of [`tensor_gpu::kernels::scan`], which give the same bits.

use crate::backend::BackendOps;
use crate::element::Element;
use crate::tensor::{IndexTensor, Storage, Tensor};
use rayon::prelude::*;
use std::cmp::Ordering;

/// `a` before `b` in ascending order, NaN last (as PyTorch sorts NaN as the largest value).
fn ascending<T: Element>(a: T, b: T) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Calls `line(values, write)` for every line of `x` along `axis`, where `values` holds the
/// line's elements in order and `write(l, v)` would store the line's `l`-th output; returns the
/// outputs as `[outer, len, inner]` buffers.
fn along_lines<T: Element, U: Copy + Send + Sync + Default>(
    x: &Tensor<T>,
    axis: usize,
    op: &str,
    line: impl Fn(&[T]) -> Vec<U> + Sync,
) -> Vec<U> {
    x.shape().check_axis(axis, op);
    let (outer, len, inner) = x.shape().split_at_axis(axis);
    let src = x.data();
    let lines: Vec<Vec<U>> = (0..outer * inner)
        .into_par_iter()
        .with_min_len(64.max(4096 / len.max(1)))
        .map(|pos| {
            let (o, i) = (pos / inner, pos % inner);
            let values: Vec<T> = (0..len).map(|l| src[(o * len + l) * inner + i]).collect();
            line(&values)
        })
        .collect();
    let mut out = vec![U::default(); outer * len * inner];
    for (pos, values) in lines.into_iter().enumerate() {
        let (o, i) = (pos / inner, pos % inner);
        for (l, v) in values.into_iter().enumerate() {
            out[(o * len + l) * inner + i] = v;
        }
    }
    out
}

impl<T: Element> Tensor<T> {
    /// Sorted values along `axis` and, for each, the index it came from; equal values keep
    /// their order (a stable sort), NaN counts as the largest value. `descending` sorts from
    /// the largest, as `torch.sort(x, dim=axis, descending=True, stable=True)`.
    pub fn sort_axis(&self, axis: usize, descending: bool) -> (Tensor<T>, IndexTensor) {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::sort_axis(self, axis, descending),
            Storage::Gpu(x) => {
                let (values, indices) = T::Gpu::sort_axis(x, axis, descending);
                (
                    Tensor::from_gpu_storage(values),
                    Tensor::from_gpu_storage(indices),
                )
            }
        }
    }

    /// Running sums along `axis`: `out[.., l, ..] = sum_{k <= l} self[.., k, ..]`, added in
    /// order from the first element, as `torch.cumsum`.
    pub fn cumsum_axis(&self, axis: usize) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::cumsum_axis(self, axis),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::cumsum_axis(x, axis)),
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn sort_axis_impl(&self, axis: usize, descending: bool) -> (Tensor<T>, IndexTensor) {
        let order = |values: &[T]| -> Vec<u32> {
            let mut idx: Vec<u32> = (0..values.len() as u32).collect();
            idx.sort_by(|&a, &b| {
                let (va, vb) = (values[a as usize], values[b as usize]);
                if descending {
                    ascending(vb, va)
                } else {
                    ascending(va, vb)
                }
            });
            idx
        };
        let indices = Tensor::from_vec(
            along_lines(self, axis, "sort_axis", order),
            self.shape().clone(),
        );
        (self.gather(axis, &indices), indices)
    }

    pub(crate) fn cumsum_axis_impl(&self, axis: usize) -> Tensor<T> {
        let running = |values: &[T]| -> Vec<T> {
            let mut acc = T::zero();
            values
                .iter()
                .map(|&v| {
                    acc = acc + v;
                    acc
                })
                .collect()
        };
        Tensor::from_vec(
            along_lines(self, axis, "cumsum_axis", running),
            self.shape().clone(),
        )
    }
}
