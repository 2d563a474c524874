//! Launching the movement kernels: a copy's axes merged (and shared with the other kernel files
//! as [`strided_slots`]), the choice between `strided_copy` and `transpose_tiles`, and the
//! [`GpuTensor`] methods.

use super::ptx::{BATCH_RANK, MODULE, TILE, TILE_ROWS};
use super::snippets::MAX_RANK;
use crate::device_tensor::{GpuScalar, GpuTensor};
use crate::error::GpuError;
use crate::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use tensor_spec::Shape;

/// The axes of a strided walk over `dims` with `strides` as `(dim, stride)` pairs, with
/// neighbouring axes that are contiguous (`stride[a] == stride[a + 1] * dims[a + 1]`) merged and
/// size-1 axes dropped: the same walk with fewer div/rem steps per element.
fn merge_axes(dims: &[usize], strides: &[usize]) -> Vec<(usize, usize)> {
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (&d, &s) in dims.iter().zip(strides) {
        match merged.last_mut() {
            _ if d == 1 => {}
            Some((pd, ps)) if *ps == s * d => {
                *pd *= d;
                *ps = s;
            }
            _ => merged.push((d, s)),
        }
    }
    merged
}

/// The `MAX_RANK` slots (dims, then strides) of a strided walk over `dims` with `strides`,
/// innermost last: the axes merged by [`merge_axes`], right-aligned and padded in front with
/// size-1 axes of stride 0.
pub(crate) fn strided_slots(dims: &[usize], strides: &[usize], op: &str) -> Vec<KernelArg> {
    let merged = merge_axes(dims, strides);
    assert!(
        merged.len() <= MAX_RANK,
        "{op}: the GPU kernels walk at most {MAX_RANK} non-contiguous axes, got dims {dims:?} \
         with strides {strides:?}"
    );
    let pad = MAX_RANK - merged.len();
    let d = std::iter::repeat_n(1, pad).chain(merged.iter().map(|&(d, _)| to_u32(d, op)));
    let s = std::iter::repeat_n(0, pad).chain(merged.iter().map(|&(_, s)| to_u32(s, op)));
    d.chain(s).map(KernelArg::U32).collect()
}

/// `n` as a `u32`, panicking naming `op` when it does not fit: the kernels index with 32-bit
/// integers (byte offsets are 64-bit), so a tensor may hold up to 2^32 - 1 elements.
pub(crate) fn to_u32(n: usize, op: &str) -> u32 {
    u32::try_from(n)
        .unwrap_or_else(|_| panic!("{op}: {n} does not fit the GPU kernels' 32-bit indices"))
}

/// When a merged walk is a batched transpose (the output's innermost axis strided in the
/// source, another axis `j` contiguous there), the launch of `transpose_tiles` for it: its grid
/// and its parameters after `src` and `dst`. `None` sends the copy to `strided_copy`.
fn transpose_launch(
    merged: &[(usize, usize)],
    offset: usize,
    op: &str,
) -> Option<(LaunchConfig, Vec<KernelArg>)> {
    let &(cols, col_stride) = merged.last()?;
    let j = merged.iter().position(|&(_, s)| s == 1)?;
    if col_stride == 1 || merged.len() > MAX_RANK {
        return None;
    }
    let rank = merged.len();
    let mut out_strides = vec![1; rank];
    for a in (0..rank - 1).rev() {
        out_strides[a] = out_strides[a + 1] * merged[a + 1].0;
    }
    let batch_axes: Vec<usize> = (0..rank - 1).filter(|&a| a != j).collect();
    let batches: usize = batch_axes.iter().map(|&a| merged[a].0).product();
    let rows = merged[j].0;
    let tile = TILE as usize;
    let grid_y = u32::try_from(rows.div_ceil(tile))
        .ok()
        .filter(|&y| y <= 65_535)?;
    let config = LaunchConfig {
        grid: (
            to_u32(cols.div_ceil(tile), op),
            grid_y,
            to_u32(batches.min(65_535), op),
        ),
        block: (TILE, TILE_ROWS, 1),
        shared_bytes: 0,
    };
    let slot = |value: &dyn Fn(usize) -> usize, fill: usize| {
        let pad = BATCH_RANK - batch_axes.len();
        std::iter::repeat_n(fill, pad)
            .chain(batch_axes.iter().map(|&a| value(a)))
            .map(|v| KernelArg::U32(to_u32(v, op)))
            .collect::<Vec<_>>()
    };
    let mut args: Vec<KernelArg> = [offset, rows, cols, col_stride, out_strides[j], batches]
        .iter()
        .map(|&v| KernelArg::U32(to_u32(v, op)))
        .collect();
    args.extend(slot(&|a| merged[a].0, 1));
    args.extend(slot(&|a| merged[a].1, 0));
    args.extend(slot(&|a| out_strides[a], 0));
    Some((config, args))
}

impl<T: GpuScalar> GpuTensor<T> {
    /// A new buffer with the same shape and contents (the tensor itself shares its buffer on
    /// `clone`).
    pub fn duplicate(&self) -> Result<Self, GpuError> {
        let out = GpuTensor::uninit(self.gpu(), self.shape().clone())?;
        let n = to_u32(self.numel(), "duplicate");
        if n > 0 {
            self.gpu().launch(
                &MODULE,
                "copy",
                LaunchConfig::linear(self.numel(), BLOCK_1D),
                &[self.ptr().into(), out.ptr().into(), n.into()],
            )?;
        }
        Ok(out)
    }

    /// The elements of `self` seen through `strides` (one per axis of `dims`, starting at element
    /// `offset`), copied into a new contiguous tensor of shape `dims`.
    fn strided_copy(
        &self,
        dims: &[usize],
        strides: &[usize],
        offset: usize,
        op: &str,
    ) -> Result<Self, GpuError> {
        let out = GpuTensor::uninit(self.gpu(), dims)?;
        if out.numel() == 0 {
            return Ok(out);
        }
        if let Some((config, params)) = transpose_launch(&merge_axes(dims, strides), offset, op) {
            let mut args: Vec<KernelArg> = vec![self.ptr().into(), out.ptr().into()];
            args.extend(params);
            self.gpu()
                .launch(&MODULE, "transpose_tiles", config, &args)?;
            return Ok(out);
        }
        let mut args: Vec<KernelArg> = vec![
            self.ptr().into(),
            out.ptr().into(),
            to_u32(out.numel(), op).into(),
            to_u32(offset, op).into(),
        ];
        args.extend(strided_slots(dims, strides, op));
        self.gpu().launch(
            &MODULE,
            "strided_copy",
            LaunchConfig::linear(out.numel(), BLOCK_1D),
            &args,
        )?;
        Ok(out)
    }

    /// Repeats size-1 (or missing leading) axes to reach `target`, numpy-style.
    pub fn broadcast_to(&self, target: impl Into<Shape>) -> Result<Self, GpuError> {
        let target = target.into();
        if *self.shape() == target {
            return Ok(self.clone());
        }
        let strides = self.shape().strides_broadcast_to(&target);
        self.strided_copy(target.dims(), &strides, 0, "broadcast_to")
    }

    /// Reorders the axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Self, GpuError> {
        let (dims, strides) = self.shape().permuted(perm);
        self.strided_copy(&dims, &strides, 0, "permute")
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Self, GpuError> {
        self.shape().check_axis(a, "transpose");
        self.shape().check_axis(b, "transpose");
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Elements `start..end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Result<Self, GpuError> {
        let (dims, strides, offset) = self.shape().sliced(axis, start, end);
        self.strided_copy(&dims, &strides, offset, "slice")
    }

    /// Joins tensors along `axis`; all other dimensions must agree. One launch per part.
    pub fn concat(parts: &[&Self], axis: usize) -> Result<Self, GpuError> {
        let shapes: Vec<&Shape> = parts.iter().map(|p| p.shape()).collect();
        let joined = Shape::concatenated(&shapes, axis);
        for p in parts {
            assert!(
                p.gpu().same_device(parts[0].gpu()),
                "concat: parts live on {} and {}",
                p.gpu().name(),
                parts[0].gpu().name()
            );
        }
        let (_, joined_len, inner) = joined.split_at_axis(axis);
        let out = GpuTensor::uninit(parts[0].gpu(), joined)?;
        let dst_stride = to_u32(joined_len * inner, "concat");
        let mut axis_offset = 0;
        for p in parts {
            if p.numel() > 0 {
                let args = [
                    p.ptr().into(),
                    out.ptr().into(),
                    to_u32(p.numel(), "concat").into(),
                    to_u32(p.dims()[axis] * inner, "concat").into(),
                    dst_stride.into(),
                    to_u32(axis_offset * inner, "concat").into(),
                ];
                p.gpu().launch(
                    &MODULE,
                    "copy_blocks",
                    LaunchConfig::linear(p.numel(), BLOCK_1D),
                    &args,
                )?;
            }
            axis_offset += p.dims()[axis];
        }
        Ok(out)
    }

    /// Pads each axis with `pads[axis] = (before, after)` copies of `value`.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Result<Self, GpuError> {
        let out_shape = self.shape().padded(pads);
        assert!(
            self.rank() <= MAX_RANK,
            "pad: the GPU kernel pads at most {MAX_RANK} axes, got shape {:?}",
            self.shape()
        );
        let out = GpuTensor::uninit(self.gpu(), out_shape)?;
        if out.numel() == 0 {
            return Ok(out);
        }
        // Right-aligned slots; the padding slots in front are size-1 axes with no pad.
        let lead = MAX_RANK - self.rank();
        let slot = |values: Vec<usize>, fill: usize| -> Vec<KernelArg> {
            std::iter::repeat_n(fill, lead)
                .chain(values)
                .map(|v| KernelArg::U32(to_u32(v, "pad")))
                .collect()
        };
        let mut args: Vec<KernelArg> = vec![
            self.ptr().into(),
            out.ptr().into(),
            to_u32(out.numel(), "pad").into(),
            u32::from_le_bytes(value.to_le()).into(),
        ];
        args.extend(slot(out.dims().to_vec(), 1));
        args.extend(slot(pads.iter().map(|p| p.0).collect(), 0));
        args.extend(slot(self.dims().to_vec(), 1));
        args.extend(slot(self.shape().strides(), 0));
        self.gpu().launch(
            &MODULE,
            "pad",
            LaunchConfig::linear(out.numel(), BLOCK_1D),
            &args,
        )?;
        Ok(out)
    }

    /// The rows `rows` of axis 0, in that order (PyTorch's `index_select(0, rows)`): how a
    /// batch is cut from a data set kept on the device. The row numbers are uploaded.
    pub fn select_rows(&self, rows: &[usize]) -> Result<Self, GpuError> {
        let (out_shape, row_len) = self.shape().selected_rows(rows);
        let out = GpuTensor::uninit(self.gpu(), out_shape)?;
        if out.numel() == 0 {
            return Ok(out);
        }
        let rows: Vec<u32> = rows.iter().map(|&r| to_u32(r, "select_rows")).collect();
        let rows = GpuTensor::upload_slice(self.gpu(), &rows, [out.dims()[0]])?;
        self.gpu().launch(
            &MODULE,
            "select_rows",
            LaunchConfig::linear(out.numel(), BLOCK_1D),
            &[
                self.ptr().into(),
                rows.ptr().into(),
                out.ptr().into(),
                to_u32(out.numel(), "select_rows").into(),
                to_u32(row_len, "select_rows").into(),
            ],
        )?;
        Ok(out)
    }

    /// Inserts a size-1 axis at `axis` (free: shares the buffer).
    pub fn unsqueeze(&self, axis: usize) -> Self {
        self.reshape(self.shape().unsqueezed(axis))
    }

    /// Removes the size-1 axis `axis` (free: shares the buffer).
    pub fn squeeze(&self, axis: usize) -> Self {
        self.reshape(self.shape().squeezed(axis))
    }
}
