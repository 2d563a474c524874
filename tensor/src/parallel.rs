//! When and how kernels split work across rayon's threads.
//!
//! Tiny tensors stay on the calling thread: below [`GRAIN`] elements the cost of waking a worker
//! is larger than the work.

use crate::simd::vectorized;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elements per parallel task for streaming (elementwise, reduction) work.
pub const GRAIN: usize = 1 << 15;

/// True when `work` elements are worth splitting across threads.
pub fn worth_splitting(work: usize) -> bool {
    work >= 2 * GRAIN && rayon::current_num_threads() > 1
}

/// Calls `f(start, chunk)` on consecutive chunks of `dst` of `grain` elements (the last may be
/// shorter), in parallel when the slice is large enough.
pub fn for_each_chunk_mut<T: Send>(
    dst: &mut [T],
    grain: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    let grain = grain.max(1);
    if worth_splitting(dst.len()) {
        dst.par_chunks_mut(grain)
            .enumerate()
            .for_each(|(i, chunk)| f(i * grain, chunk));
    } else {
        f(0, dst);
    }
}

/// A vector of `len` elements written by `f(start, chunk)` over consecutive chunks of `grain`
/// elements (in parallel when large enough), without zero-filling it first: an op's output is
/// written exactly once instead of twice.
///
/// `f` must write every element of its chunk; the chunks cover `0..len` exactly.
pub fn collect_chunks<T: Send + Copy>(
    len: usize,
    grain: usize,
    f: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let mut out = Vec::with_capacity(len);
    let spare = &mut out.spare_capacity_mut()[..len];
    let grain = grain.max(1);
    if worth_splitting(len) {
        spare
            .par_chunks_mut(grain)
            .enumerate()
            .for_each(|(i, chunk)| f(i * grain, chunk));
    } else {
        f(0, spare);
    }
    // SAFETY: `f` wrote every element of every chunk, and the chunks cover the first `len`
    // elements of the capacity (contract of this function); `T: Copy` has no drop to skip.
    unsafe { out.set_len(len) };
    out
}

/// Calls `f(row_index, row)` for every `row_len`-element row of `dst`, in parallel when the total
/// work (`dst.len() * cost_per_element`) is large enough.
pub fn for_each_row_mut<T: Send>(
    dst: &mut [T],
    row_len: usize,
    cost_per_element: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if row_len == 0 {
        return;
    }
    if worth_splitting(dst.len() * cost_per_element.max(1)) {
        let rows_per_task = (GRAIN / (row_len * cost_per_element.max(1))).max(1);
        dst.par_chunks_mut(rows_per_task * row_len)
            .enumerate()
            .for_each(|(t, block)| {
                for (r, row) in block.chunks_mut(row_len).enumerate() {
                    f(t * rows_per_task + r, row);
                }
            });
    } else {
        for (r, row) in dst.chunks_mut(row_len).enumerate() {
            f(r, row);
        }
    }
}

/// A vector of `len` elements, `len / plane` rows of `plane`, each written by `f(row, dst)`;
/// rows split across threads when there are enough elements, each task's rows run in one
/// [`crate::simd::vectorized`] call. `f` must write every element of its row.
pub fn collect_rows<T: Send + Copy>(
    len: usize,
    plane: usize,
    f: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    if len == 0 {
        return Vec::new();
    }
    let grain = plane * (GRAIN / plane).max(1);
    collect_chunks(len, grain, |start, chunk| {
        vectorized(
            #[inline(always)]
            || {
                for (i, dst) in chunk.chunks_mut(plane).enumerate() {
                    f(start / plane + i, dst);
                }
            },
        )
    })
}

/// `f(row)` for each of `rows` rows of `plane` elements, rows split across threads when there
/// are enough elements, each task's rows run in one [`crate::simd::vectorized`] call.
pub fn per_row<R: Send>(rows: usize, plane: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    let task = (GRAIN / plane.max(1)).max(1);
    let run = |start: usize| -> Vec<R> {
        vectorized(
            #[inline(always)]
            || (start..(start + task).min(rows)).map(&f).collect(),
        )
    };
    let tasks = rows.div_ceil(task);
    let parts: Vec<Vec<R>> = if worth_splitting(rows * plane) {
        (0..tasks).into_par_iter().map(|t| run(t * task)).collect()
    } else {
        (0..tasks).map(|t| run(t * task)).collect()
    };
    parts.into_iter().flatten().collect()
}
