//! The weight gradient of a 3x3 stride-1 convolution by Winograd's F(3x3, 2x2): the
//! counterpart of [`super::winograd`] for `conv2d_grad_weight`.
//!
//! `dW[o, c, ki, kj]` sums `dy[o, y, x] * x_padded[c, y + ki, x + kj]` over every output
//! position of every image. Cut the output into 2x2 tiles: along each axis a tile contributes a
//! 2-tap correlation with 3 outputs, which F(3, 2) computes with 4 multiplies instead of 6. With
//! the tile's 4x4 input patch `d` transformed exactly as in the forward pass (`V = B^T d B`)
//! and its 2x2 output gradient `e` as `E = G e G^T`,
//! `G = [[1, 0], [1/2, 1/2], [1/2, -1/2], [0, -1]]`, the tile adds `A^T (E ⊙ V) A` to the 3x3
//! kernel gradient, `A^T = [[1, 1, 1, 0], [0, 1, -1, 0], [0, 1, 1, 1]]`. (The last row of `G`
//! carries the sign that lets `V` be the forward pass's own transform.) Summing over tiles
//! commutes with `A^T . A`, so the gradient is 16 matrix products summed over the batch,
//! `P[ξ] = E[ξ] [O, tiles] x V[ξ]^T [tiles, C]`, and one output transform per kernel at the
//! end: 16 multiply-adds per tile and channel pair instead of 36.

use super::winograd::padded::PaddedImage;
use super::winograd::shape::{POINTS, Tile, WinogradShape};
use super::winograd::step::{MIN_TILES, STEP_BYTES, TileRow, steps};
use super::winograd::transforms::{
    LANES, Lanes, add, column_of, load, plane_len, store, sub, transform_patches,
};
use crate::element::Element;
use crate::ops::packed_gemm::{MR, NR, multiply_add_strip};
use crate::scratch::Scratch;
use crate::simd;
use rayon::prelude::*;

/// Partial sums of the gradient, each over a fixed share of the batch: the bits do not depend
/// on the thread count.
pub const GROUPS: usize = 4;

/// `dW` (`[O, C, 3, 3]`) for input `x` (`[N, C, H, W]`) and output gradient `dy`
/// (`[N, O, OH, OW]`) of the convolution `shape`. Groups of images run in parallel, each
/// cutting its tile rows into steps as the forward pass does and adding each step's 16
/// products into its own partial sums; the groups' sums are added in order.
pub fn winograd_grad_weight<T: Element>(shape: &WinogradShape, x: &[T], dy: &[T]) -> Vec<T> {
    assert_eq!(
        shape.tile,
        Tile::Two,
        "winograd_grad_weight: F(3x3, 2x2) reads the 4x4 patches of tiles of 2"
    );
    let (oh, ow) = shape.output();
    let (_, tw) = shape.tiles();
    let (channels, out_ch) = (shape.channels, shape.out_ch);
    let (in_size, out_size) = (channels * shape.h * shape.w, out_ch * oh * ow);
    let layout = Layout::new(shape);
    let size = POINTS * layout.p_len;
    let n = x.len().checked_div(in_size).unwrap_or(0);
    let group = n.div_ceil(GROUPS).max(1);
    let step_tiles = (STEP_BYTES / (POINTS * (layout.ldv + layout.rows) * size_of::<T>()))
        .max(MIN_TILES)
        .max(tw);
    let partials: Vec<Vec<T>> = (0..n.div_ceil(group))
        .into_par_iter()
        .map(|g| {
            let images = group.min(n - g * group);
            let x = &x[g * group * in_size..][..images * in_size];
            let dy = &dy[g * group * out_size..][..images * out_size];
            let mut scratch = GradScratch::new(shape, &layout, step_tiles.next_multiple_of(NR));
            let mut p = vec![T::zero(); size];
            for step in steps(images, shape, step_tiles) {
                let columns = (step.len() * tw).next_multiple_of(NR);
                scratch.transform_input(shape, &layout, x, &step, columns);
                scratch.transform_gradient(shape, &layout, dy, &step, columns);
                scratch.multiply_add(&layout, columns, &mut p);
            }
            p
        })
        .collect();
    let mut partials = partials.into_iter();
    let mut p = partials.next().unwrap_or_else(|| vec![T::zero(); size]);
    for partial in partials {
        simd::vectorized(
            #[inline(always)]
            || {
                for (s, &v) in p.iter_mut().zip(&partial) {
                    *s = *s + v;
                }
            },
        );
    }
    let mut dw = vec![T::zero(); out_ch * channels * 9];
    simd::vectorized(
        #[inline(always)]
        || transform_sums(&p, &layout, out_ch, channels, &mut dw),
    );
    dw
}

/// Row lengths and plane sizes of the buffers, fixed for one call.
struct Layout {
    /// Output channels rounded up to whole [`MR`]-row strips.
    rows: usize,
    /// Values per row of `V^T` (a tile's channels): the channels rounded up to whole [`NR`]
    /// blocks, plus one cache line so that the rows the micro-kernel walks down do not all fall
    /// in the same few cache sets.
    ldv: usize,
    /// Values per plane of the products' sums `P`: `rows` rows of `ldv`.
    p_len: usize,
}

impl Layout {
    fn new(shape: &WinogradShape) -> Self {
        let rows = shape.out_ch.next_multiple_of(MR);
        let ldv = shape.channels.next_multiple_of(NR) + LANES;
        Layout {
            rows,
            ldv,
            p_len: plane_len(rows, ldv),
        }
    }
}

/// A group's working buffers for one step (taken from the thread's pool: a step writes every
/// value it reads, apart from the channels past `C` in the rows of `V^T`, which only reach the
/// columns of `P` past `C`, which are never read).
struct GradScratch<T: Element> {
    /// The image being transformed, as in the forward pass.
    padded: PaddedImage<T>,
    /// `V^T`: 16 planes of `columns` rows (tiles) of `ldv` values (channels).
    v: Scratch<T>,
    /// The four values of each tile's 2x2 output gradient, 4 planes in `e`'s layout.
    gradient: Scratch<T>,
    /// `E`: 16 planes, each `[O, columns]` packed in [`MR`]-row strips for the micro-kernel.
    e: Scratch<T>,
    /// Plane lengths of `v` and of `gradient` and `e`.
    v_len: usize,
    e_len: usize,
}

impl<T: Element> GradScratch<T> {
    fn new(shape: &WinogradShape, layout: &Layout, max_columns: usize) -> Self {
        let (v_len, e_len) = (
            plane_len(max_columns, layout.ldv),
            plane_len(layout.rows, max_columns),
        );
        GradScratch {
            padded: PaddedImage::new(shape),
            v: Scratch::take(POINTS * v_len),
            gradient: Scratch::take(4 * e_len),
            e: Scratch::take(POINTS * e_len),
            v_len,
            e_len,
        }
    }

    /// `V^T` for the step: each tile's 4x4 patch of every channel, gathered into row `t` of
    /// the 16 planes (channels side by side) and transformed in place as in the forward pass.
    /// Rows past the step's tiles are zero.
    fn transform_input(
        &mut self,
        shape: &WinogradShape,
        layout: &Layout,
        x: &[T],
        step: &[TileRow],
        columns: usize,
    ) {
        let (ph, pw) = shape.padded();
        let (_, tw) = shape.tiles();
        let (channels, half, ldv) = (shape.channels, pw / 2, layout.ldv);
        let used = step.len() * tw;
        for plane in self.v.chunks_exact_mut(self.v_len) {
            plane[used * ldv..columns * ldv].fill(T::zero());
        }
        for row in step {
            let padded = self.padded.of(shape, x, None, row.image);
            for a in 0..4 {
                for j in 0..4 {
                    // Value (a, j) of tile `tx`'s patch: row `2 ty + a`, column `2 tx + j` of the
                    // padded image, stored in the even or odd half of its row.
                    let first = (2 * row.ty + a) * pw + j % 2 * half + j / 2;
                    let plane = &mut self.v[(4 * a + j) * self.v_len..][..columns * ldv];
                    for tx in 0..tw {
                        let dst = &mut plane[(row.column + tx) * ldv..][..channels];
                        for (c, d) in dst.iter_mut().enumerate() {
                            *d = padded[c * ph * pw + first + tx];
                        }
                    }
                }
            }
        }
        let (v, len) = (&mut self.v, self.v_len);
        simd::vectorized(
            #[inline(always)]
            || transform_patches(v, len, columns * ldv),
        );
    }

    /// `E = G e G^T` for every tile of the step and every output channel, into `e` (packed
    /// strips; zero for tiles past the step's, channels past `O`, and the positions of a
    /// partial last tile that lie outside the output).
    fn transform_gradient(
        &mut self,
        shape: &WinogradShape,
        layout: &Layout,
        dy: &[T],
        step: &[TileRow],
        columns: usize,
    ) {
        let (oh, ow) = shape.output();
        let (_, tw) = shape.tiles();
        let (out_ch, len) = (shape.out_ch, self.e_len);
        let count = layout.rows * columns;
        for plane in self.gradient.chunks_exact_mut(len) {
            plane[..count].fill(T::zero());
        }
        // Element (o, t) of a plane in the strips' layout.
        let at = |o: usize, t: usize| (o / MR * columns + t) * MR + o % MR;
        for row in step {
            for o in 0..out_ch {
                let plane = &dy[(row.image * out_ch + o) * oh * ow..][..oh * ow];
                for a in 0..2 {
                    let oy = 2 * row.ty + a;
                    if oy >= oh {
                        break;
                    }
                    let line = &plane[oy * ow..][..ow];
                    for tx in 0..tw {
                        for b in 0..2 {
                            if let Some(&value) = line.get(2 * tx + b) {
                                self.gradient[(2 * a + b) * len + at(o, row.column + tx)] = value;
                            }
                        }
                    }
                }
            }
        }
        let (gradient, e) = (&self.gradient, &mut self.e);
        simd::vectorized(
            #[inline(always)]
            || transform_gradients(gradient, e, len, count),
        );
    }

    /// `P[ξ] += E[ξ] V[ξ]^T` for the 16 points, [`MR`] rows by [`NR`] channels at a time.
    fn multiply_add(&self, layout: &Layout, columns: usize, p: &mut [T]) {
        let ldv = layout.ldv;
        for xi in 0..POINTS {
            let e = &self.e[xi * self.e_len..][..layout.rows * columns];
            let v = &self.v[xi * self.v_len..][..columns * ldv];
            let p = &mut p[xi * layout.p_len..][..layout.rows * ldv];
            for (s, strip) in e.chunks_exact(MR * columns).enumerate() {
                for c0 in (0..ldv - LANES).step_by(NR) {
                    multiply_add_strip(strip, &v[c0..], ldv, &mut p[s * MR * ldv + c0..], ldv);
                }
            }
        }
    }
}

/// `G e G^T` over the first `count` values of the four planes of `gradient` (values
/// `(0, 0), (0, 1), (1, 0), (1, 1)` of each tile's 2x2 output gradient) into the 16 planes of
/// `e`, all `len` apart, [`LANES`] at a time.
#[inline(always)]
fn transform_gradients<T: Element>(gradient: &[T], e: &mut [T], len: usize, count: usize) {
    for p in (0..count).step_by(LANES) {
        let rows = [
            expand(load(gradient, p), load(gradient, len + p)),
            expand(load(gradient, 2 * len + p), load(gradient, 3 * len + p)),
        ];
        for j in 0..4 {
            let [top, bottom] = column_of(&rows, j);
            for (i, lanes) in expand(top, bottom).iter().enumerate() {
                store(e, (4 * i + j) * len + p, lanes);
            }
        }
    }
}

/// `G` times a pair of values: `[a, (a + b) / 2, (a - b) / 2, -b]`.
#[inline(always)]
fn expand<T: Element>(a: Lanes<T>, b: Lanes<T>) -> [Lanes<T>; 4] {
    let (half, zero) = ([T::from_f64_lossy(0.5); LANES], [T::zero(); LANES]);
    [a, mul(add(a, b), half), mul(sub(a, b), half), sub(zero, b)]
}

/// `a * b` lane by lane.
#[inline(always)]
fn mul<T: Element>(a: Lanes<T>, b: Lanes<T>) -> Lanes<T> {
    let mut product = a;
    for (p, b) in product.iter_mut().zip(b) {
        *p = *p * b;
    }
    product
}

/// `dW[o, c] = A^T P[o, c] A` for every kernel (the 16 planes of `p` hold `P`, `O` rows of
/// `ldv`), into `dw` (`[O, C, 3, 3]`), [`LANES`] channels at a time.
#[inline(always)]
fn transform_sums<T: Element>(
    p: &[T],
    layout: &Layout,
    out_ch: usize,
    channels: usize,
    dw: &mut [T],
) {
    for o in 0..out_ch {
        for c0 in (0..channels).step_by(LANES) {
            let at = o * layout.ldv + c0;
            let rows = [0, 1, 2, 3].map(
                #[inline(always)]
                |i| {
                    let at = 4 * i * layout.p_len + at;
                    reduce([
                        load(p, at),
                        load(p, at + layout.p_len),
                        load(p, at + 2 * layout.p_len),
                        load(p, at + 3 * layout.p_len),
                    ])
                },
            );
            for kj in 0..3 {
                let column = reduce(column_of(&rows, kj));
                for (ki, lanes) in column.iter().enumerate() {
                    for (l, &value) in lanes.iter().enumerate().take(channels - c0) {
                        dw[(o * channels + c0 + l) * 9 + ki * 3 + kj] = value;
                    }
                }
            }
        }
    }
}

/// `A^T` on four values: `[m0 + m1 + m2, m1 - m2, m1 + m2 + m3]`.
#[inline(always)]
fn reduce<T: Element>([m0, m1, m2, m3]: [Lanes<T>; 4]) -> [Lanes<T>; 3] {
    let inner = add(m1, m2);
    [add(m0, inner), sub(m1, m2), add(inner, m3)]
}
