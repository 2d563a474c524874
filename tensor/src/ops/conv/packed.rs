//! The packed AVX-512 routes with an explicit column matrix: the forward pass unfolds [`NR`]
//! columns at a time into a contiguous panel for the micro-kernel, and the input gradient
//! computes `W^T dy` by tiles and scatters them back (col2im).

use super::unfold::Unfold;
use crate::element::Element;
use crate::ops::elementwise::{relu_grad_of, relu_of};
use crate::ops::packed_gemm::{Block, MR, NR, PackedLhs, multiply_strip, multiply_strip_to};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Images whose output positions one task runs through together: enough columns that the
/// partial last [`NR`]-strip wastes little, chosen among a few counts for the least waste, and
/// few enough that the batch makes at least `tasks` tasks.
fn images_per_task(n: usize, positions: usize, tasks: usize) -> usize {
    let least = (4 * NR).div_ceil(positions.max(1));
    let most = n.div_ceil(tasks).max(1);
    let padded = |g: usize| (g * positions).next_multiple_of(NR) as f64 / (g * positions) as f64;
    (least..=2 * least)
        .map(|g| g.min(most).min(n).max(1))
        .min_by(|&a, &b| padded(a).total_cmp(&padded(b)).then(a.cmp(&b)))
        .unwrap_or(1)
}

/// Calls `f(image, p0, p1, offset)` for each run of positions `p0..p1` of one image among the
/// columns `g0..g1` of a group of images laid side by side (`positions` columns each); `offset`
/// is the run's first column relative to `g0`.
fn for_each_image_run(
    positions: usize,
    g0: usize,
    g1: usize,
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    let mut g = g0;
    while g < g1 {
        let (image, p0) = (g / positions, g % positions);
        let p1 = positions.min(p0 + g1 - g);
        f(image, p0, p1, g - g0);
        g += p1 - p0;
    }
}

/// Bytes of column panels the forward pass fills before running the weights' strips over them:
/// each strip is then read from memory once for all of them rather than once a panel (ResNet-18's
/// 256-to-512 stride-2 layer has 4.7 MB of packed weights, 73 KB a strip).
const PANEL_BYTES: usize = 1 << 20;

/// The convolution proper, `y = W im2col(x) + bias` (then ReLU when `epilogue` asks) for every
/// image of `x`, written to `y` (`[N, O, OH, OW]`, not read). Tasks of a few images run in
/// parallel; each walks its columns (the images' positions side by side) a few panels at a time
/// (see [`PANEL_BYTES`]), unfolds each [`NR`] columns into one contiguous panel (`C*KH*KW` rows
/// of `NR` values, the layout the micro-kernel streams), and multiplies every row strip of the
/// packed weights by the panels. The sums run in a fixed order: the bits do not depend on the
/// thread count.
pub(super) fn packed_conv<T: Element>(
    u: &Unfold,
    w: &PackedLhs<T>,
    epilogue: (Option<&[T]>, bool),
    x: &[T],
    y: &mut [MaybeUninit<T>],
) {
    let (in_size, positions, out_ch) = (u.channels * u.h * u.w, u.positions(), w.rows());
    let out_size = out_ch * positions;
    if out_size == 0 {
        return;
    }
    let n = y.len() / out_size;
    // Two tasks a thread: every thread gets work.
    let group = images_per_task(n, positions, 2 * rayon::current_num_threads());
    let panels_at_once = (PANEL_BYTES / (w.depth() * NR * size_of::<T>()).max(1)).clamp(1, 8);
    let task = |(t, y): (usize, &mut [MaybeUninit<T>])| {
        let images = y.len() / out_size;
        let x = &x[t * group * in_size..(t * group + images) * in_size];
        let columns = images * positions;
        let panel_len = w.depth() * NR;
        let mut panels = vec![T::zero(); panels_at_once * panel_len];
        let mut block = [[T::zero(); NR]; MR];
        for c0 in (0..columns).step_by(panels_at_once * NR) {
            let c1 = columns.min(c0 + panels_at_once * NR);
            let count = (c1 - c0).div_ceil(NR);
            // The columns of panel `k`.
            let span = |k: usize| (c0 + k * NR, c1.min(c0 + (k + 1) * NR));
            for (k, panel) in panels.chunks_exact_mut(panel_len).take(count).enumerate() {
                let (g0, g1) = span(k);
                if g1 - g0 < NR {
                    panel.fill(T::zero());
                }
                for_each_image_run(positions, g0, g1, |i, p0, p1, at| {
                    let x = &x[i * in_size..(i + 1) * in_size];
                    u.fill(x, p0, p1, &mut panel[at..], NR);
                });
            }
            // Each strip of the weights against all the panels, while it is in cache.
            for s in 0..w.strips() {
                for (k, panel) in panels.chunks_exact(panel_len).take(count).enumerate() {
                    multiply_strip(w, s, panel, NR, &mut block);
                    store_block(&block, s * MR, out_ch, positions, epilogue, span(k), y);
                }
            }
        }
    };
    y.par_chunks_mut(group * out_size)
        .enumerate()
        .for_each(task);
}

/// Writes rows `o0..` (up to `out_ch`) of an output block for columns `g0..g1` (the positions
/// of a group of images side by side) into `y` (`[images, O, positions]`), adding the bias
/// and then applying ReLU where `epilogue` asks.
fn store_block<T: Element>(
    block: &Block<T>,
    o0: usize,
    out_ch: usize,
    positions: usize,
    (bias, relu): (Option<&[T]>, bool),
    (g0, g1): (usize, usize),
    y: &mut [MaybeUninit<T>],
) {
    for (i, row) in block.iter().enumerate().take(out_ch - o0) {
        let o = o0 + i;
        let b = bias.map_or(T::zero(), |b| b[o]);
        for_each_image_run(positions, g0, g1, |img, p0, p1, at| {
            let dst = &mut y[(img * out_ch + o) * positions..][p0..p1];
            for (d, &v) in dst.iter_mut().zip(&row[at..]) {
                d.write(with_epilogue(v, b, relu));
            }
        });
    }
}

/// `v + b`, then ReLU when `relu` holds ([`relu_of`], the bits of the ReLU op): the value a
/// packed route stores for one output.
#[inline(always)]
pub(super) fn with_epilogue<T: Element>(v: T, b: T, relu: bool) -> T {
    if relu { relu_of(v + b) } else { v + b }
}

/// Fewest tasks a grad-input batch is cut into, whatever the thread count: a fixed share of the
/// batch, not one set by the thread count, so that the tiles (and with them the order in which
/// each input gradient is summed) are the same bits at any thread count.
const GRAD_INPUT_TASKS: usize = 16;

/// Copies the `[O, NR]` block of output-gradient columns `g0..g1` (positions of a task's images
/// side by side) into the contiguous `panel`, zeros past `g1`: the micro-kernel then streams it
/// without the cache-set conflicts of rows read in place a power of two apart. With a ReLU
/// output (shaped as `dy`), each gradient is copied where it is positive and zero elsewhere.
fn gather_dy_panel<T: Element>(
    (dy, relu_output): (&[T], Option<&[T]>),
    out_ch: usize,
    positions: usize,
    (g0, g1): (usize, usize),
    panel: &mut [T],
) {
    for (o, row) in panel.chunks_exact_mut(NR).enumerate() {
        for_each_image_run(positions, g0, g1, |img, p0, p1, at| {
            let (dst, from) = (
                &mut row[at..at + p1 - p0],
                (img * out_ch + o) * positions + p0,
            );
            let src = &dy[from..][..p1 - p0];
            match relu_output {
                None => dst.copy_from_slice(src),
                Some(y) => {
                    for ((d, &g), &y) in dst.iter_mut().zip(src).zip(&y[from..][..p1 - p0]) {
                        *d = relu_grad_of(g, y);
                    }
                }
            }
        });
        row[g1 - g0..].fill(T::zero());
    }
}

/// The input gradient proper, `dx = col2im(W^T dy)` for every image, added into `dx` (zeroed,
/// `[N, C, H, W]`). Tasks of a few images run in parallel, each image's gradient written by its
/// one task; each task cuts its columns (the images' positions side by side) into L2-sized
/// tiles, computes the tile of `W^T dy` by [`NR`]-column blocks against every strip of the
/// packed transposed weights `wt` (`[C*KH*KW, O]`), then scatters the tile into its images in
/// position order. The order of every sum is fixed: the bits do not depend on the thread count.
/// `dy` is the output gradient and the ReLU output that masks it, if any (see
/// [`gather_dy_panel`]).
pub(super) fn packed_grad_input<T: Element>(
    u: &Unfold,
    wt: &PackedLhs<T>,
    (dy, relu_output): (&[T], Option<&[T]>),
    dx: &mut [T],
) {
    let (in_size, positions, out_ch) = (u.channels * u.h * u.w, u.positions(), wt.depth());
    let out_size = out_ch * positions;
    if in_size == 0 || out_size == 0 {
        return;
    }
    let n = dx.len() / in_size;
    let group = images_per_task(n, positions, GRAD_INPUT_TASKS);
    let task = |(t, dx): (usize, &mut [T])| {
        let images = dx.len() / in_size;
        let task_dy = t * group * out_size..(t * group + images) * out_size;
        let dy = (&dy[task_dy.clone()], relu_output.map(|y| &y[task_dy]));
        let columns = images * positions;
        let width = u.tile(size_of::<T>()).min(columns.next_multiple_of(NR));
        let mut col = vec![T::zero(); wt.strips() * MR * width];
        let mut panel = vec![T::zero(); out_ch * NR];
        for t0 in (0..columns).step_by(width) {
            let t1 = columns.min(t0 + width);
            for g0 in (t0..t1).step_by(NR) {
                let g1 = t1.min(g0 + NR);
                gather_dy_panel(dy, out_ch, positions, (g0, g1), &mut panel);
                for s in 0..wt.strips() {
                    let c = &mut col[s * MR * width + g0 - t0..];
                    multiply_strip_to(wt, s, &panel, NR, c, width);
                }
            }
            for_each_image_run(positions, t0, t1, |i, p0, p1, at| {
                let dx = &mut dx[i * in_size..(i + 1) * in_size];
                u.scatter_add(&col[at..], width, p0, p1, dx);
            });
        }
    };
    dx.par_chunks_mut(group * in_size)
        .enumerate()
        .for_each(task);
}
