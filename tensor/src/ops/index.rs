//! Indexing by integer tensors: gather, scatter-add, one-hot.

use crate::backend::BackendOps;
use crate::device::Device;
use crate::element::Element;
use crate::ops::placement::agree;
use crate::shape::Shape;
use crate::tensor::{IndexTensor, Storage, Tensor};
use tensor_spec::checks::{check_index_fits, check_scatter_source};

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
        match agree("gather", &[self.placed(), index.placed()]) {
            Device::Cpu => T::Cpu::gather(self, axis, index),
            device => Tensor::from_gpu_storage(T::Gpu::gather(
                &self.gpu_operand("gather", device),
                axis,
                &index.gpu_operand("gather", device),
            )),
        }
    }

    /// A copy of `self` with `src` added at the positions `index` names along `axis`, as
    /// `torch.Tensor.scatter_add`: the adjoint of [`Tensor::gather`].
    pub fn scatter_add(&self, axis: usize, index: &IndexTensor, src: &Tensor<T>) -> Tensor<T> {
        let operands = [self.placed(), index.placed(), src.placed()];
        match agree("scatter_add", &operands) {
            Device::Cpu => T::Cpu::scatter_add(self, axis, index, src),
            device => Tensor::from_gpu_storage(T::Gpu::scatter_add(
                &self.gpu_operand("scatter_add", device),
                axis,
                &index.gpu_operand("scatter_add", device),
                &src.gpu_operand("scatter_add", device),
            )),
        }
    }

    /// One-hot rows: `labels` of any shape gives `[..., classes]` with a 1 at each label.
    pub fn one_hot(labels: &IndexTensor, classes: usize) -> Tensor<T> {
        match labels.storage() {
            Storage::Cpu(_) => T::Cpu::one_hot(labels, classes),
            Storage::Gpu(l) => Tensor::from_gpu_storage(T::Gpu::one_hot(l, classes)),
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn gather_impl(&self, axis: usize, index: &IndexTensor) -> Tensor<T> {
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
        check_scatter_source(index.shape(), src.shape());
        let at = offsets_along("scatter_add", self.shape(), axis, index);
        let mut out = self.to_vec();
        for (&o, &v) in at.iter().zip(src.data()) {
            out[o] = out[o] + v;
        }
        Tensor::from_vec(out, self.shape().clone())
    }

    pub(crate) fn one_hot_impl(labels: &IndexTensor, classes: usize) -> Tensor<T> {
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
