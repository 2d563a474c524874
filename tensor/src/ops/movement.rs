//! Movement ops: broadcast_to, transpose, permute, slice, concat, pad, (un)squeeze.
//!
//! All but reshape and (un)squeeze copy into a fresh contiguous tensor, so kernels never see
//! strides. They work for any element type, index tensors included.

use crate::ops::on_gpu::{self, on_gpu_any};
use crate::parallel::for_each_row_mut;
use crate::shape::Shape;
use crate::tensor::Tensor;

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

impl<T: Copy + Send + Sync + 'static> Tensor<T> {
    /// Repeats size-1 (or missing leading) axes to reach `target`, numpy-style.
    pub fn broadcast_to(&self, target: impl Into<Shape>) -> Tensor<T> {
        let target = target.into();
        on_gpu_any!("broadcast_to", self, |x| x.broadcast_to(target.clone()));
        if *self.shape() == target {
            return self.clone();
        }
        let strides = self.shape().strides_broadcast_to(&target);
        Tensor::from_vec(
            strided_copy(self.data(), target.dims(), &strides, 0),
            target,
        )
    }

    /// Reorders the axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Tensor<T> {
        on_gpu_any!("permute", self, |x| x.permute(perm));
        let (dims, strides) = self.shape().permuted(perm);
        Tensor::from_vec(strided_copy(self.data(), &dims, &strides, 0), dims)
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Tensor<T> {
        on_gpu_any!("transpose", self, |x| x.transpose(a, b));
        self.shape().check_axis(a, "transpose");
        self.shape().check_axis(b, "transpose");
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Elements `start..end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Tensor<T> {
        on_gpu_any!("slice", self, |x| x.slice(axis, start, end));
        let (dims, strides, offset) = self.shape().sliced(axis, start, end);
        let data = strided_copy(self.data(), &dims, &strides, offset);
        Tensor::from_vec(data, dims)
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    pub fn concat(parts: &[&Tensor<T>], axis: usize) -> Tensor<T> {
        let devices: Vec<_> = parts.iter().map(|p| (p.dims(), p.device())).collect();
        let device = on_gpu::agree("concat", &devices);
        if device.is_gpu() {
            if let Some(out) = on_gpu::concat::<T, f32>(parts, axis, device) {
                return out;
            }
            if let Some(out) = on_gpu::concat::<T, u32>(parts, axis, device) {
                return out;
            }
        }
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

    /// Pads each axis with `pads[axis] = (before, after)` copies of `value`.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Tensor<T> {
        on_gpu_any!("pad", self, |x| x.pad(pads, on_gpu::same_type(value)));
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

    /// The rows `rows` of axis 0, in that order (PyTorch's `index_select(0, rows)`): how a
    /// batch is cut from a data set.
    pub fn select_rows(&self, rows: &[usize]) -> Tensor<T> {
        on_gpu_any!("select_rows", self, |x| x.select_rows(rows));
        let (out_shape, row_len) = self.shape().selected_rows(rows);
        let mut out = Vec::with_capacity(out_shape.numel());
        for &r in rows {
            out.extend_from_slice(&self.data()[r * row_len..(r + 1) * row_len]);
        }
        Tensor::from_vec(out, out_shape)
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
