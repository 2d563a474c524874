//! Launching the reductions: long lines split into slices when there would be too few blocks
//! (their partial results folded by a second launch), and the [`GpuTensor`] methods.

use super::lines::{line_block, line_launch};
use super::ptx::{FOLDS, Fold, MODULE};
use crate::device_tensor::GpuTensor;
use crate::error::GpuError;
use crate::kernels::elementwise::launch::count;
use crate::launch::KernelArg;
use tensor_spec::Shape;
use tensor_spec::checks::split_for_best_two;
use tensor_spec::op::ReduceOp;

/// Below this many blocks, long lines are split into slices reduced by separate blocks (a few
/// per streaming multiprocessor of a large GPU).
const TARGET_BLOCKS: usize = 1024;

/// The fewest elements of a line one thread folds before splitting the line is worth it.
const MIN_PER_THREAD: usize = 16;

/// Folds the lines of `x` viewed as `[outer, len, inner]`, giving `scale * fold` of each as an
/// `[outer, inner]` tensor. Splits long lines into slices when there would be too few blocks,
/// then folds the slices' partial results the same way.
fn fold_lines(
    x: &GpuTensor<f32>,
    (outer, len, inner): (usize, usize, usize),
    fold: Fold,
    scale: f32,
    op: &str,
) -> Result<GpuTensor<f32>, GpuError> {
    let gpu = x.gpu();
    let lines = outer * inner;
    let block = line_block(len, inner);
    let groups = lines.div_ceil(block.0 as usize);
    let per_slice = block.1 as usize * MIN_PER_THREAD;
    let splits = if (1..TARGET_BLOCKS).contains(&groups) && len > per_slice {
        (TARGET_BLOCKS / groups).min(len.div_ceil(per_slice))
    } else {
        1
    };
    let chunk = len.div_ceil(splits).max(1);
    let splits = len.div_ceil(chunk).max(1);
    let out = GpuTensor::uninit(gpu, [outer, splits, inner])?;
    if lines > 0 {
        let args = [
            KernelArg::U64(out.ptr()),
            KernelArg::U64(x.ptr()),
            count(lines, op).into(),
            count(len, op).into(),
            count(inner, op).into(),
            count(chunk, op).into(),
            count(splits, op).into(),
            KernelArg::F32(if splits == 1 { scale } else { 1.0 }),
        ];
        let name = format!("reduce_{}", fold.name);
        gpu.launch(&MODULE, &name, line_launch(lines, block, splits), &args)?;
    }
    if splits == 1 {
        Ok(out.reshape([outer, inner]))
    } else {
        fold_lines(&out, (outer, splits, inner), fold, scale, op)
    }
}

/// The fold kernel of `op`: the mean is the sum, scaled.
fn fold_of(op: ReduceOp) -> Fold {
    match op {
        ReduceOp::Sum | ReduceOp::Mean => FOLDS[0],
        ReduceOp::Max => FOLDS[1],
        ReduceOp::Min => FOLDS[2],
    }
}

impl GpuTensor<f32> {
    /// Folds along `axis` (checked, naming `op`), scaled, with `axis` removed or kept as 1.
    fn fold_axis(
        &self,
        axis: usize,
        keepdim: bool,
        fold: Fold,
        scale: f32,
        op: &str,
    ) -> Result<GpuTensor<f32>, GpuError> {
        self.shape().check_axis(axis, op);
        let out = fold_lines(self, self.shape().split_at_axis(axis), fold, scale, op)?;
        Ok(out.reshape(self.shape().reduced(axis, keepdim)))
    }

    /// Folds every element into a scalar tensor.
    fn fold_all(&self, fold: Fold, scale: f32, op: &str) -> Result<GpuTensor<f32>, GpuError> {
        let out = fold_lines(self, (1, self.numel(), 1), fold, scale, op)?;
        Ok(out.reshape(Shape::scalar()))
    }

    /// The reduction `op` along `axis`, removed or (`keepdim`) kept as 1: the sum, the mean
    /// (the sum times `1 / len`, as the CPU op), the maximum or the minimum (NaN elements are
    /// skipped, as on the CPU; -inf or inf for an empty axis).
    pub fn reduce(
        &self,
        op: ReduceOp,
        axis: usize,
        keepdim: bool,
    ) -> Result<GpuTensor<f32>, GpuError> {
        let name = op.axis_name();
        let scale = if op == ReduceOp::Mean {
            self.shape().check_axis(axis, name);
            1.0 / self.dims()[axis] as f32
        } else {
            1.0
        };
        self.fold_axis(axis, keepdim, fold_of(op), scale, name)
    }

    /// The reduction `op` over all elements, as a scalar tensor (NaN skipped by max and min).
    pub fn reduce_all(&self, op: ReduceOp) -> Result<GpuTensor<f32>, GpuError> {
        let scale = if op == ReduceOp::Mean {
            1.0 / self.numel() as f32
        } else {
            1.0
        };
        self.fold_all(fold_of(op), scale, op.all_name())
    }

    /// Runs `argmax` or (`second`) `top2` along `axis`, checked as the CPU op `op` checks it.
    fn top_along(
        &self,
        axis: usize,
        second: bool,
        op: &str,
    ) -> Result<(GpuTensor<u32>, Option<GpuTensor<u32>>), GpuError> {
        let (outer, len, inner) = split_for_best_two(self.shape(), axis, op, second);
        let gpu = self.gpu();
        let shape = self.shape().reduced(axis, false);
        let best = GpuTensor::<u32>::uninit(gpu, shape.clone())?;
        let runner_up = if second {
            Some(GpuTensor::<u32>::uninit(gpu, shape)?)
        } else {
            None
        };
        let lines = outer * inner;
        if lines > 0 {
            let mut args = vec![KernelArg::U64(best.ptr())];
            args.extend(runner_up.iter().map(|t| KernelArg::U64(t.ptr())));
            args.extend([
                KernelArg::U64(self.ptr()),
                count(lines, op).into(),
                count(len, op).into(),
                count(inner, op).into(),
            ]);
            let name = if second { "top2" } else { "argmax" };
            let config = line_launch(lines, line_block(len, inner), 1);
            gpu.launch(&MODULE, name, config, &args)?;
        }
        Ok((best, runner_up))
    }

    /// Index of the maximum along `axis` (the first one on ties), with `axis` removed.
    pub fn argmax_axis(&self, axis: usize) -> Result<GpuTensor<u32>, GpuError> {
        Ok(self.top_along(axis, false, "argmax_axis")?.0)
    }

    /// Indices of the largest and second-largest elements along `axis` (lower index first on
    /// ties), each with `axis` removed.
    pub fn top2_axis(&self, axis: usize) -> Result<(GpuTensor<u32>, GpuTensor<u32>), GpuError> {
        let (best, second) = self.top_along(axis, true, "top2_axis")?;
        Ok((best, second.expect("top2 writes a second index")))
    }

    /// Sums away the axes that broadcasting added or stretched, giving `target`'s shape: the
    /// gradient of `broadcast_to`. Each run of neighbouring summed axes is one reduction.
    pub fn sum_to(&self, target: &Shape) -> Result<GpuTensor<f32>, GpuError> {
        if self.shape() == target {
            return Ok(self.clone());
        }
        let fail = || -> ! { panic!("sum_to: cannot reduce {:?} to {target:?}", self.shape()) };
        let extra = self
            .rank()
            .checked_sub(target.rank())
            .unwrap_or_else(|| fail());
        // Summed axes: the extra leading ones, and those where the target has 1 but x does not.
        let summed: Vec<bool> = (0..self.rank())
            .map(|a| a < extra || (target.dims()[a - extra] == 1 && self.dims()[a] != 1))
            .collect();
        for (a, &d) in self.dims().iter().enumerate().skip(extra) {
            if !summed[a] && d != target.dims()[a - extra] {
                fail();
            }
        }
        // Merge each run of summed axes (and of kept axes) into one axis: a free reshape.
        let mut groups: Vec<(usize, bool)> = Vec::new();
        for (&d, &s) in self.dims().iter().zip(&summed) {
            match groups.last_mut() {
                Some((size, last)) if *last == s => *size *= d,
                _ => groups.push((d, s)),
            }
        }
        let dims: Vec<usize> = groups.iter().map(|g| g.0).collect();
        let mut out = self.reshape(dims);
        for axis in (0..groups.len()).filter(|&a| groups[a].1) {
            out = out.reduce(ReduceOp::Sum, axis, true)?;
        }
        Ok(out.reshape(target.clone()))
    }
}
