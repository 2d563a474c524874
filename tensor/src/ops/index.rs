//! Indexing by integer tensors: gather, scatter-add, one-hot.

use crate::cuda::GpuTensor;
use crate::element::Element;
use crate::ops::on_gpu;
use crate::shape::Shape;
use crate::tensor::{IndexTensor, Tensor};

/// Panics naming `op` unless `axis` is one of `target`'s and `index` (of `target`'s rank) fits
/// inside `target` on every other axis.
pub(crate) fn check_index_fits(op: &str, target: &Shape, axis: usize, index: &Shape) {
    target.check_axis(axis, op);
    let fits = index.rank() == target.rank()
        && index
            .dims()
            .iter()
            .zip(target.dims())
            .enumerate()
            .all(|(i, (&a, &b))| i == axis || a <= b);
    assert!(
        fits,
        "{op}: index {index:?} does not fit shape {target:?} on axis {axis}"
    );
}

/// Panics as `scatter_add` unless `index` and `src` have the same shape.
pub(crate) fn check_scatter_source(index: &Shape, src: &Shape) {
    assert_eq!(
        index, src,
        "scatter_add: index {index:?} and source {src:?} differ"
    );
}

/// For each position of `index` (same rank as `target`), the flat offset in `target` obtained by
/// replacing the coordinate on `axis` with the index value; panics naming `op` on bad input.
fn offsets_along(op: &str, target: &Shape, axis: usize, index: &IndexTensor) -> Vec<usize> {
    check_index_fits(op, target, axis, index.shape());
    let (tstrides, idims) = (target.strides(), index.dims());
    index
        .data()
        .iter()
        .enumerate()
        .map(|(flat, &v)| {
            let v = v as usize;
            assert!(
                v < target.dims()[axis],
                "{op}: index {v} out of range for axis {axis} of shape {target:?}"
            );
            let mut rest = flat;
            let mut at = 0;
            for a in (0..idims.len()).rev() {
                let coord = if a == axis { v } else { rest % idims[a] };
                rest /= idims[a];
                at += coord * tstrides[a];
            }
            at
        })
        .collect()
}

impl<T: Element> Tensor<T> {
    /// `out[..., i, ...] = self[..., index[..., i, ...], ...]` along `axis`, as `torch.gather`;
    /// the result has `index`'s shape.
    pub fn gather(&self, axis: usize, index: &IndexTensor) -> Tensor<T> {
        T::tensor_gather(self, axis, index)
    }

    /// A copy of `self` with `src` added at the positions `index` names along `axis`, as
    /// `torch.Tensor.scatter_add`: the adjoint of [`Tensor::gather`].
    pub fn scatter_add(&self, axis: usize, index: &IndexTensor, src: &Tensor<T>) -> Tensor<T> {
        T::tensor_scatter_add(self, axis, index, src)
    }

    /// One-hot rows: `labels` of any shape gives `[..., classes]` with a 1 at each label.
    pub fn one_hot(labels: &IndexTensor, classes: usize) -> Tensor<T> {
        T::tensor_one_hot(labels, classes)
    }
}

/// The bodies of the ops above, compiled once per element type in this crate: see
/// [`crate::compiled`].
impl<T: Element> Tensor<T> {
    pub(crate) fn gather_impl(&self, axis: usize, index: &IndexTensor) -> Tensor<T> {
        if on_gpu::common_device("gather", self, index).is_gpu() {
            let (x, i) = (
                on_gpu::view::<T, f32>(self),
                on_gpu::view::<u32, u32>(index),
            );
            return on_gpu::done("gather", x.unwrap().gather(axis, &i.unwrap()));
        }
        let at = offsets_along("gather", self.shape(), axis, index);
        Tensor::from_vec(
            at.iter().map(|&o| self.data()[o]).collect(),
            index.shape().clone(),
        )
    }

    pub(crate) fn scatter_add_impl(
        &self,
        axis: usize,
        index: &IndexTensor,
        src: &Tensor<T>,
    ) -> Tensor<T> {
        let device = on_gpu::agree(
            "scatter_add",
            &[
                (self.dims(), self.device()),
                (index.dims(), index.device()),
                (src.dims(), src.device()),
            ],
        );
        if device.is_gpu() {
            let (x, i, s) = (
                on_gpu::on::<T, f32>("scatter_add", self, device),
                on_gpu::on::<u32, u32>("scatter_add", index, device),
                on_gpu::on::<T, f32>("scatter_add", src, device),
            );
            return on_gpu::done("scatter_add", x.scatter_add(axis, &i, &s));
        }
        check_scatter_source(index.shape(), src.shape());
        let at = offsets_along("scatter_add", self.shape(), axis, index);
        let mut out = self.to_vec();
        for (&o, &v) in at.iter().zip(src.data()) {
            out[o] = out[o] + v;
        }
        Tensor::from_vec(out, self.shape().clone())
    }

    pub(crate) fn one_hot_impl(labels: &IndexTensor, classes: usize) -> Tensor<T> {
        if let Some(l) = on_gpu::view::<u32, u32>(labels) {
            return on_gpu::done("one_hot", GpuTensor::<f32>::one_hot(&l, classes));
        }
        let mut out = vec![T::zero(); labels.numel() * classes];
        for (row, &l) in labels.data().iter().enumerate() {
            assert!(
                (l as usize) < classes,
                "one_hot: label {l} out of range for {classes} classes"
            );
            out[row * classes + l as usize] = T::one();
        }
        let mut dims = labels.dims().to_vec();
        dims.push(classes);
        Tensor::from_vec(out, dims)
    }
}
