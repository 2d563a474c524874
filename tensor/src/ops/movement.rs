//! Movement ops: broadcast_to, transpose, permute, slice, concat, pad, (un)squeeze.
//!
//! All but reshape and (un)squeeze copy into a fresh contiguous tensor, so kernels never see
//! strides. They work for any element type, index tensors included.

use crate::backend::{CpuBackend, MovementOps};
use crate::device::Device;
use crate::ops::placement::agree;
use crate::parallel::for_each_row_mut;
use crate::shape::Shape;
use crate::stored::Stored;
use crate::tensor::{Storage, Tensor};

/// Copies the elements of `src` seen through `strides` (one per output axis, from `offset`) into
/// a new row-major buffer of shape `dims`. Strides of 0 repeat an element (broadcasting).
fn strided_copy<T: Copy + Send + Sync>(
    src: &[T],
    dims: &[usize],
    strides: &[usize],
    offset: usize,
) -> Vec<T> {
    let numel: usize = dims.iter().product();
    if numel == 0 {
        return Vec::new();
    }
    let Some(&inner) = dims.last() else {
        return vec![src[offset]];
    };
    let inner_stride = strides[dims.len() - 1];
    let mut out = vec![src[offset]; numel];
    for_each_row_mut(&mut out, inner, 1, |row, dst| {
        let mut at = offset;
        let mut rest = row;
        for axis in (0..dims.len() - 1).rev() {
            at += (rest % dims[axis]) * strides[axis];
            rest /= dims[axis];
        }
        if inner_stride == 1 {
            dst.copy_from_slice(&src[at..at + inner]);
        } else {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = src[at + j * inner_stride];
            }
        }
    });
    out
}

impl<T: Stored> Tensor<T> {
    /// Repeats size-1 (or missing leading) axes to reach `target`, numpy-style.
    pub fn broadcast_to(&self, target: impl Into<Shape>) -> Tensor<T> {
        let target = target.into();
        match self.storage() {
            Storage::Cpu(_) => CpuBackend::broadcast_to(self, &target),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::broadcast_to(x, &target)),
        }
    }

    /// Reorders the axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => CpuBackend::permute(self, perm),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::permute(x, perm)),
        }
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => CpuBackend::transpose(self, a, b),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::transpose(x, a, b)),
        }
    }

    /// Elements `start..end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => CpuBackend::slice(self, axis, start, end),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::slice(x, axis, start, end)),
        }
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    pub fn concat(parts: &[&Tensor<T>], axis: usize) -> Tensor<T> {
        let operands: Vec<_> = parts.iter().map(|p| p.placed()).collect();
        match agree("concat", &operands) {
            Device::Cpu => CpuBackend::concat(parts, axis),
            device => {
                let gpu: Vec<T::GpuTensor> = parts
                    .iter()
                    .map(|p| p.gpu_operand("concat", device))
                    .collect();
                let refs: Vec<&T::GpuTensor> = gpu.iter().collect();
                Tensor::from_gpu_storage(T::Gpu::concat(&refs, axis))
            }
        }
    }

    /// Pads each axis with `pads[axis] = (before, after)` copies of `value`.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => CpuBackend::pad(self, pads, value),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::pad(x, pads, value)),
        }
    }

    /// The rows `rows` of axis 0, in that order (PyTorch's `index_select(0, rows)`): how a
    /// batch is cut from a data set.
    pub fn select_rows(&self, rows: &[usize]) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => CpuBackend::select_rows(self, rows),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::select_rows(x, rows)),
        }
    }

    /// Inserts a size-1 axis at `axis` (free).
    pub fn unsqueeze(&self, axis: usize) -> Tensor<T> {
        self.reshape(self.shape().unsqueezed(axis))
    }

    /// Removes the size-1 axis `axis` (free).
    pub fn squeeze(&self, axis: usize) -> Tensor<T> {
        self.reshape(self.shape().squeezed(axis))
    }
}

/// The CPU backend's bodies of the movement ops (generic: they also move `u32` indices).
impl<T: Stored> Tensor<T> {
    pub(crate) fn broadcast_to_impl(&self, target: &Shape) -> Tensor<T> {
        if self.shape() == target {
            return self.clone();
        }
        let strides = self.shape().strides_broadcast_to(target);
        Tensor::from_vec(
            strided_copy(self.data(), target.dims(), &strides, 0),
            target.clone(),
        )
    }

    pub(crate) fn permute_impl(&self, perm: &[usize]) -> Tensor<T> {
        let (dims, strides) = self.shape().permuted(perm);
        Tensor::from_vec(strided_copy(self.data(), &dims, &strides, 0), dims)
    }

    pub(crate) fn transpose_impl(&self, a: usize, b: usize) -> Tensor<T> {
        self.shape().check_axis(a, "transpose");
        self.shape().check_axis(b, "transpose");
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute_impl(&perm)
    }

    pub(crate) fn slice_impl(&self, axis: usize, start: usize, end: usize) -> Tensor<T> {
        let (dims, strides, offset) = self.shape().sliced(axis, start, end);
        let data = strided_copy(self.data(), &dims, &strides, offset);
        Tensor::from_vec(data, dims)
    }

    pub(crate) fn concat_impl(parts: &[&Tensor<T>], axis: usize) -> Tensor<T> {
        let shapes: Vec<&Shape> = parts.iter().map(|p| p.shape()).collect();
        let joined = Shape::concatenated(&shapes, axis);
        let (outer, _, inner) = joined.split_at_axis(axis);
        let mut out = Vec::with_capacity(joined.numel());
        for o in 0..outer {
            for p in parts {
                let block = p.dims()[axis] * inner;
                out.extend_from_slice(&p.data()[o * block..(o + 1) * block]);
            }
        }
        Tensor::from_vec(out, joined)
    }

    pub(crate) fn pad_impl(&self, pads: &[(usize, usize)], value: T) -> Tensor<T> {
        let out_shape = self.shape().padded(pads);
        let mut out = vec![value; out_shape.numel()];
        if self.numel() == 0 {
            return Tensor::from_vec(out, out_shape);
        }
        let out_strides = out_shape.strides();
        let rank = self.rank();
        let inner = if rank == 0 { 1 } else { self.dims()[rank - 1] };
        for (row, src) in self.data().chunks(inner).enumerate() {
            let mut at = if rank == 0 { 0 } else { pads[rank - 1].0 };
            let mut rest = row;
            for axis in (0..rank.saturating_sub(1)).rev() {
                let coord = rest % self.dims()[axis];
                rest /= self.dims()[axis];
                at += (coord + pads[axis].0) * out_strides[axis];
            }
            out[at..at + inner].copy_from_slice(src);
        }
        Tensor::from_vec(out, out_shape)
    }

    pub(crate) fn select_rows_impl(&self, rows: &[usize]) -> Tensor<T> {
        let (out_shape, row_len) = self.shape().selected_rows(rows);
        let mut out = Vec::with_capacity(out_shape.numel());
        for &r in rows {
            out.extend_from_slice(&self.data()[r * row_len..(r + 1) * row_len]);
        }
        Tensor::from_vec(out, out_shape)
    }
}
