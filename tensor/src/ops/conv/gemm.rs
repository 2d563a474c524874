//! The routes through `matrixmultiply`, for the element types, CPUs and shapes the packed
//! micro-kernel does not cover, and the weight gradient of every convolution that Winograd's
//! does not take: im2col tiles sized for L2, one single-threaded GEMM per image (or group of
//! small images), images in parallel.

use super::unfold::Unfold;
use crate::element::Element;
use crate::ops::matmul::gemm_strided;
use rayon::prelude::*;

/// Partial sums of the weight gradient, each over a fixed share of the batch: enough to keep a
/// few cores busy, few enough to stay small in memory and to leave each share enough images for
/// [`GRAD_WEIGHT_COLUMNS`] (ResNet-18's 4x4 layers at batch 32: 8 images, 128 columns, per GEMM;
/// 8 groups measured 20% slower there on 2 cores).
const GRAD_WEIGHT_GROUPS: usize = 4;

/// Columns (output positions, over several images where they are small) the weight gradient
/// aims to multiply at a time.
const GRAD_WEIGHT_COLUMNS: usize = 256;

/// Bytes of weight gradient above which small images take [`small_images_grad_weight`]
/// rather than partial sums over groups of images: a core's second-level cache.
const SHARED_GRADIENT_BYTES: usize = 2 << 20;

/// The convolution through `matrixmultiply`, for element types and CPUs the packed kernel does
/// not cover: per image, im2col tiles sized for L2, each multiplied by the weight matrix
/// `[O, C*KH*KW]` (a 1x1 stride-1 unpadded kernel needs no im2col: the image is the column
/// matrix). Images run in parallel, each with a single-threaded GEMM. `y` must be zeroed.
pub(super) fn gemm_conv<T: Element>(u: &Unfold, w: &[T], bias: Option<&[T]>, x: &[T], y: &mut [T]) {
    let (rows, positions) = (u.rows(), u.positions());
    let out_ch = w.len() / rows.max(1);
    let in_size = u.channels * u.h * u.w;
    let tile = u.tile(size_of::<T>());
    y.par_chunks_mut((out_ch * positions).max(1))
        .enumerate()
        .for_each(|(i, y)| {
            let x = &x[i * in_size..(i + 1) * in_size];
            if u.is_pointwise() {
                gemm_strided(
                    (out_ch, rows, positions),
                    w,
                    (rows, 1),
                    x,
                    (positions, 1),
                    T::zero(),
                    y,
                    positions,
                );
            } else {
                let mut col = vec![T::zero(); rows * tile];
                for p0 in (0..positions).step_by(tile) {
                    let p1 = (p0 + tile).min(positions);
                    let len = p1 - p0;
                    u.fill(x, p0, p1, &mut col[..rows * len], len);
                    gemm_strided(
                        (out_ch, rows, len),
                        w,
                        (rows, 1),
                        &col,
                        (len, 1),
                        T::zero(),
                        &mut y[p0..],
                        positions,
                    );
                }
            }
            if let Some(b) = bias {
                for (plane, &bv) in y.chunks_mut(positions).zip(b) {
                    plane.iter_mut().for_each(|v| *v = *v + bv);
                }
            }
        });
}

/// The input gradient through `matrixmultiply`, for element types, CPUs and shapes the packed
/// route does not cover: per image, `W^T dy` by L2-sized tiles, each scattered back into the
/// image (a 1x1 stride-1 unpadded kernel needs no col2im: one GEMM writes the gradient). Images
/// run in parallel, each with a single-threaded GEMM. `dx` must be zeroed.
pub(super) fn gemm_grad_input<T: Element>(
    u: &Unfold,
    w: &[T],
    out_ch: usize,
    dy_all: &[T],
    dx: &mut [T],
) {
    let (rows, positions) = (u.rows(), u.positions());
    let in_size = u.channels * u.h * u.w;
    let tile = u.tile(size_of::<T>());
    dx.par_chunks_mut(in_size.max(1))
        .enumerate()
        .for_each(|(i, dxi)| {
            let dy = &dy_all[i * out_ch * positions..(i + 1) * out_ch * positions];
            if u.is_pointwise() {
                // dx [C, HW] = W^T [C, O] x dy [O, HW]
                gemm_strided(
                    (rows, out_ch, positions),
                    w,
                    (1, rows),
                    dy,
                    (positions, 1),
                    T::zero(),
                    dxi,
                    positions,
                );
            } else {
                let mut col = vec![T::zero(); rows * tile];
                for p0 in (0..positions).step_by(tile) {
                    let p1 = (p0 + tile).min(positions);
                    let len = p1 - p0;
                    let col = &mut col[..rows * len];
                    gemm_strided(
                        (rows, out_ch, len),
                        w,
                        (1, rows),
                        &dy[p0..],
                        (positions, 1),
                        T::zero(),
                        col,
                        len,
                    );
                    u.scatter_add(col, len, p0, p1, dxi);
                }
            }
        });
}

/// The weight gradient through `matrixmultiply`, every route but Winograd's: `dW = dy
/// im2col(x)^T` summed over the `n` images of `x_all` (`[N, C, H, W]`) and `dy_all`
/// (`[N, O, OH, OW]`), returned as `[O, C*KH*KW]`. Small images go several to a GEMM, their
/// columns side by side.
pub(super) fn gemm_grad_weight<T: Element>(
    u: &Unfold,
    out_ch: usize,
    n: usize,
    x_all: &[T],
    dy_all: &[T],
) -> Vec<T> {
    let (rows, positions) = (u.rows(), u.positions());
    let in_size = u.channels * u.h * u.w;
    let tile = u.tile(size_of::<T>());
    // Small images are taken several at a time, their columns side by side, so that each
    // GEMM has an inner dimension of about GRAD_WEIGHT_COLUMNS: one image of 4x4 positions
    // would make a rank-16 update that reads and writes the whole weight gradient.
    let chunk = if u.is_pointwise() || 2 * positions > GRAD_WEIGHT_COLUMNS {
        1
    } else {
        GRAD_WEIGHT_COLUMNS / positions.max(1)
    };
    if chunk > 1 && out_ch * rows * size_of::<T>() > SHARED_GRADIENT_BYTES {
        return small_images_grad_weight(u, out_ch, n, x_all, dy_all);
    }
    let chunk_cols = (chunk * positions).max(tile);
    let per_chunk = |dw: &mut Vec<T>, col: &mut Vec<T>, dyg: &mut Vec<T>, i0: usize, i1: usize| {
        let x = |i: usize| &x_all[i * in_size..(i + 1) * in_size];
        let dy = |i: usize| &dy_all[i * out_ch * positions..(i + 1) * out_ch * positions];
        if u.is_pointwise() {
            // dW [O, C] += dy [O, HW] x x^T [HW, C]
            gemm_strided(
                (out_ch, positions, rows),
                dy(i0),
                (positions, 1),
                x(i0),
                (1, positions),
                T::one(),
                dw,
                rows,
            );
        } else if i1 - i0 > 1 {
            // dW [O, R] += dy [O, images * HW] x col^T [images * HW, R], the images' output
            // gradients gathered side by side as their columns are.
            let cols = (i1 - i0) * positions;
            for (j, i) in (i0..i1).enumerate() {
                u.fill(x(i), 0, positions, &mut col[j * positions..], cols);
            }
            let images_dy = &dy_all[i0 * out_ch * positions..i1 * out_ch * positions];
            gather_side_by_side(images_dy, out_ch, positions, dyg);
            add_product_side_by_side(dyg, col, (cols, rows), dw);
        } else {
            for p0 in (0..positions).step_by(tile) {
                let p1 = (p0 + tile).min(positions);
                let len = p1 - p0;
                let col = &mut col[..rows * len];
                u.fill(x(i0), p0, p1, col, len);
                gemm_strided(
                    (out_ch, len, rows),
                    &dy(i0)[p0..],
                    (positions, 1),
                    col,
                    (1, len),
                    T::one(),
                    dw,
                    rows,
                );
            }
        }
    };
    // Images are split into a fixed number of groups whatever the thread count, each group
    // sums its chunks of images in order, and the groups' sums are added in order: the result
    // is the same bits on every run (a work-stealing reduce would not be).
    let size = out_ch * rows;
    let group = n.div_ceil(GRAD_WEIGHT_GROUPS).max(1);
    let partials: Vec<Vec<T>> = (0..n.div_ceil(group))
        .into_par_iter()
        .map(|g| {
            let mut dw = vec![T::zero(); size];
            let mut col = vec![T::zero(); rows * chunk_cols];
            let mut dyg = vec![T::zero(); if chunk > 1 { out_ch * chunk_cols } else { 0 }];
            let end = ((g + 1) * group).min(n);
            for i0 in (g * group..end).step_by(chunk) {
                per_chunk(&mut dw, &mut col, &mut dyg, i0, end.min(i0 + chunk));
            }
            dw
        })
        .collect();
    let mut partials = partials.into_iter();
    let mut dw = partials.next().unwrap_or_else(|| vec![T::zero(); size]);
    for partial in partials {
        dw.iter_mut().zip(&partial).for_each(|(x, &y)| *x = *x + y);
    }
    dw
}

/// Columns (output positions of several small images) one pass of
/// [`small_images_grad_weight`] multiplies: ResNet-18's 4x4 layers at batch 32 in one pass.
const SMALL_IMAGES_PASS_COLUMNS: usize = 512;

/// The weight gradient of images of at most `GRAD_WEIGHT_COLUMNS / 2` positions whose
/// gradient is larger than [`SHARED_GRADIENT_BYTES`]: the images' column matrices and output
/// gradients side by side, `dW [O, R] += dy [O, images * HW] x
/// col^T [images * HW, R]`, one GEMM for up to [`SMALL_IMAGES_PASS_COLUMNS`] columns, its rows
/// (output channels) shared among the threads. Each weight's gradient is then summed by one
/// thread over all the pass's columns in order, and the gradient is written once a pass: the
/// partial sums of a split over images (four copies of ResNet-18's 9.4 MB 512-channel gradient,
/// each read and written by GEMMs of 128 columns, then added) made that layer 21-23 ms against
/// PyTorch's 10.7. The bits do not depend on the thread count.
fn small_images_grad_weight<T: Element>(
    u: &Unfold,
    out_ch: usize,
    n: usize,
    x_all: &[T],
    dy_all: &[T],
) -> Vec<T> {
    let (rows, positions, taps) = (u.rows(), u.positions(), u.kh * u.kw);
    let (plane, in_size) = (u.h * u.w, u.channels * u.h * u.w);
    let per_pass = (SMALL_IMAGES_PASS_COLUMNS / positions.max(1)).clamp(1, n.max(1));
    let mut dw = vec![T::zero(); out_ch * rows];
    if rows == 0 || positions == 0 {
        return dw;
    }
    let mut col = vec![T::zero(); rows * per_pass * positions];
    let mut dyg = vec![T::zero(); out_ch * per_pass * positions];
    let threads = rayon::current_num_threads();
    // Whole channels' rows of the column matrix a task fills; output channels a task multiplies.
    let fill_channels = u.channels.div_ceil(4 * threads).max(1);
    let gemm_rows = out_ch.div_ceil(threads).max(1);
    for i0 in (0..n).step_by(per_pass) {
        let images = per_pass.min(n - i0);
        let cols = images * positions;
        let (col, dyg) = (&mut col[..rows * cols], &mut dyg[..out_ch * cols]);
        col.par_chunks_mut(fill_channels * taps * cols)
            .enumerate()
            .for_each(|(t, col)| {
                let c0 = t * fill_channels;
                let part = Unfold {
                    channels: col.len() / (taps * cols),
                    ..*u
                };
                for j in 0..images {
                    let x = &x_all[(i0 + j) * in_size + c0 * plane..];
                    part.fill(x, 0, positions, &mut col[j * positions..], cols);
                }
            });
        let dy = &dy_all[i0 * out_ch * positions..(i0 + images) * out_ch * positions];
        gather_side_by_side(dy, out_ch, positions, dyg);
        let (col, dyg) = (&*col, &*dyg);
        dw.par_chunks_mut(gemm_rows * rows)
            .enumerate()
            .for_each(|(t, dw)| {
                let dyg = &dyg[t * gemm_rows * cols..];
                add_product_side_by_side(dyg, col, (cols, rows), dw);
            });
    }
    dw
}

/// The output gradients `dy` of several images (`[images, O, positions]`, `O` = `out_ch`) side
/// by side in `dyg` (`[O, images * positions]`), as their column matrices are laid out.
fn gather_side_by_side<T: Element>(dy: &[T], out_ch: usize, positions: usize, dyg: &mut [T]) {
    let cols = dy.len() / out_ch;
    for (j, image) in dy.chunks_exact(out_ch * positions).enumerate() {
        for (o, plane) in image.chunks_exact(positions).enumerate() {
            dyg[o * cols + j * positions..][..positions].copy_from_slice(plane);
        }
    }
}

/// `dW += dyg x col^T` for whole rows of the gradient: `dw` holds them (`rows` values each, the
/// column matrix's rows), `dyg` the same rows of the output gradients side by side (`cols`
/// apart), `col` the column matrix (`[rows, cols]`).
fn add_product_side_by_side<T: Element>(
    dyg: &[T],
    col: &[T],
    (cols, rows): (usize, usize),
    dw: &mut [T],
) {
    gemm_strided(
        (dw.len() / rows, cols, rows),
        dyg,
        (cols, 1),
        col,
        (1, cols),
        T::one(),
        dw,
        rows,
    );
}
