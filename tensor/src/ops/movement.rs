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
        let ok =
            target.rank() >= self.rank() && self.shape().broadcast(&target) == Some(target.clone());
        assert!(
            ok,
            "broadcast_to: cannot broadcast shape {:?} to {target:?}",
            self.shape()
        );
        let strides = self.shape().broadcast_strides(&target);
        Tensor::from_vec(
            strided_copy(self.data(), target.dims(), &strides, 0),
            target,
        )
    }

    /// Reorders the axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Tensor<T> {
        on_gpu_any!("permute", self, |x| x.permute(perm));
        let rank = self.rank();
        let mut seen = vec![false; rank];
        let valid = perm.len() == rank
            && perm
                .iter()
                .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
        assert!(
            valid,
            "permute: {perm:?} is not a permutation of the axes of {:?}",
            self.shape()
        );
        let own = self.shape().strides();
        let dims: Vec<usize> = perm.iter().map(|&p| self.dims()[p]).collect();
        let strides: Vec<usize> = perm.iter().map(|&p| own[p]).collect();
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
        self.shape().check_axis(axis, "slice");
        assert!(
            start <= end && end <= self.dims()[axis],
            "slice: range {start}..{end} out of bounds for axis {axis} of shape {:?}",
            self.shape()
        );
        let strides = self.shape().strides();
        let mut dims = self.dims().to_vec();
        dims[axis] = end - start;
        let data = strided_copy(self.data(), &dims, &strides, start * strides[axis]);
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
        assert!(!parts.is_empty(), "concat: no tensors given");
        let first = parts[0].shape();
        first.check_axis(axis, "concat");
        for p in parts {
            let same = p.rank() == first.rank()
                && (0..first.rank()).all(|i| i == axis || p.dims()[i] == first.dims()[i]);
            assert!(
                same,
                "concat: shape {:?} does not match {first:?} off axis {axis}",
                p.shape()
            );
        }
        let (outer, _, inner) = first.split_at_axis(axis);
        let mut dims = first.dims().to_vec();
        dims[axis] = parts.iter().map(|p| p.dims()[axis]).sum();
        let mut out = Vec::with_capacity(dims.iter().product());
        for o in 0..outer {
            for p in parts {
                let block = p.dims()[axis] * inner;
                out.extend_from_slice(&p.data()[o * block..(o + 1) * block]);
            }
        }
        Tensor::from_vec(out, dims)
    }

    /// Pads each axis with `pads[axis] = (before, after)` copies of `value`.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Tensor<T> {
        on_gpu_any!("pad", self, |x| x.pad(pads, on_gpu::same_type(value)));
        assert_eq!(
            pads.len(),
            self.rank(),
            "pad: {} (before, after) pairs given for shape {:?}",
            pads.len(),
            self.shape()
        );
        let dims: Vec<usize> = self
            .dims()
            .iter()
            .zip(pads)
            .map(|(d, (b, a))| d + b + a)
            .collect();
        let out_shape = Shape::new(&dims);
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
        assert!(
            self.rank() > 0,
            "select_rows: cannot select rows of a scalar"
        );
        let count = self.dims()[0];
        let row_len = self.numel() / count.max(1);
        let mut out = Vec::with_capacity(rows.len() * row_len);
        for &r in rows {
            assert!(
                r < count,
                "select_rows: row {r} out of range for shape {:?}",
                self.shape()
            );
            out.extend_from_slice(&self.data()[r * row_len..(r + 1) * row_len]);
        }
        let mut dims = self.dims().to_vec();
        dims[0] = rows.len();
        Tensor::from_vec(out, dims)
    }

    /// Inserts a size-1 axis at `axis` (free).
    pub fn unsqueeze(&self, axis: usize) -> Tensor<T> {
        assert!(
            axis <= self.rank(),
            "unsqueeze: axis {axis} out of range for shape {:?}",
            self.shape()
        );
        let mut dims = self.dims().to_vec();
        dims.insert(axis, 1);
        self.reshape(dims)
    }

    /// Removes the size-1 axis `axis` (free).
    pub fn squeeze(&self, axis: usize) -> Tensor<T> {
        self.shape().check_axis(axis, "squeeze");
        assert_eq!(
            self.dims()[axis],
            1,
            "squeeze: axis {axis} of shape {:?} is not 1",
            self.shape()
        );
        let mut dims = self.dims().to_vec();
        dims.remove(axis);
        self.reshape(dims)
    }
}
