//! The driver: [`winograd_conv`] cuts each task's tile rows into steps of a few hundred
//! kilobytes and, for each step, transforms the input, runs the products (one for each point
//! of the tile's transform) and transforms the products back into outputs.

use super::padded::PaddedImage;
use super::scatter::{interleave_row, interleave4_row};
use super::shape::{Tile, WinogradShape};
use super::transforms::{self, plane_len};
use super::transforms_f4;
use super::weights::WinogradWeights;
use crate::element::Element;
use crate::ops::packed_gemm::{MR, NR, WIDE_NR, multiply_strip_to, multiply_wide_strip_to};
use crate::scratch::Scratch;
use crate::simd;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Fewest tiles (columns of the products) a task aims to give each product: below it the
/// partial last column block of the micro-kernel wastes too much.
pub(in crate::ops) const MIN_TILES: usize = 64;

/// Bytes of transformed input and products one step of a task aims to keep (the 16 planes of
/// `V` and of `M` for its tiles), so that they stay near the core between the three phases.
pub(in crate::ops) const STEP_BYTES: usize = 768 * 1024;

/// One row of tiles of one image: the unit the tasks' steps are made of.
#[derive(Clone, Copy)]
pub(in crate::ops) struct TileRow {
    /// Image within the task.
    pub image: usize,
    /// Tile row within the image.
    pub ty: usize,
    /// First column of the row within the step's products.
    pub column: usize,
}

/// `y = conv3x3(x) + bias`, or `relu(conv3x3(x) + bias)` when `relu` holds, by F(2x2, 3x3) or
/// F(4x4, 3x3) (`shape.tile`; `weights` transformed for it) for every image of `x`
/// (`[N, C, H, W]`), written to `y` (`[N, O, OH, OW]`, every element once).
/// With `x_relu_output` (shaped as `x`) the convolution reads `x` masked where that is not
/// positive: an input gradient through a convolution + ReLU, the mask applied as the input
/// is copied (see [`PaddedImage::of`]). Tasks of whole images run in parallel; each
/// cuts its tile rows into steps of a few hundred kilobytes of transformed data and for each
/// step transforms the input, runs the products, and transforms the products back into
/// outputs. Every output is one fixed sum: the bits do not depend on the thread count.
pub fn winograd_conv<T: Element>(
    shape: &WinogradShape,
    weights: &WinogradWeights<T>,
    bias: Option<&[T]>,
    relu: bool,
    x: &[T],
    x_relu_output: Option<&[T]>,
    y: &mut [MaybeUninit<T>],
) {
    assert_eq!(
        weights.tile, shape.tile,
        "winograd_conv: weights transformed for another tile"
    );
    let (oh, ow) = shape.output();
    let (in_size, out_size) = (shape.channels * shape.h * shape.w, shape.out_ch * oh * ow);
    if in_size == 0 || out_size == 0 {
        return;
    }
    let n = y.len() / out_size;
    let plan = Plan::new::<T>(shape, n);
    y.par_chunks_mut(plan.group * out_size)
        .enumerate()
        .for_each(|(task, y)| {
            let images = y.len() / out_size;
            run_task(
                shape,
                weights,
                (x, x_relu_output),
                (&plan, task, images),
                |b, step, columns| b.transform_output(shape, (bias, relu), step, columns, y),
            );
        });
}

/// Task `task` of a batch cut by `plan` (its `images` images of the input `x` and the ReLU
/// output that masks it, if any): for each step, the input transformed, the products, then
/// `output(buffers, step, columns)` to transform the products (`M` in `buffers`) into outputs.
pub(super) fn run_task<T: Element>(
    shape: &WinogradShape,
    weights: &WinogradWeights<T>,
    (x, x_relu_output): (&[T], Option<&[T]>),
    (plan, task, images): (&Plan, usize, usize),
    mut output: impl FnMut(&mut StepBuffers<T>, &[TileRow], usize),
) {
    let in_size = shape.channels * shape.h * shape.w;
    let tw = shape.tiles().1;
    let inputs = task * plan.group * in_size..(task * plan.group + images) * in_size;
    let x = (&x[inputs.clone()], x_relu_output.map(|m| &m[inputs]));
    let mut buffers = StepBuffers::new(shape, plan.step_tiles.next_multiple_of(NR));
    for step in steps(images, shape, plan.step_tiles) {
        let columns = (step.len() * tw).next_multiple_of(NR);
        buffers.transform_input(shape, x, &step, columns);
        let (v, m) = (&buffers.v, &mut buffers.m);
        multiply_points(weights, v, m, (shape.channels, shape.out_ch), columns);
        output(&mut buffers, &step, columns);
    }
}

/// How a batch is cut: images per task and tiles per step.
pub(super) struct Plan {
    /// Images per task (the last task may have fewer).
    pub group: usize,
    /// Tiles a step aims at (whole tile rows, at least one).
    pub step_tiles: usize,
}

impl Plan {
    /// Tasks of at least [`MIN_TILES`] tiles where the batch allows, about four per thread,
    /// and at least one per thread; steps of about [`STEP_BYTES`] of `V` and `M`, or of a
    /// whole task where the transformed weights outweigh the batch's `V` and `M` together: each
    /// step reads all of `U`, which nothing keeps in cache between the calls of a training step
    /// (ResNet-18's 512-channel layer at batch 32, 16.8 MB of `U` against 8.4 MB: a step of
    /// 32 tiles took 7.4-7.9 ms there, one of 64 tiles 6.5-6.9 ms).
    pub(super) fn new<T>(shape: &WinogradShape, n: usize) -> Self {
        let threads = rayon::current_num_threads();
        let group = MIN_TILES
            .div_ceil(shape.tile_count().max(1))
            .max(n.div_ceil(4 * threads))
            .min(n.div_ceil(threads))
            .max(1);
        let bytes_per_tile = shape.tile.points() * (shape.channels + shape.out_ch) * size_of::<T>();
        // Tiles whose `V` and `M` fit in `STEP_BYTES`.
        let budget = STEP_BYTES / bytes_per_tile;
        let tw = shape.tiles().1;
        let weight_bytes = shape.tile.points() * shape.channels * shape.out_ch * size_of::<T>();
        let step_tiles = if weight_bytes > n * shape.tile_count() * bytes_per_tile {
            group * shape.tile_count()
        } else if budget >= MIN_TILES {
            budget.max(tw)
        } else {
            whole_blocks(budget.max(NR), tw)
        };
        Plan { group, step_tiles }
    }
}

/// Tiles for a step when the budget of [`STEP_BYTES`] holds fewer than [`MIN_TILES`] (tiles of
/// 4 on 64 channels and more, tiles of 2 on 192 and more): the most whole tile rows of `tw`
/// tiles within `budget` whose columns fill the micro-kernel's blocks to within an eighth, or
/// the most whole rows. The budget is kept rather than stretched to [`MIN_TILES`], so that `V`
/// and `M` stay in the core's second-level cache: ResNet-18's 256-channel layer with tiles of
/// 4 (a budget of 21 tiles) 4.9-5.0 -> 4.5 ms forward, its 512-channel one with tiles of 2
/// 5.7-6.2 -> 5.5-5.6 ms; and the rows fill whole blocks: a 32x32 image's 5 rows of 8 tiles
/// would pad 40 columns to 64 where 4 rows fill 32 (its 64-channel layer 6.3-6.6 -> 5.7-6.0
/// ms).
fn whole_blocks(budget: usize, tw: usize) -> usize {
    let most = (budget / tw).max(1);
    let fills = |rows: usize| 8 * (rows * tw).next_multiple_of(NR) <= 9 * rows * tw;
    (1..=most).rev().find(|&rows| fills(rows)).unwrap_or(most) * tw
}

/// The tile rows of `images` images cut into steps of about `step_tiles` tiles (at least one
/// tile row each), in order; a step's tile rows are its products' columns side by side.
pub(in crate::ops) fn steps(
    images: usize,
    shape: &WinogradShape,
    step_tiles: usize,
) -> Vec<Vec<TileRow>> {
    let (th, tw) = shape.tiles();
    let per_step = (step_tiles / tw).max(1);
    let rows: Vec<(usize, usize)> = (0..images)
        .flat_map(|image| (0..th).map(move |ty| (image, ty)))
        .collect();
    rows.chunks(per_step)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .map(|(k, &(image, ty))| TileRow {
                    image,
                    ty,
                    column: k * tw,
                })
                .collect()
        })
        .collect()
}

/// A task's working buffers: one image zero-padded, `V` and `M` for one step (taken from the
/// thread's pool: every value of `V` and `M` a step reads, it wrote first).
pub(super) struct StepBuffers<T: Element> {
    /// The image being transformed.
    padded: PaddedImage<T>,
    /// `V`: `[points, C, columns]`.
    v: Scratch<T>,
    /// `M`: `[points, O rounded up to whole strips, columns]`.
    pub(super) m: Scratch<T>,
}

impl<T: Element> StepBuffers<T> {
    fn new(shape: &WinogradShape, max_columns: usize) -> Self {
        let (strips_rows, points) = (shape.out_ch.next_multiple_of(MR), shape.tile.points());
        StepBuffers {
            padded: PaddedImage::new(shape),
            v: Scratch::take(points * plane_len(shape.channels, max_columns)),
            m: Scratch::take(points * plane_len(strips_rows, max_columns)),
        }
    }

    /// `V = B^T d B` for every tile of the step and every channel, into `v` (`[points, C,
    /// columns]`), for tiles of 2 with `B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0],
    /// [0, 1, 0, -1]]` (tiles of 4: [`transforms_f4`]); `x` is the task's input and the ReLU
    /// output that masks it, if any.
    fn transform_input(
        &mut self,
        shape: &WinogradShape,
        (x, x_relu_output): (&[T], Option<&[T]>),
        step: &[TileRow],
        columns: usize,
    ) {
        let (_, tw) = shape.tiles();
        let c_count = shape.channels;
        let len = plane_len(c_count, columns);
        let used = step.len() * tw;
        if used < columns {
            for plane in self.v[..shape.tile.points() * len].chunks_exact_mut(len) {
                for row in plane[..c_count * columns].chunks_exact_mut(columns) {
                    row[used..].fill(T::zero());
                }
            }
        }
        // Gather the patches' values plane by plane (see `gather_patches`), then transform.
        for row in step {
            let padded = self.padded.of(shape, x, x_relu_output, row.image);
            let v = &mut self.v;
            let at = (row.ty, row.column, columns, len);
            match shape.tile {
                Tile::Two => simd::vectorized(
                    #[inline(always)]
                    || gather_patches::<T, 2>(padded, shape, at, v),
                ),
                Tile::Four => simd::vectorized(
                    #[inline(always)]
                    || gather_patches::<T, 4>(padded, shape, at, v),
                ),
            }
        }
        let v = &mut self.v;
        match shape.tile {
            Tile::Two => simd::vectorized(
                #[inline(always)]
                || transforms::transform_patches(v, len, c_count * columns),
            ),
            Tile::Four => simd::vectorized(
                #[inline(always)]
                || transforms_f4::transform_patches(v, len, c_count * columns),
            ),
        }
    }

    /// `Y = A^T M A` for every tile of the step and every output channel, plus the bias and
    /// then ReLU where `epilogue` asks, in place in `m`: output `(dy, dx)` of each tile in
    /// plane `size dy + dx`. Returns the distance between the planes.
    pub(super) fn transform_products(
        &mut self,
        shape: &WinogradShape,
        epilogue: (Option<&[T]>, bool),
        columns: usize,
    ) -> usize {
        let len = plane_len(shape.out_ch.next_multiple_of(MR), columns);
        let m = &mut self.m;
        match shape.tile {
            Tile::Two => simd::vectorized(
                #[inline(always)]
                || transforms::transform_products(m, len, shape.out_ch, columns, epilogue),
            ),
            Tile::Four => simd::vectorized(
                #[inline(always)]
                || transforms_f4::transform_products(m, len, shape.out_ch, columns, epilogue),
            ),
        }
        len
    }

    /// `Y = A^T M A` for every tile of the step and every output channel, plus the bias and
    /// then ReLU where `epilogue` asks, into the task's output `y` (`[images, O, OH, OW]`), with
    /// `A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
    fn transform_output(
        &mut self,
        shape: &WinogradShape,
        epilogue: (Option<&[T]>, bool),
        step: &[TileRow],
        columns: usize,
        y: &mut [MaybeUninit<T>],
    ) {
        let (oh, ow) = shape.output();
        let (_, tw) = shape.tiles();
        let len = self.transform_products(shape, epilogue, columns);
        // Scatter: the output columns of each tile interleaved into each of its output rows.
        let (m, size) = (&self.m, shape.tile.size());
        for row in step {
            for o in 0..shape.out_ch {
                let out = &mut y[(row.image * shape.out_ch + o) * oh * ow..][..oh * ow];
                for dy in 0..size {
                    let oy = size * row.ty + dy;
                    if oy >= oh {
                        break;
                    }
                    // Plane `size dy + dx` holds output `(dy, dx)` of each tile.
                    let at = o * columns + row.column;
                    let plane = |dx: usize| &m[(size * dy + dx) * len + at..][..tw];
                    let dst = &mut out[oy * ow..][..ow];
                    match shape.tile {
                        Tile::Two => interleave_row(plane(0), plane(1), dst),
                        Tile::Four => {
                            interleave4_row([plane(0), plane(1), plane(2), plane(3)], dst)
                        }
                    }
                }
            }
        }
    }
}

/// `M[ξ] = U[ξ] V[ξ]` for every point, `U[ξ]` in `weights` (`[rows, depth]`), `V[ξ]` in `v`
/// (`[points, depth, columns]`), `M[ξ]` into `m` (`[points, rows rounded up to whole strips,
/// columns]`), [`MR`] rows by [`WIDE_NR`] or [`NR`] columns at a time (see [`column_blocks`]).
pub(super) fn multiply_points<T: Element>(
    weights: &WinogradWeights<T>,
    v: &[T],
    m: &mut [T],
    (depth, rows): (usize, usize),
    columns: usize,
) {
    let (rows, blocks) = (rows.next_multiple_of(MR), column_blocks(columns));
    for (xi, u) in weights.points.iter().enumerate() {
        let v = &v[xi * plane_len(depth, columns)..][..depth * columns];
        let m = &mut m[xi * plane_len(rows, columns)..][..rows * columns];
        for s in 0..u.strips() {
            for &(c0, width) in &blocks {
                let out = &mut m[s * MR * columns + c0..];
                if width == WIDE_NR {
                    multiply_wide_strip_to(u, s, &v[c0..], columns, out, columns);
                } else {
                    multiply_strip_to(u, s, &v[c0..], columns, out, columns);
                }
            }
        }
    }
}

/// `columns` (a multiple of [`NR`]) cut into blocks for the micro-kernels, `(start, width)`:
/// as many [`WIDE_NR`]-wide blocks as leave a multiple of [`NR`], then [`NR`]-wide ones (one
/// or two).
fn column_blocks(columns: usize) -> Vec<(usize, usize)> {
    let narrow = (columns / NR) % 3;
    let wide = (columns - narrow * NR) / WIDE_NR;
    let widths = std::iter::repeat_n(WIDE_NR, wide).chain(std::iter::repeat_n(NR, narrow));
    widths
        .scan(0, |start, width| {
            let block = (*start, width);
            *start += width;
            Some(block)
        })
        .collect()
}

/// The gather of [`StepBuffers::transform_input`] for one tile row `ty` of the image in `padded`
/// (every channel), tiles of `M` outputs a side, its tiles at `column..` of the step: plane
/// `(M + 2) a + j` of `v` gets value `(a, j)` of every tile's patch, the padded image at row
/// `M ty + a`, column `M tx + j`, a run of `tw` neighbours in phase `j % M` of that row (see
/// [`PaddedImage`]). A plain function inlined into [`simd::vectorized`]'s caller, so that it is
/// compiled for the wide vectors.
#[inline(always)]
fn gather_patches<T: Element, const M: usize>(
    padded: &[T],
    shape: &WinogradShape,
    (ty, column, columns, len): (usize, usize, usize, usize),
    v: &mut [T],
) {
    let (ph, pw) = shape.padded();
    let (_, tw) = shape.tiles();
    let (patch, phase_len) = (M + 2, pw / M);
    for (c, plane) in padded.chunks_exact(ph * pw).enumerate() {
        let at = c * columns + column;
        for a in 0..patch {
            let row = &plane[(M * ty + a) * pw..][..pw];
            for j in 0..patch {
                let src = &row[(j % M) * phase_len + j / M..][..tw];
                let dst = &mut v[(patch * a + j) * len + at..][..tw];
                simd::copy_run(dst, src);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_steps_take_whole_rows_that_fill_whole_blocks() {
        // 5 rows of 8 would pad 40 columns to 64; 4 fill 32.
        assert_eq!(whole_blocks(42, 8), 32);
        assert_eq!(whole_blocks(32, 4), 32);
        assert_eq!(whole_blocks(32, 2), 32);
        // 9 rows of 7: 63 columns in 64.
        assert_eq!(whole_blocks(64, 7), 63);
        // A row longer than the budget is still one row, however it fills.
        assert_eq!(whole_blocks(10, 13), 13);
        // 7 rows of 13: 91 columns in 96.
        assert_eq!(whole_blocks(100, 13), 91);
        // No count of rows of 13 within 40 fills its blocks to an eighth: the most rows.
        assert_eq!(whole_blocks(40, 13), 39);
    }

    #[test]
    fn column_blocks_cover_the_columns_once_in_wide_and_narrow_blocks() {
        for k in 1..12 {
            let columns = k * NR;
            let blocks = column_blocks(columns);
            let mut next = 0;
            for &(start, width) in &blocks {
                assert_eq!(start, next, "{columns} columns: blocks in order, no gap");
                assert!(width == WIDE_NR || width == NR);
                next += width;
            }
            assert_eq!(next, columns);
            let narrow = blocks.iter().filter(|b| b.1 == NR).count();
            assert!(narrow <= 2, "{columns} columns: {narrow} narrow blocks");
        }
        assert_eq!(column_blocks(96), vec![(0, 48), (48, 48)]);
        assert_eq!(column_blocks(128), vec![(0, 48), (48, 48), (96, 32)]);
    }
}
