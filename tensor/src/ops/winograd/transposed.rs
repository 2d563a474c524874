//! The input gradient of an unpadded 3x3 convolution over the forward pass's own tiles:
//! F(2x2, 3x3) run backwards.
//!
//! The forward pass computes each tile as `Y = A^T [sum_c U_oc ⊙ (B^T d_c B)] A`. Each step
//! is linear, so the gradient of the patch `d_c` it read is `B [sum_o U_oc ⊙ (A G_o A^T)] B^T`
//! for the tile's 2x2 output gradients `G_o`: the same 16 matrix products with `U` transposed
//! (`[C, O]`), between a cheaper transform in (2x2 values to 4x4) and the patch's transform out.
//! Patches of neighbouring tiles overlap by two rows and two columns, so the input gradient is
//! their sum where they overlap.
//!
//! The other route, a convolution of the output gradient padded by 2 (see
//! [`super::winograd_conv`] with [`super::WinogradWeights::flipped`]), covers the larger input
//! with tiles: 2 more tile rows and columns an image, 16%, 44% and 56% more products on
//! SmallCNN's 26x26, 12x12 and 10x10 inputs. This one multiplies over the forward's tiles.

use super::padded::{deinterleave_row, relu_mask};
use super::scatter::interleave_row;
use super::shape::{POINTS, Tile, WinogradShape};
use super::step::{Plan, TileRow, multiply_points, steps};
use super::transforms::{self, LANES, Lanes, add, load, plane_len};
use super::weights::WinogradWeights;
use crate::element::Element;
use crate::ops::elementwise::relu_grad_of;
use crate::ops::packed_gemm::{MR, NR};
use crate::scratch::Scratch;
use crate::simd;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The output gradient an input gradient is computed from.
#[derive(Clone, Copy)]
pub enum OutputGradient<'a, T> {
    /// The convolution's output gradient `[N, O, OH, OW]`, masked where the ReLU output after
    /// it (shaped as it), if given, is not positive: a convolution + ReLU.
    Dense(&'a [T], Option<&'a [T]>),
    /// The gradient of a 2x2, stride-2 max pooling of the convolution + ReLU (each window a
    /// tile), `[N, O, OH / 2, OW / 2]`, with the pooling's output and indices (see
    /// [`super::winograd_conv_relu_max_pool`]): each window's gradient goes to the output its
    /// index names, where the pooled output is positive; the other three get zero. The same
    /// values as [`crate::Tensor::max_pool2d_backward`] of the masked gradient, read in place.
    Pooled {
        gradient: &'a [T],
        pooled: &'a [T],
        indices: &'a [u32],
    },
}

impl<'a, T> OutputGradient<'a, T> {
    /// Images `images` of the gradient, for output planes of `plane` values.
    fn images(self, images: std::ops::Range<usize>, plane: usize) -> Self {
        let range = images.start * plane..images.end * plane;
        match self {
            OutputGradient::Dense(dy, mask) => {
                OutputGradient::Dense(&dy[range.clone()], mask.map(|m| &m[range]))
            }
            OutputGradient::Pooled {
                gradient,
                pooled,
                indices,
            } => {
                let range = range.start / 4..range.end / 4;
                OutputGradient::Pooled {
                    gradient: &gradient[range.clone()],
                    pooled: &pooled[range.clone()],
                    indices: &indices[range],
                }
            }
        }
    }
}

/// The input gradient `dx` (`[N, C, H, W]`, every element written once) of the unpadded 3x3
/// convolution `shape` (tiles of 2) for the output gradient `dy`. `weights` are
/// [`WinogradWeights::transposed`]. Tasks of whole images run in parallel, cut
/// into steps of tile rows as the forward pass is; every input gradient is one fixed sum, so
/// the bits do not depend on the thread count.
pub fn winograd_grad_input<T: Element>(
    shape: &WinogradShape,
    weights: &WinogradWeights<T>,
    dy: OutputGradient<'_, T>,
    dx: &mut [MaybeUninit<T>],
) {
    assert!(
        shape.tile == Tile::Two && weights.tile == Tile::Two && shape.padding == 0,
        "winograd_grad_input: tiles of 2 of an unpadded convolution only"
    );
    let (oh, ow) = shape.output();
    assert!(
        matches!(dy, OutputGradient::Dense(..)) || (oh.is_multiple_of(2) && ow.is_multiple_of(2)),
        "winograd_grad_input: a pooled gradient needs an output with even sides"
    );
    let (in_size, out_size) = (shape.channels * shape.h * shape.w, shape.out_ch * oh * ow);
    if in_size == 0 || out_size == 0 {
        return;
    }
    let n = dx.len() / in_size;
    let tw = shape.tiles().1;
    let Plan { group, step_tiles } = Plan::new::<T>(shape, n);
    dx.par_chunks_mut(group * in_size)
        .enumerate()
        .for_each(|(task, dx)| {
            let images = dx.len() / in_size;
            let dy = dy.images(task * group..task * group + images, out_size);
            let mut buffers = Buffers::new(shape, step_tiles.next_multiple_of(NR));
            for step in steps(images, shape, step_tiles) {
                let columns = (step.len() * tw).next_multiple_of(NR);
                buffers.transform_gradient(shape, dy, &step, columns);
                let (g, m) = (&buffers.g, &mut buffers.m);
                multiply_points(weights, g, m, (shape.out_ch, shape.channels), columns);
                buffers.overlap_add(shape, &step, columns, dx);
            }
        });
}

/// A task's working buffers.
struct Buffers<T: Element> {
    /// One image of the output gradient with the ReLU's mask applied, when there is one.
    masked: Vec<T>,
    /// Image of the task held in `masked`.
    image: Option<usize>,
    /// `A G A^T` of every tile of the step: `[16, O, columns]`.
    g: Scratch<T>,
    /// The products, then the patches' gradients: `[16, C rounded up to whole strips, columns]`.
    m: Scratch<T>,
    /// For each channel and each [`LANES`] tiles of a row, the lower two rows of the last tile
    /// row's patches summed across the tiles, in their even and odd columns, which the next
    /// tile row's upper two rows add to: `[C, chunks, 2 rows, 2 phases]`.
    carry: Vec<Lanes<T>>,
}

impl<T: Element> Buffers<T> {
    fn new(shape: &WinogradShape, max_columns: usize) -> Self {
        let chunks = (shape.tiles().1 + 1).div_ceil(LANES);
        Buffers {
            masked: Vec::new(),
            image: None,
            g: Scratch::take(POINTS * plane_len(shape.out_ch, max_columns)),
            m: Scratch::take(POINTS * plane_len(shape.channels.next_multiple_of(MR), max_columns)),
            carry: vec![[T::zero(); LANES]; shape.channels * chunks * 4],
        }
    }

    /// `A G A^T` for every tile of the step and every output channel, into `g` (`[16, O,
    /// columns]`), with `A = [[1, 0], [1, 1], [1, -1], [0, -1]]`; `dy` is the task's output
    /// gradient.
    fn transform_gradient(
        &mut self,
        shape: &WinogradShape,
        dy: OutputGradient<'_, T>,
        step: &[TileRow],
        columns: usize,
    ) {
        let (o_count, tw) = (shape.out_ch, shape.tiles().1);
        let len = plane_len(o_count, columns);
        let used = step.len() * tw;
        // The 2x2 blocks go to the first four planes; columns past the step's tiles are zero.
        for plane in self.g[..4 * len].chunks_exact_mut(len) {
            for row in plane[..o_count * columns].chunks_exact_mut(columns) {
                row[used..].fill(T::zero());
            }
        }
        for row in step {
            match dy {
                OutputGradient::Dense(dy, mask) => {
                    self.gather_blocks(shape, (dy, mask), row, columns)
                }
                OutputGradient::Pooled {
                    gradient,
                    pooled,
                    indices,
                } => {
                    let g = &mut self.g;
                    let pooled = (gradient, pooled, indices);
                    simd::vectorized(
                        #[inline(always)]
                        || unpool_blocks(shape, pooled, row, (g, len, columns)),
                    );
                }
            }
        }
        let g = &mut self.g;
        simd::vectorized(
            #[inline(always)]
            || transforms::expand_gradients(g, len, o_count * columns),
        );
    }

    /// Tile row `row`'s 2x2 blocks of the output gradient `dy` (masked where `mask` is not
    /// positive, if given) into the first four planes of `g`: output row `2 ty + i` of each
    /// channel split into its even columns (value `(i, 0)` of the tiles, plane `2 i`) and its
    /// odd ones (value `(i, 1)`, plane `2 i + 1`); zero past the output.
    fn gather_blocks(
        &mut self,
        shape: &WinogradShape,
        (dy, mask): (&[T], Option<&[T]>),
        row: &TileRow,
        columns: usize,
    ) {
        let (oh, ow) = shape.output();
        let (o_count, tw) = (shape.out_ch, shape.tiles().1);
        let (len, size) = (plane_len(o_count, columns), o_count * oh * ow);
        let image = match mask {
            Some(y) => {
                if self.image != Some(row.image) {
                    self.masked.resize(size, T::zero());
                    let (g, y, out) = (
                        &dy[row.image * size..][..size],
                        &y[row.image * size..][..size],
                        &mut self.masked,
                    );
                    simd::vectorized(
                        #[inline(always)]
                        || relu_mask(g, y, out),
                    );
                    self.image = Some(row.image);
                }
                &self.masked[..]
            }
            None => &dy[row.image * size..][..size],
        };
        for (o, channel) in image.chunks_exact(oh * ow).enumerate() {
            let at = o * columns + row.column;
            for i in 0..2 {
                let (even, odd) = self.g[2 * i * len..].split_at_mut(len);
                let (even, odd) = (&mut even[at..][..tw], &mut odd[at..][..tw]);
                let y = 2 * row.ty + i;
                if y < oh {
                    deinterleave_row(&channel[y * ow..][..ow], even, odd);
                    odd[ow / 2..].fill(T::zero());
                } else {
                    even.fill(T::zero());
                    odd.fill(T::zero());
                }
            }
        }
    }

    /// `B M B^T` for every tile of the step and every input channel (`B^T` as in the forward
    /// pass), then the patches summed into the task's input gradient `dx` (see
    /// [`overlap_add_rows`]).
    fn overlap_add(
        &mut self,
        shape: &WinogradShape,
        step: &[TileRow],
        columns: usize,
        dx: &mut [MaybeUninit<T>],
    ) {
        let len = plane_len(shape.channels.next_multiple_of(MR), columns);
        let m = &mut self.m;
        simd::vectorized(
            #[inline(always)]
            || transforms::transform_patch_gradients(m, len, shape.channels * columns),
        );
        let (m, carry) = (&self.m, &mut self.carry);
        simd::vectorized(
            #[inline(always)]
            || overlap_add_rows(shape, (m, len, columns), step, carry, dx),
        );
    }
}

/// Tile row `row`'s 2x2 blocks of the output gradient of a convolution + ReLU + 2x2 max pooling
/// (see [`OutputGradient::Pooled`]; the task's `gradient`, `pooled` output and `indices`,
/// `[images, O, TH, TW]`) into the first four planes of `g` (`len` apart, value `(i, j)` of
/// each tile in plane `2 i + j`): each window's gradient (zero where its pooled output is not
/// positive, plus zero as the pooling's backward adds it) at the output its index names, zero
/// at the other three. Branch-free, so that it vectorises along the row.
#[inline(always)]
fn unpool_blocks<T: Element>(
    shape: &WinogradShape,
    (gradient, pooled, indices): (&[T], &[T], &[u32]),
    row: &TileRow,
    (g, len, columns): (&mut [T], usize, usize),
) {
    let ow = shape.output().1;
    let (th, tw) = shape.tiles();
    // Offsets within a window, from its upper-left output, of values (0, 0) .. (1, 1).
    let offsets = [0, 1, ow as u32, ow as u32 + 1];
    for o in 0..shape.out_ch {
        let window = ((row.image * shape.out_ch + o) * th + row.ty) * tw;
        let (gradient, pooled) = (&gradient[window..][..tw], &pooled[window..][..tw]);
        let indices = &indices[window..][..tw];
        let top = (2 * row.ty * ow) as u32;
        for (k, &offset) in offsets.iter().enumerate() {
            let plane = &mut g[k * len + o * columns + row.column..][..tw];
            for (tx, value) in plane.iter_mut().enumerate() {
                let chosen = indices[tx] == top + 2 * tx as u32 + offset;
                let passed = T::zero() + relu_grad_of(gradient[tx], pooled[tx]);
                *value = if chosen { passed } else { T::zero() };
            }
        }
    }
}

/// Each tile row's patches (`m`, value `(a, b)` of every tile in plane `4 a + b`) summed into
/// the task's input gradient `dx` (`[images, C, H, W]`): input row `2 ty + a`, column `2 tx +
/// b` from value `(a, b)` of tile `(ty, tx)`. Along a row, value `b` of a tile and value `b + 2`
/// of the tile before it fall on the same column: one add of two planes, the second read one
/// column back. A tile row writes the input rows `2 ty` and `2 ty + 1`, its upper two patch
/// rows plus the lower two of the tile row above (`carry`), and carries its own lower two; the
/// last tile row of an image writes those too, where the image has them. [`LANES`] tiles at a
/// time.
#[inline(always)]
fn overlap_add_rows<T: Element>(
    shape: &WinogradShape,
    (m, len, columns): (&[T], usize, usize),
    step: &[TileRow],
    carry: &mut [Lanes<T>],
    dx: &mut [MaybeUninit<T>],
) {
    let (c_count, h, w) = (shape.channels, shape.h, shape.w);
    let (th, tw) = shape.tiles();
    let chunks = (tw + 1).div_ceil(LANES);
    for row in step {
        for c in 0..c_count {
            let plane = &mut dx[(row.image * c_count + c) * h * w..][..h * w];
            for chunk in 0..chunks {
                let (first, at) = (chunk * LANES, c * columns + row.column + chunk * LANES);
                let kept = (lanes_within(first, 0, tw), lanes_within(first, 1, tw + 1));
                let summed = |a: usize, e: usize| summed_row(m, (len, at), (a, e), kept);
                let columns = 2 * first..w.min(2 * (first + LANES));
                let carried = &mut carry[(c * chunks + chunk) * 4..][..4];
                for a in 0..2 {
                    let (mut even, mut odd) = (summed(a, 0), summed(a, 1));
                    if row.ty > 0 {
                        even = add(even, carried[2 * a]);
                        odd = add(odd, carried[2 * a + 1]);
                    }
                    let y = 2 * row.ty + a;
                    interleave_row(&even, &odd, &mut plane[y * w..][columns.clone()]);
                }
                for a in 0..2 {
                    carried[2 * a] = summed(a + 2, 0);
                    carried[2 * a + 1] = summed(a + 2, 1);
                }
                if row.ty + 1 == th {
                    for a in 0..2 {
                        let y = 2 * th + a;
                        if y < h {
                            let dst = &mut plane[y * w..][columns.clone()];
                            interleave_row(&carried[2 * a], &carried[2 * a + 1], dst);
                        }
                    }
                }
            }
        }
    }
}

/// Row `a` of the patches in `m` summed across the tiles, in phase `e` of its columns, for
/// the [`LANES`] tiles from `at` in each plane (`len` apart): lane `t` of the tiles' value `(a,
/// e)` plus lane `t - 1` of their value `(a, e + 2)`, each zero outside its `kept` lanes. The
/// loads run past the tile row (inside the planes, which end in a cache line to spare); the
/// lanes past its ends are dropped.
#[inline(always)]
fn summed_row<T: Element>(
    m: &[T],
    (len, at): (usize, usize),
    (a, e): (usize, usize),
    (own, before): ([bool; LANES], [bool; LANES]),
) -> Lanes<T> {
    add(
        zero_outside(load(m, (4 * a + e) * len + at), own),
        zero_outside(load(m, (4 * a + 2 + e) * len + at - 1), before),
    )
}

/// Which of the [`LANES`] lanes from `first` fall within `start..end`.
#[inline(always)]
fn lanes_within(first: usize, start: usize, end: usize) -> [bool; LANES] {
    std::array::from_fn(|i| (start..end).contains(&(first + i)))
}

/// `lanes` with zero in the lanes not `kept` (a select, so whatever a dropped lane held, even a
/// NaN, leaves no trace).
#[inline(always)]
fn zero_outside<T: Element>(lanes: Lanes<T>, kept: [bool; LANES]) -> Lanes<T> {
    std::array::from_fn(|i| if kept[i] { lanes[i] } else { T::zero() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::tests::values;
    use crate::ops::packed_gemm;
    use crate::{Shape, Tensor};
    use tensor_spec::Conv2dGeometry;

    /// The gradient over the forward's tiles against the f64 `matrixmultiply` route, with and
    /// without the ReLU's mask, on odd and even outputs (a partial last tile row and column),
    /// a one-row output, channel counts off the strip size, tile rows longer than one vector of
    /// the transforms, and batches that split unevenly into tasks.
    #[test]
    fn matches_the_f64_route() {
        if !packed_gemm::available::<f32>() {
            return;
        }
        let cases = [
            (3, 16, 8, 8, 17),
            (2, 20, 7, 11, 16),
            (5, 17, 3, 9, 24),
            (1, 32, 26, 26, 32),
            (3, 16, 6, 37, 19),
        ];
        for (n, c, h, w, o) in cases {
            let (oh, ow) = (h - 2, w - 2);
            let (dyv, yv, wv) = (
                values(n * o * oh * ow, 21),
                values(n * o * oh * ow, 22),
                values(o * c * 9, 23),
            );
            let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
            let shape = WinogradShape {
                channels: c,
                h,
                w,
                out_ch: o,
                padding: 0,
                tile: Tile::Two,
            };
            let weights = WinogradWeights::transposed(&f32s(&wv), o, c, Tile::Two);
            for masked in [false, true] {
                let len = n * c * h * w;
                let mut dx = Vec::with_capacity(len);
                let (dy, y) = (f32s(&dyv), f32s(&yv));
                let mask = masked.then_some(&y[..]);
                let dy = OutputGradient::Dense(&dy, mask);
                winograd_grad_input(&shape, &weights, dy, &mut dx.spare_capacity_mut()[..len]);
                // SAFETY: `winograd_grad_input` wrote all `len` input gradients.
                unsafe { dx.set_len(len) };
                let g: Vec<f64> = dyv
                    .iter()
                    .zip(&yv)
                    .map(|(&g, &y)| if masked && y <= 0.0 { 0.0 } else { g })
                    .collect();
                let want = Tensor::<f64>::from_f64s(&g, [n, o, oh, ow])
                    .conv2d_grad_input(
                        &Tensor::from_f64s(&wv, [o, c, 3, 3]),
                        &Shape::from([n, c, h, w]),
                        Conv2dGeometry::new(1, 0),
                    )
                    .to_f64_vec();
                for (i, (&got, want)) in dx.iter().zip(want).enumerate() {
                    assert!(
                        (got as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "case {:?} masked {masked}: dx[{i}] = {got}, expected {want}",
                        (n, c, h, w, o)
                    );
                }
            }
        }
    }
}
