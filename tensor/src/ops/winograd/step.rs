//! The driver: [`winograd_conv`] cuts each task's tile rows into steps of a few hundred
//! kilobytes and, for each step, transforms the input, runs the 16 products and transforms the
//! products back into outputs.

use super::padded::PaddedImage;
use super::shape::{POINTS, WinogradShape};
use super::transforms::{plane_len, transform_patches, transform_products};
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

/// `y = conv3x3(x) + bias`, or `relu(conv3x3(x) + bias)` when `relu` holds, by F(2x2, 3x3) for
/// every image of `x` (`[N, C, H, W]`), written to `y` (`[N, O, OH, OW]`, every element once).
/// With `x_relu_output` (shaped as `x`) the convolution reads `x` masked where that is not
/// positive: an input gradient through a convolution + ReLU, the mask applied as the input
/// is copied (see [`PaddedImage::of`]). Tasks of whole images run in parallel; each
/// cuts its tile rows into steps of a few hundred kilobytes of transformed data and for each
/// step transforms the input, runs the 16 products, and transforms the products back into
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
    let (oh, ow) = shape.output();
    let (_, tw) = shape.tiles();
    let (in_size, out_size) = (shape.channels * shape.h * shape.w, shape.out_ch * oh * ow);
    if in_size == 0 || out_size == 0 {
        return;
    }
    let n = y.len() / out_size;
    let group = MIN_TILES
        .div_ceil(shape.tile_count())
        .max(n.div_ceil(4 * rayon::current_num_threads()))
        .min(n.div_ceil(rayon::current_num_threads()))
        .max(1);
    let step_tiles = (STEP_BYTES / (POINTS * (shape.channels + shape.out_ch) * size_of::<T>()))
        .max(MIN_TILES)
        .max(tw);
    y.par_chunks_mut(group * out_size)
        .enumerate()
        .for_each(|(task, y)| {
            let images = y.len() / out_size;
            let inputs = task * group * in_size..(task * group + images) * in_size;
            let x = (&x[inputs.clone()], x_relu_output.map(|m| &m[inputs]));
            let mut buffers = StepBuffers::new(shape, step_tiles.next_multiple_of(NR));
            for step in steps(images, shape, step_tiles) {
                let columns = (step.len() * tw).next_multiple_of(NR);
                buffers.transform_input(shape, x, &step, columns);
                buffers.multiply(weights, shape, columns);
                buffers.transform_output(shape, (bias, relu), &step, columns, y);
            }
        });
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
struct StepBuffers<T: Element> {
    /// The image being transformed.
    padded: PaddedImage<T>,
    /// `V`: `[16, C, columns]`.
    v: Scratch<T>,
    /// `M`: `[16, O rounded up to whole strips, columns]`.
    m: Scratch<T>,
}

impl<T: Element> StepBuffers<T> {
    fn new(shape: &WinogradShape, max_columns: usize) -> Self {
        let strips_rows = shape.out_ch.next_multiple_of(MR);
        StepBuffers {
            padded: PaddedImage::new(shape),
            v: Scratch::take(POINTS * plane_len(shape.channels, max_columns)),
            m: Scratch::take(POINTS * plane_len(strips_rows, max_columns)),
        }
    }

    /// `V = B^T d B` for every tile of the step and every channel, into `v` (`[16, C,
    /// columns]`), with `B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`;
    /// `x` is the task's input and the ReLU output that masks it, if any.
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
            for plane in self.v[..POINTS * len].chunks_exact_mut(len) {
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
            simd::vectorized(
                #[inline(always)]
                || gather_patches(padded, shape, at, v),
            );
        }
        let v = &mut self.v;
        simd::vectorized(
            #[inline(always)]
            || transform_patches(v, len, c_count * columns),
        );
    }

    /// `M[ξ] = U[ξ] V[ξ]` for the 16 points, [`MR`] rows by [`WIDE_NR`] or [`NR`] columns at
    /// a time (see [`column_blocks`]).
    fn multiply(&mut self, weights: &WinogradWeights<T>, shape: &WinogradShape, columns: usize) {
        let (c_count, rows) = (shape.channels, shape.out_ch.next_multiple_of(MR));
        let blocks = column_blocks(columns);
        for (xi, u) in weights.points.iter().enumerate() {
            let v = &self.v[xi * plane_len(c_count, columns)..][..c_count * columns];
            let m = &mut self.m[xi * plane_len(rows, columns)..][..rows * columns];
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
        let len = plane_len(shape.out_ch.next_multiple_of(MR), columns);
        let m = &mut self.m;
        simd::vectorized(
            #[inline(always)]
            || transform_products(m, len, shape.out_ch, columns, epilogue),
        );
        // Scatter: the two output columns of each tile interleaved into its two output rows.
        let m = &self.m;
        for row in step {
            for o in 0..shape.out_ch {
                let out = &mut y[(row.image * shape.out_ch + o) * oh * ow..][..oh * ow];
                for dy in 0..2 {
                    let oy = 2 * row.ty + dy;
                    if oy >= oh {
                        break;
                    }
                    let at = o * columns + row.column;
                    let left = &m[2 * dy * len + at..][..tw];
                    let right = &m[(2 * dy + 1) * len + at..][..tw];
                    let dst = &mut out[oy * ow..][..ow];
                    interleave_row(left, right, dst);
                }
            }
        }
    }
}

/// [`interleave`] of one output row: for `f32` on CPUs with AVX-512 by permutes of whole
/// vectors ([`interleave_avx512`]), elsewhere by the plain loop.
fn interleave_row<T: Element>(left: &[T], right: &[T], dst: &mut [MaybeUninit<T>]) {
    #[cfg(target_arch = "x86_64")]
    if simd::avx512_kernels::<T>() {
        // SAFETY: `T` is `f32` (the one element type with `PACKED_KERNELS`; `Element` is
        // sealed), so the casts are to the same type.
        let (left, right, dst) = unsafe {
            (
                &*(left as *const [T] as *const [f32]),
                &*(right as *const [T] as *const [f32]),
                &mut *(dst as *mut [MaybeUninit<T>] as *mut [MaybeUninit<f32>]),
            )
        };
        // SAFETY: the CPU has AVX-512F, checked just above.
        unsafe { interleave_avx512(left, right, dst) };
        return;
    }
    simd::vectorized(
        #[inline(always)]
        || interleave(left, right, dst),
    );
}

/// [`interleave`] for `f32`, 32 values of `dst` at a time: two (masked) loads of 16 from each
/// half, two permutes, two masked stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn interleave_avx512(left: &[f32], right: &[f32], dst: &mut [MaybeUninit<f32>]) {
    use std::arch::x86_64::*;
    let pairs = dst.len() / 2;
    let (left, right) = (&left[..dst.len() - pairs], &right[..pairs]);
    // Lane `2 i` of a pair of output vectors is left value `i`, lane `2 i + 1` right value `i`
    // (indices 16 and up pick from the second operand).
    let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let high = _mm512_add_epi32(low, _mm512_set1_epi32(8));
    let mask = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
    for start in (0..dst.len()).step_by(32) {
        let n = (dst.len() - start).min(32);
        let half = start / 2;
        // SAFETY: the masked loads read `left[half..][..(n + 1) / 2]` and
        // `right[half..][..n / 2]`, and the masked stores write `dst[start..][..n]`, all inside
        // the slices (`start` is even); masked-off lanes are not touched.
        unsafe {
            let l = _mm512_maskz_loadu_ps(mask(n.div_ceil(2)), left.as_ptr().wrapping_add(half));
            let r = _mm512_maskz_loadu_ps(mask(n / 2), right.as_ptr().wrapping_add(half));
            let p = dst.as_mut_ptr().add(start) as *mut f32;
            _mm512_mask_storeu_ps(p, mask(n), _mm512_permutex2var_ps(l, low, r));
            _mm512_mask_storeu_ps(
                p.wrapping_add(16),
                mask(n.saturating_sub(16)),
                _mm512_permutex2var_ps(l, high, r),
            );
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

/// Writes `left[0], right[0], left[1], right[1], ...` into `dst`, as many as it holds (at most
/// one more than twice `right`).
#[inline(always)]
fn interleave<T: Copy>(left: &[T], right: &[T], dst: &mut [MaybeUninit<T>]) {
    let pairs = dst.len() / 2;
    for ((pair, &l), &r) in dst
        .chunks_exact_mut(2)
        .zip(&left[..pairs])
        .zip(&right[..pairs])
    {
        pair[0].write(l);
        pair[1].write(r);
    }
    if dst.len() % 2 == 1 {
        dst[2 * pairs].write(left[pairs]);
    }
}

/// The gather of [`StepBuffers::transform_input`] for one tile row `ty` of the image in `padded`
/// (every channel), its tiles at `column..` of the step: plane `4 a + j` of `v` gets value
/// `(a, j)` of every tile's 4x4 patch, the padded image at row `2 ty + a`, column `2 tx + j`,
/// a run of `tw` neighbours in the even (`j` even) or odd half of that row. A plain function
/// inlined into [`simd::vectorized`]'s caller, so that it is compiled for the wide vectors.
#[inline(always)]
fn gather_patches<T: Element>(
    padded: &[T],
    shape: &WinogradShape,
    (ty, column, columns, len): (usize, usize, usize, usize),
    v: &mut [T],
) {
    let (ph, pw) = shape.padded();
    let (_, tw) = shape.tiles();
    let half = pw / 2;
    for (c, plane) in padded.chunks_exact(ph * pw).enumerate() {
        let at = c * columns + column;
        for a in 0..4 {
            let (even, odd) = plane[(2 * ty + a) * pw..][..pw].split_at(half);
            for j in 0..4 {
                let src = if j % 2 == 0 { even } else { odd };
                let dst = &mut v[(4 * a + j) * len + at..][..tw];
                simd::copy_run(dst, &src[j / 2..j / 2 + tw]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
