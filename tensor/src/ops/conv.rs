//! 2-D convolution (NCHW input, OIHW weights) and its two gradient ops, by im2col + GEMM.
//!
//! Each output is the weight matrix `[O, C*KH*KW]` times the image's column matrix (im2col).
//! Where the packed AVX-512 kernel applies, these routes, fastest first:
//! - a 3x3 kernel, stride 1, 16 or more channels on both sides: Winograd's F(2x2, 3x3) for the
//!   forward pass and the input gradient ([`crate::ops::winograd`]), F(3x3, 2x2) for the weight
//!   gradient when the batch has enough tiles ([`crate::ops::winograd_grad`]).
//! - stride 1 with few wasted columns: the column matrix is never written; its rows are read
//!   straight from a zero-padded copy of the image (`Implicit`). The input gradient of such a
//!   convolution is again one (flipped weights, see `grad_input_as_conv`).
//! - otherwise the forward unfolds [`NR`] columns at a time into a small contiguous panel, and
//!   the input gradient computes `W^T dy` by tiles and scatters them back (col2im).
//!
//! Elsewhere (other element types, shallow column matrices) `matrixmultiply` multiplies im2col
//! tiles sized for L2; a 1x1 kernel with stride 1 and no padding skips im2col: the image is
//! already the column matrix. Images run in parallel, each with a single-threaded GEMM.

use crate::counters::{self, CountedOp};
use crate::element::Element;
use crate::ops::matmul::gemm_strided;
use crate::ops::on_gpu;
use crate::ops::packed_gemm::{
    self, Block, MR, NR, PackedLhs, RowOffsets, multiply_strip, multiply_strip_rows,
    multiply_strip_to,
};
use crate::ops::winograd::{WinogradShape, WinogradWeights, winograd_conv};
use crate::ops::winograd_cache::{self, Orientation};
use crate::ops::winograd_grad::{self, winograd_grad_weight};
use crate::shape::Shape;
use crate::simd;
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Partial sums of the weight gradient, each over a fixed share of the batch: enough to keep a
/// few cores busy, few enough to stay small in memory and to leave each share enough images for
/// [`GRAD_WEIGHT_COLUMNS`] (ResNet-18's 4x4 layers at batch 32: 8 images, 128 columns, per GEMM;
/// 8 groups measured 20% slower there on 2 cores).
const GRAD_WEIGHT_GROUPS: usize = 4;

/// Columns (output positions, over several images where they are small) the weight gradient
/// aims to multiply at a time.
const GRAD_WEIGHT_COLUMNS: usize = 256;

/// Bytes of im2col tile to aim for: comfortably inside a 1 MiB L2 together with the GEMM's panels.
const TILE_BYTES: usize = 256 * 1024;

/// Stride and zero padding of a convolution, the same on both spatial axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Step between neighbouring output positions, in input pixels.
    pub stride: usize,
    /// Zeros added on every side of the input.
    pub padding: usize,
}

impl Conv2dGeometry {
    /// A geometry with the given stride and padding.
    pub fn new(stride: usize, padding: usize) -> Self {
        assert!(stride > 0, "conv2d: stride must be positive");
        Conv2dGeometry { stride, padding }
    }

    /// Output height and width for an input `h x w` and a kernel `kh x kw`; panics if the
    /// kernel does not fit.
    pub fn output_size(&self, h: usize, w: usize, kh: usize, kw: usize) -> (usize, usize) {
        let (ph, pw) = (h + 2 * self.padding, w + 2 * self.padding);
        assert!(
            kh <= ph && kw <= pw,
            "conv2d: kernel {kh}x{kw} larger than padded input {ph}x{pw}"
        );
        ((ph - kh) / self.stride + 1, (pw - kw) / self.stride + 1)
    }
}

/// Everything the unfolding of one image needs.
#[derive(Clone, Copy)]
struct Unfold {
    channels: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: usize,
    padding: usize,
}

impl Unfold {
    fn new(input: &[usize], weight: &[usize], geom: Conv2dGeometry) -> Self {
        let (oh, ow) = geom.output_size(input[2], input[3], weight[2], weight[3]);
        Unfold {
            channels: input[1],
            h: input[2],
            w: input[3],
            kh: weight[2],
            kw: weight[3],
            oh,
            ow,
            stride: geom.stride,
            padding: geom.padding,
        }
    }

    /// Rows of the column matrix: C * KH * KW.
    fn rows(&self) -> usize {
        self.channels * self.kh * self.kw
    }

    /// Output positions per image: OH * OW.
    fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// True when the image itself is the column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.padding == 0
    }

    /// Output positions per tile, a multiple of [`NR`] (the GEMMs' column block).
    fn tile(&self, elem_bytes: usize) -> usize {
        let cols = TILE_BYTES / (self.rows() * elem_bytes).max(1);
        cols.next_multiple_of(NR)
            .clamp(NR, self.positions().next_multiple_of(NR).max(NR))
    }

    /// The runs of output positions in `p0..p1` that share an output row, in order.
    fn runs(&self, p0: usize, p1: usize) -> impl Iterator<Item = Run> + '_ {
        let mut p = p0;
        std::iter::from_fn(move || {
            (p < p1).then(|| {
                let (oy, ox0) = (p / self.ow, p % self.ow);
                let count = (self.ow - ox0).min(p1 - p);
                let run = Run {
                    oy,
                    ox0,
                    count,
                    at: p - p0,
                };
                p += count;
                run
            })
        })
    }

    /// The output columns `lo..hi` whose input column `ox * stride + kj - padding` lies inside
    /// the image, for kernel column `kj`.
    fn valid_columns(&self, kj: usize) -> (usize, usize) {
        let s = self.stride;
        // ox * s + kj >= padding  <=>  ox >= ceil((padding - kj) / s)
        let lo = self.padding.saturating_sub(kj).div_ceil(s);
        // ox * s + kj - padding <= w - 1  <=>  ox <= (w - 1 + padding - kj) / s
        let hi = match (self.w + self.padding).checked_sub(kj + 1) {
            Some(last) => (last / s + 1).min(self.ow),
            None => 0,
        };
        (lo.min(hi), hi)
    }

    /// Input row for output row `oy` and kernel row `ki`, if inside the image.
    fn input_y(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.stride + ki)
            .checked_sub(self.padding)
            .filter(|&y| y < self.h)
    }

    /// For kernel position `(ki, kj)`, the positions of `run` (relative to its start) whose
    /// input pixel lies inside the image, and the offset of the first of them within an input
    /// channel plane; `None` when the kernel row falls wholly in the padding. The same for every
    /// channel, so the callers work it out once per run and kernel position and keep a plain copy
    /// or add in their innermost loop, over channels.
    fn inside(&self, run: &Run, ki: usize, kj: usize) -> Option<(Range<usize>, usize)> {
        let iy = self.input_y(run.oy, ki)?;
        let (lo, hi) = self.valid_columns(kj);
        let end = run.ox0 + run.count;
        let (a, b) = (lo.clamp(run.ox0, end), hi.clamp(run.ox0, end));
        (a < b).then(|| {
            let first = iy * self.w + a * self.stride + kj - self.padding;
            (a - run.ox0..b - run.ox0, first)
        })
    }

    /// Writes the column-matrix tile for positions `p0..p1` of image `x` into `col`: row `r`
    /// of the tile goes to `col[r * ld..r * ld + p1 - p0]`, zeros where the kernel hangs over
    /// the padding. `ld` is `p1 - p0` for a plain row-major tile, or [`NR`] for a packed panel.
    fn fill<T: Element>(&self, x: &[T], p0: usize, p1: usize, col: &mut [T], ld: usize) {
        let (plane, taps, s) = (self.h * self.w, self.kh * self.kw, self.stride);
        // Built for the widest vector unit, so that `simd::copy_run` moves whole vectors.
        simd::vectorized(
            #[inline(always)]
            || {
                for run in self.runs(p0, p1) {
                    for (ki, kj) in (0..self.kh).flat_map(|ki| (0..self.kw).map(move |kj| (ki, kj)))
                    {
                        let tap = ki * self.kw + kj;
                        let inside = self.inside(&run, ki, kj);
                        for c in 0..self.channels {
                            let dst = &mut col[(c * taps + tap) * ld + run.at..][..run.count];
                            let Some((inside, first)) = inside.clone() else {
                                dst.fill(T::zero());
                                continue;
                            };
                            if inside.start > 0 {
                                dst[..inside.start].fill(T::zero());
                            }
                            if inside.end < run.count {
                                dst[inside.end..].fill(T::zero());
                            }
                            let dst = &mut dst[inside];
                            let src = &x[c * plane + first..];
                            if s == 1 {
                                simd::copy_run(dst, &src[..dst.len()]);
                            } else {
                                for (i, d) in dst.iter_mut().enumerate() {
                                    *d = src[i * s];
                                }
                            }
                        }
                    }
                }
            },
        );
    }

    /// Adds the column-matrix tile `col` for positions `p0..p1` back into image gradient `dx`
    /// (the adjoint of [`Unfold::fill`]): row `r` of the tile is `col[r * ld..r * ld + p1 - p0]`.
    fn scatter_add<T: Element>(&self, col: &[T], ld: usize, p0: usize, p1: usize, dx: &mut [T]) {
        let (plane, taps, s) = (self.h * self.w, self.kh * self.kw, self.stride);
        for run in self.runs(p0, p1) {
            for (ki, kj) in (0..self.kh).flat_map(|ki| (0..self.kw).map(move |kj| (ki, kj))) {
                let tap = ki * self.kw + kj;
                let Some((inside, first)) = self.inside(&run, ki, kj) else {
                    continue;
                };
                for c in 0..self.channels {
                    let src = &col[(c * taps + tap) * ld + run.at..][inside.clone()];
                    let dst = &mut dx[c * plane + first..];
                    if s == 1 {
                        add_run(&mut dst[..src.len()], src);
                    } else {
                        for (i, &v) in src.iter().enumerate() {
                            dst[i * s] = dst[i * s] + v;
                        }
                    }
                }
            }
        }
    }
}

/// A run of output positions that share an output row, as [`Unfold::runs`] hands them out.
struct Run {
    /// Output row.
    oy: usize,
    /// First output column.
    ox0: usize,
    /// Positions in the run.
    count: usize,
    /// First column of the run within the tile.
    at: usize,
}

/// Values per step of [`add_run`]: a fixed-size chunk the compiler turns into straight-line
/// vector adds.
const RUN_CHUNK: usize = 8;

/// `dst += src`, element by element. The runs of a col2im are short (an output row, often under
/// 32 values), too short for the auto-vectoriser's unrolled loop to start, so the run is cut into
/// fixed-size chunks that each become vector adds, and only the last few go one at a time. (Built
/// for AVX-512 through `simd::vectorized` it measured slower: the loads of the column tile, not
/// the adds, bound it.)
#[inline]
fn add_run<T: Element>(dst: &mut [T], src: &[T]) {
    let mut d = dst.chunks_exact_mut(RUN_CHUNK);
    let mut s = src.chunks_exact(RUN_CHUNK);
    for (d, s) in (&mut d).zip(&mut s) {
        let d: &mut [T; RUN_CHUNK] = d.try_into().expect("chunk of RUN_CHUNK");
        let s: &[T; RUN_CHUNK] = s.try_into().expect("chunk of RUN_CHUNK");
        for (d, &s) in d.iter_mut().zip(s) {
            *d = *d + s;
        }
    }
    for (d, &s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *d + s;
    }
}

/// Checks that `input` is NCHW and `weight` OIHW with matching channels.
fn check_conv_shapes(op: &str, input: &[usize], weight: &[usize]) {
    assert!(
        input.len() == 4 && weight.len() == 4 && input[1] == weight[1],
        "{op}: input {input:?} (NCHW) and weight {weight:?} (OIHW) do not match"
    );
}

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

/// The convolution proper, `y = W im2col(x) + bias` for every image of `x`, written to `y`
/// (`[N, O, OH, OW]`, not read). Tasks of a few images run in parallel; each walks its columns
/// (the images' positions side by side) [`NR`] at a time, unfolds those columns into one
/// contiguous panel (`C*KH*KW` rows of `NR` values, the layout the micro-kernel streams), and
/// multiplies the panel by every row strip of the packed weights. The sums run in a fixed order:
/// the bits do not depend on the thread count.
fn packed_conv<T: Element>(
    u: &Unfold,
    w: &PackedLhs<T>,
    bias: Option<&[T]>,
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
    let task = |(t, y): (usize, &mut [MaybeUninit<T>])| {
        let images = y.len() / out_size;
        let x = &x[t * group * in_size..(t * group + images) * in_size];
        let columns = images * positions;
        let mut panel = vec![T::zero(); w.depth() * NR];
        let mut block = [[T::zero(); NR]; MR];
        for g0 in (0..columns).step_by(NR) {
            let g1 = columns.min(g0 + NR);
            if g1 - g0 < NR {
                panel.fill(T::zero());
            }
            for_each_image_run(positions, g0, g1, |i, p0, p1, at| {
                let x = &x[i * in_size..(i + 1) * in_size];
                u.fill(x, p0, p1, &mut panel[at..], NR);
            });
            for s in 0..w.strips() {
                multiply_strip(w, s, &panel, NR, &mut block);
                store_block(&block, s * MR, out_ch, positions, bias, (g0, g1), y);
            }
        }
    };
    y.par_chunks_mut(group * out_size)
        .enumerate()
        .for_each(task);
}

/// A stride-1 convolution whose im2col is implicit: with the image zero-padded (`hp x wp`
/// planes), the column matrix row for channel `c` and kernel tap `(ki, kj)` at "virtual" column
/// `q = oy * wp + ox` is the padded image at `c * hp * wp + ki * wp + kj + q`, so every row of
/// an [`NR`]-column block is `NR` consecutive values of the padded image, read in place (see
/// [`multiply_strip_rows`]). The `wp - ow` virtual columns at the end of each output row are
/// wasted work, computed and dropped; [`use_implicit`] takes this route only when they are few.
struct Implicit {
    /// Padded input height and width.
    hp: usize,
    wp: usize,
    /// Virtual columns per image, rounded up to whole [`NR`] blocks.
    columns: usize,
}

impl Implicit {
    fn new(u: &Unfold) -> Self {
        let (hp, wp) = (u.h + 2 * u.padding, u.w + 2 * u.padding);
        let columns = ((u.oh - 1) * wp + u.ow).next_multiple_of(NR);
        Implicit { hp, wp, columns }
    }

    /// Offsets of the column-matrix rows, `(c, ki, kj)` in weight order, in the padded image.
    fn rows(&self, u: &Unfold) -> RowOffsets {
        let plane = self.hp * self.wp;
        RowOffsets::new(
            (0..u.channels)
                .flat_map(|c| (0..u.kh).flat_map(move |ki| (0..u.kw).map(move |kj| (c, ki, kj))))
                .map(|(c, ki, kj)| c * plane + ki * self.wp + kj)
                .collect(),
        )
    }

    /// Copies image `x` into the interior of `padded` (whose border is zero and stays so).
    fn pad<T: Element>(&self, u: &Unfold, x: &[T], padded: &mut [T]) {
        let (p, plane) = (u.padding, self.hp * self.wp);
        for (c, src) in x.chunks_exact(u.h * u.w).enumerate() {
            for (y, row) in src.chunks_exact(u.w).enumerate() {
                padded[c * plane + (y + p) * self.wp + p..][..u.w].copy_from_slice(row);
            }
        }
    }
}

/// Most extra work [`Implicit`] may do, as a fraction of the useful work: one eighth.
fn use_implicit(u: &Unfold) -> bool {
    u.stride == 1 && 8 * Implicit::new(u).columns <= 9 * u.positions()
}

/// [`packed_conv`] by the implicit im2col of [`Implicit`]: images run in parallel; each is
/// copied into a zero-padded buffer, then every [`NR`]-column block of its virtual columns is
/// multiplied by every row strip of the packed weights straight from that buffer, and the
/// block's real columns are stored. The sums run in a fixed order, whatever the thread count.
fn implicit_conv<T: Element>(
    u: &Unfold,
    w: &PackedLhs<T>,
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [MaybeUninit<T>],
) {
    let (in_size, positions, out_ch) = (u.channels * u.h * u.w, u.positions(), w.rows());
    let out_size = out_ch * positions;
    if out_size == 0 {
        return;
    }
    let im = Implicit::new(u);
    let rows = im.rows(u);
    // Room for the last block's reads past the last plane, zeros.
    let padded_len = (rows.end() + im.columns - NR).max(u.channels * im.hp * im.wp);
    y.par_chunks_mut(out_size)
        .zip(x.par_chunks(in_size))
        .for_each_init(
            || vec![T::zero(); padded_len],
            |padded, (y, x)| {
                im.pad(u, x, padded);
                let mut block = [[T::zero(); NR]; MR];
                for q0 in (0..im.columns).step_by(NR) {
                    for s in 0..w.strips() {
                        multiply_strip_rows(w, s, &padded[q0..], &rows, &mut block);
                        store_virtual_block(&block, s * MR, out_ch, u, im.wp, q0, bias, y);
                    }
                }
            },
        );
}

/// Writes the real columns of a block of virtual columns `q0..q0 + NR` (see [`Implicit`]), rows
/// `o0..` (up to `out_ch`), into one image's output `y` (`[O, OH * OW]`), adding the bias.
#[allow(clippy::too_many_arguments)]
fn store_virtual_block<T: Element>(
    block: &Block<T>,
    o0: usize,
    out_ch: usize,
    u: &Unfold,
    wp: usize,
    q0: usize,
    bias: Option<&[T]>,
    y: &mut [MaybeUninit<T>],
) {
    let positions = u.positions();
    for (i, row) in block.iter().enumerate().take(out_ch - o0) {
        let o = o0 + i;
        let b = bias.map_or(T::zero(), |b| b[o]);
        let y = &mut y[o * positions..(o + 1) * positions];
        let mut q = q0;
        while q < q0 + NR {
            let (oy, ox) = (q / wp, q % wp);
            if oy >= u.oh {
                break;
            }
            let count = (wp - ox).min(q0 + NR - q);
            if ox < u.ow {
                let real = (u.ow - ox).min(count);
                let dst = &mut y[oy * u.ow + ox..][..real];
                for (d, &v) in dst.iter_mut().zip(&row[q - q0..]) {
                    d.write(v + b);
                }
            }
            q += count;
        }
    }
}

/// Writes rows `o0..` (up to `out_ch`) of an output block for columns `g0..g1` (the positions
/// of a group of images side by side) into `y` (`[images, O, positions]`), adding the bias.
fn store_block<T: Element>(
    block: &Block<T>,
    o0: usize,
    out_ch: usize,
    positions: usize,
    bias: Option<&[T]>,
    (g0, g1): (usize, usize),
    y: &mut [MaybeUninit<T>],
) {
    for (i, row) in block.iter().enumerate().take(out_ch - o0) {
        let o = o0 + i;
        let b = bias.map_or(T::zero(), |b| b[o]);
        for_each_image_run(positions, g0, g1, |img, p0, p1, at| {
            let dst = &mut y[(img * out_ch + o) * positions..][p0..p1];
            for (d, &v) in dst.iter_mut().zip(&row[at..]) {
                d.write(v + b);
            }
        });
    }
}

/// Shallowest column matrix (`C * KH * KW` rows) worth the packed route: below it the fixed
/// cost per output block outweighs the multiply, and `matrixmultiply` does better.
const MIN_PACKED_DEPTH: usize = 32;

/// True when the convolution `u` in element type `T` takes the packed route.
fn use_packed<T: Element>(u: &Unfold) -> bool {
    packed_gemm::available::<T>() && u.rows() >= MIN_PACKED_DEPTH
}

/// Fewest tasks a grad-input batch is cut into, whatever the thread count: a fixed share of the
/// batch, not one set by the thread count, so that the tiles (and with them the order in which
/// each input gradient is summed) are the same bits at any thread count.
const GRAD_INPUT_TASKS: usize = 16;

/// Copies the `[O, NR]` block of output-gradient columns `g0..g1` (positions of a task's images
/// side by side) into the contiguous `panel`, zeros past `g1`: the micro-kernel then streams it
/// without the cache-set conflicts of rows read in place a power of two apart.
fn gather_dy_panel<T: Element>(
    dy: &[T],
    out_ch: usize,
    positions: usize,
    (g0, g1): (usize, usize),
    panel: &mut [T],
) {
    for (o, row) in panel.chunks_exact_mut(NR).enumerate() {
        for_each_image_run(positions, g0, g1, |img, p0, p1, at| {
            row[at..at + p1 - p0]
                .copy_from_slice(&dy[(img * out_ch + o) * positions + p0..][..p1 - p0]);
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
fn packed_grad_input<T: Element>(u: &Unfold, wt: &PackedLhs<T>, dy: &[T], dx: &mut [T]) {
    let (in_size, positions, out_ch) = (u.channels * u.h * u.w, u.positions(), wt.depth());
    let out_size = out_ch * positions;
    if in_size == 0 || out_size == 0 {
        return;
    }
    let n = dx.len() / in_size;
    let group = images_per_task(n, positions, GRAD_INPUT_TASKS);
    let task = |(t, dx): (usize, &mut [T])| {
        let images = dx.len() / in_size;
        let dy = &dy[t * group * out_size..(t * group + images) * out_size];
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

/// Fewest input channels for which [`grad_input_as_conv`] fills its row strips well enough.
const MIN_CONV_GRAD_INPUT_CHANNELS: usize = 16;

/// The input gradient of a stride-1 convolution `u` with a square kernel is itself a
/// convolution: of the output gradient, padded by `K - 1 - padding`, with the weights flipped
/// in both spatial axes and their two channel axes swapped. No col2im, no scatter: each input
/// gradient is one sum, written once. Returns that convolution's geometry when it takes the
/// implicit-im2col route ([`use_implicit`]); `None` leaves the gradient to the routes below.
fn grad_input_as_conv<T: Element>(u: &Unfold, out_ch: usize) -> Option<Unfold> {
    if u.stride != 1
        || u.kh != u.kw
        || u.padding >= u.kh
        || u.channels < MIN_CONV_GRAD_INPUT_CHANNELS
    {
        return None;
    }
    let geom = Conv2dGeometry::new(1, u.kh - 1 - u.padding);
    let uf = Unfold::new(
        &[1, out_ch, u.oh, u.ow],
        &[u.channels, out_ch, u.kh, u.kw],
        geom,
    );
    (use_packed::<T>(&uf) && use_implicit(&uf)).then_some(uf)
}

/// Fewest input and output channels for the Winograd route: with fewer, its transforms cost
/// more than the multiplies it saves.
const MIN_WINOGRAD_CHANNELS: usize = 16;

/// The F(2x2, 3x3) shape of convolution `u` with `out_ch` output channels, when it takes the
/// Winograd route: a 3x3 kernel, stride 1, enough channels on both sides, and the packed
/// micro-kernel for `T`.
fn winograd_shape<T: Element>(u: &Unfold, out_ch: usize) -> Option<WinogradShape> {
    let fits = packed_gemm::available::<T>()
        && (u.kh, u.kw, u.stride) == (3, 3, 1)
        && u.padding <= 2
        && u.channels.min(out_ch) >= MIN_WINOGRAD_CHANNELS;
    fits.then_some(WinogradShape {
        channels: u.channels,
        h: u.h,
        w: u.w,
        out_ch,
        padding: u.padding,
    })
}

/// Fewest tiles (2x2 output blocks) per partial sum for the Winograd weight gradient: its
/// 16 products have the tiles as their inner dimension, and with fewer the partial sums
/// (16/9 the size of the weights) cost more to write than the products save (ResNet-18's
/// 512-channel 4x4 layer at batch 32 has 32).
const MIN_WINOGRAD_GRAD_WEIGHT_TILES: usize = 64;

/// The F(3x3, 2x2) shape of the weight gradient of convolution `u` over a batch of `n`, when
/// it takes the Winograd route: as [`winograd_shape`], with enough tiles per partial sum.
fn grad_weight_winograd_shape<T: Element>(
    u: &Unfold,
    out_ch: usize,
    n: usize,
) -> Option<WinogradShape> {
    winograd_shape::<T>(u, out_ch).filter(|shape| {
        n * shape.tile_count() >= winograd_grad::GROUPS * MIN_WINOGRAD_GRAD_WEIGHT_TILES
    })
}

/// The input gradient of a 3x3 stride-1 convolution `u` as a Winograd convolution of the
/// output gradient (padded by `2 - padding`) with the flipped weights (see
/// [`grad_input_as_conv`]), when that takes the Winograd route.
fn grad_input_winograd_shape<T: Element>(u: &Unfold, out_ch: usize) -> Option<WinogradShape> {
    if (u.kh, u.kw, u.stride) != (3, 3, 1) || u.padding > 2 {
        return None;
    }
    let uf = Unfold::new(
        &[1, out_ch, u.oh, u.ow],
        &[u.channels, out_ch, 3, 3],
        Conv2dGeometry::new(1, 2 - u.padding),
    );
    winograd_shape::<T>(&uf, u.channels)
}

/// The weights of the convolution that computes an input gradient (see
/// [`grad_input_as_conv`]): element `(c, o, ki, kj)` of the `[C, O, KH, KW]` result is
/// `w[o, c, KH - 1 - ki, KW - 1 - kj]`.
fn flipped_weights<T: Element>(u: &Unfold, w: &[T], out_ch: usize) -> Vec<T> {
    let taps = u.kh * u.kw;
    (0..u.channels * out_ch * taps)
        .map(|i| {
            let (c, o, tap) = (i / (out_ch * taps), i / taps % out_ch, i % taps);
            w[(o * u.channels + c) * taps + taps - 1 - tap]
        })
        .collect()
}

/// Fewest output channels (the inner dimension of `W^T dy`) worth the packed grad-input route.
const MIN_PACKED_GRAD_INPUT_DEPTH: usize = 16;

/// True when the input gradient of convolution `u` with `out_ch` output channels takes the
/// packed route (a 1x1 stride-1 unpadded kernel keeps its single GEMM per image).
fn use_packed_grad_input<T: Element>(u: &Unfold, out_ch: usize) -> bool {
    packed_gemm::available::<T>() && out_ch >= MIN_PACKED_GRAD_INPUT_DEPTH && !u.is_pointwise()
}

/// The convolution through `matrixmultiply`, for element types and CPUs the packed kernel does
/// not cover: per image, im2col tiles sized for L2, each multiplied by the weight matrix
/// `[O, C*KH*KW]` (a 1x1 stride-1 unpadded kernel needs no im2col: the image is the column
/// matrix). Images run in parallel, each with a single-threaded GEMM. `y` must be zeroed.
fn gemm_conv<T: Element>(u: &Unfold, w: &[T], bias: Option<&[T]>, x: &[T], y: &mut [T]) {
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
fn gemm_grad_input<T: Element>(u: &Unfold, w: &[T], out_ch: usize, dy_all: &[T], dx: &mut [T]) {
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

impl<T: Element> Tensor<T> {
    /// Cross-correlation of NCHW `self` with OIHW `weight`, plus an optional bias `[O]`, as
    /// `torch.nn.functional.conv2d`.
    pub fn conv2d(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        check_conv_shapes("conv2d", self.dims(), weight.dims());
        let mut operands = vec![
            (self.dims(), self.device()),
            (weight.dims(), weight.device()),
        ];
        operands.extend(bias.map(|b| (b.dims(), b.device())));
        let device = on_gpu::agree("conv2d", &operands);
        if device.is_gpu() {
            let (x, w) = (
                on_gpu::on("conv2d", self, device),
                on_gpu::on("conv2d", weight, device),
            );
            let b = bias.map(|b| on_gpu::on("conv2d", b, device));
            return on_gpu::done("conv2d", x.conv2d(&w, b.as_ref(), geom));
        }
        let out_ch = weight.dims()[0];
        if let Some(b) = bias {
            assert_eq!(
                b.dims(),
                &[out_ch],
                "conv2d: bias {:?} for {out_ch} output channels",
                b.shape()
            );
        }
        let u = Unfold::new(self.dims(), weight.dims(), geom);
        let n = self.dims()[0];
        let len = n * out_ch * u.positions();
        let bias = bias.map(|b| b.data());
        let out = if let Some(shape) = winograd_shape::<T>(&u, out_ch) {
            let weights = winograd_cache::transformed(weight, Orientation::Forward, || {
                WinogradWeights::new(weight.data(), out_ch, u.channels)
            });
            let mut out = Vec::with_capacity(len);
            winograd_conv(
                &shape,
                &weights,
                bias,
                self.data(),
                &mut out.spare_capacity_mut()[..len],
            );
            // SAFETY: `winograd_conv` wrote all `len` elements (every output of every image).
            unsafe { out.set_len(len) };
            out
        } else if use_packed::<T>(&u) {
            let packed = PackedLhs::new(weight.data(), out_ch, u.rows(), u.rows());
            let mut out = Vec::with_capacity(len);
            let y = &mut out.spare_capacity_mut()[..len];
            if use_implicit(&u) {
                implicit_conv(&u, &packed, bias, self.data(), y);
            } else {
                packed_conv(&u, &packed, bias, self.data(), y);
            }
            // SAFETY: `packed_conv` or `implicit_conv` wrote all `len` elements (every output of every image).
            unsafe { out.set_len(len) };
            out
        } else {
            let mut out = vec![T::zero(); len];
            gemm_conv(&u, weight.data(), bias, self.data(), &mut out);
            out
        };
        Tensor::from_vec(out, [n, out_ch, u.oh, u.ow])
    }

    /// Gradient of [`Tensor::conv2d`] with respect to its input: `self` is the output gradient
    /// `[N, O, OH, OW]`; returns `[N, C, H, W]` for `input_shape`.
    pub fn conv2d_grad_input(
        &self,
        weight: &Tensor<T>,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        check_conv_shapes("conv2d_grad_input", input_shape.dims(), weight.dims());
        counters::record(CountedOp::Conv2dGradInput);
        if let Some(out) = on_gpu::binary("conv2d_grad_input", self, weight, |g, w| {
            g.conv2d_grad_input(w, input_shape, geom)
        }) {
            return out;
        }
        let u = Unfold::new(input_shape.dims(), weight.dims(), geom);
        let (n, out_ch, rows) = (input_shape.dims()[0], weight.dims()[0], u.rows());
        assert_eq!(
            self.dims(),
            &[n, out_ch, u.oh, u.ow],
            "conv2d_grad_input: output gradient {:?} does not fit input {input_shape:?} and weight {:?}",
            self.shape(),
            weight.shape()
        );
        let len = n * u.channels * u.h * u.w;
        if let Some(shape) = grad_input_winograd_shape::<T>(&u, out_ch) {
            let weights = winograd_cache::transformed(weight, Orientation::InputGradient, || {
                let flipped = flipped_weights(&u, weight.data(), out_ch);
                WinogradWeights::new(&flipped, u.channels, out_ch)
            });
            let mut dx = Vec::with_capacity(len);
            winograd_conv(
                &shape,
                &weights,
                None,
                self.data(),
                &mut dx.spare_capacity_mut()[..len],
            );
            // SAFETY: `winograd_conv` wrote all `len` elements (every input gradient).
            unsafe { dx.set_len(len) };
            return Tensor::from_vec(dx, input_shape.clone());
        }
        if let Some(uf) = grad_input_as_conv::<T>(&u, out_ch) {
            let flipped = flipped_weights(&u, weight.data(), out_ch);
            let packed = PackedLhs::new(&flipped, u.channels, uf.rows(), uf.rows());
            let mut dx = Vec::with_capacity(len);
            implicit_conv(
                &uf,
                &packed,
                None,
                self.data(),
                &mut dx.spare_capacity_mut()[..len],
            );
            // SAFETY: `implicit_conv` wrote all `len` elements (every input gradient).
            unsafe { dx.set_len(len) };
            return Tensor::from_vec(dx, input_shape.clone());
        }
        let mut dx = vec![T::zero(); len];
        if use_packed_grad_input::<T>(&u, out_ch) {
            // W^T: element (r, o) of the [C*KH*KW, O] matrix is w[o * rows + r].
            let wt = PackedLhs::strided(weight.data(), rows, out_ch, (1, rows));
            packed_grad_input(&u, &wt, self.data(), &mut dx);
        } else {
            gemm_grad_input(&u, weight.data(), out_ch, self.data(), &mut dx);
        }
        Tensor::from_vec(dx, input_shape.clone())
    }

    /// Gradient of [`Tensor::conv2d`] with respect to its weight: `self` is the output gradient
    /// `[N, O, OH, OW]`; returns `weight_shape` (OIHW).
    pub fn conv2d_grad_weight(
        &self,
        input: &Tensor<T>,
        weight_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        check_conv_shapes("conv2d_grad_weight", input.dims(), weight_shape.dims());
        counters::record(CountedOp::Conv2dGradWeight);
        if let Some(out) = on_gpu::binary("conv2d_grad_weight", self, input, |g, x| {
            g.conv2d_grad_weight(x, weight_shape, geom)
        }) {
            return out;
        }
        let u = Unfold::new(input.dims(), weight_shape.dims(), geom);
        let (n, out_ch, rows, positions) = (
            input.dims()[0],
            weight_shape.dims()[0],
            u.rows(),
            u.positions(),
        );
        assert_eq!(
            self.dims(),
            &[n, out_ch, u.oh, u.ow],
            "conv2d_grad_weight: output gradient {:?} does not fit input {:?} and weight {weight_shape:?}",
            self.shape(),
            input.shape()
        );
        if let Some(shape) = grad_weight_winograd_shape::<T>(&u, out_ch, n) {
            let dw = winograd_grad_weight(&shape, input.data(), self.data());
            return Tensor::from_vec(dw, weight_shape.clone());
        }
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
        let chunk_cols = (chunk * positions).max(tile);
        let per_chunk =
            |dw: &mut Vec<T>, col: &mut Vec<T>, dyg: &mut Vec<T>, i0: usize, i1: usize| {
                let x = |i: usize| &input.data()[i * in_size..(i + 1) * in_size];
                let dy =
                    |i: usize| &self.data()[i * out_ch * positions..(i + 1) * out_ch * positions];
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
                        for (o, plane) in dy(i).chunks_exact(positions).enumerate() {
                            dyg[o * cols + j * positions..][..positions].copy_from_slice(plane);
                        }
                    }
                    gemm_strided(
                        (out_ch, cols, rows),
                        dyg,
                        (cols, 1),
                        col,
                        (1, cols),
                        T::one(),
                        dw,
                        rows,
                    );
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
        Tensor::from_vec(dw, weight_shape.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in `[-1, 1)` from a fixed sequence, so failures repeat.
    fn values(len: usize, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }

    /// The packed grad-input route (enough output channels for it) against the f64
    /// `matrixmultiply` route, over strides, paddings, non-square kernels, images with fewer
    /// positions than a column block and batches that do not split evenly into tasks.
    #[test]
    fn packed_grad_input_matches_gemm_route() {
        if !packed_gemm::available::<f32>() {
            return;
        }
        // (n, c, h, w, o, kh, kw, stride, padding)
        let cases = [
            (5, 3, 9, 11, 16, 3, 3, 1, 0),
            (7, 1, 28, 28, 32, 3, 3, 1, 0),
            (3, 4, 12, 12, 33, 3, 3, 1, 1),
            (9, 2, 4, 4, 20, 3, 3, 1, 1),
            (4, 3, 13, 10, 17, 2, 3, 2, 2),
            (3, 5, 8, 8, 24, 1, 1, 2, 0),
            (2, 40, 20, 20, 16, 3, 3, 1, 1),
        ];
        for (n, c, h, w, o, kh, kw, stride, padding) in cases {
            let geom = Conv2dGeometry::new(stride, padding);
            let (oh, ow) = geom.output_size(h, w, kh, kw);
            let wv = values(o * c * kh * kw, 1);
            let dyv = values(n * o * oh * ow, 2);
            let shape = Shape::from([n, c, h, w]);
            let got = Tensor::<f32>::from_f64s(&dyv, [n, o, oh, ow]).conv2d_grad_input(
                &Tensor::from_f64s(&wv, [o, c, kh, kw]),
                &shape,
                geom,
            );
            let want = Tensor::<f64>::from_f64s(&dyv, [n, o, oh, ow]).conv2d_grad_input(
                &Tensor::from_f64s(&wv, [o, c, kh, kw]),
                &shape,
                geom,
            );
            assert_eq!(got.dims(), want.dims());
            for (i, (g, e)) in got.to_f64_vec().iter().zip(want.to_f64_vec()).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "case {:?}: dx[{i}] = {g}, expected {e}",
                    (n, c, h, w, o, kh, kw, stride, padding)
                );
            }
        }
    }

    /// The implicit-im2col forward route (stride 1, few wasted columns) against the f64
    /// `matrixmultiply` route, with padding, bias, a non-square kernel and output channels that
    /// do not fill the last row strip.
    #[test]
    fn implicit_conv_matches_gemm_route() {
        if !packed_gemm::available::<f32>() {
            return;
        }
        // (n, c, h, w, o, kh, kw, padding)
        let cases = [
            (3, 5, 20, 20, 13, 3, 3, 1),
            (2, 4, 26, 26, 32, 3, 3, 0),
            (2, 6, 20, 40, 9, 2, 3, 0),
        ];
        for (n, c, h, w, o, kh, kw, padding) in cases {
            let geom = Conv2dGeometry::new(1, padding);
            let u = Unfold::new(&[n, c, h, w], &[o, c, kh, kw], geom);
            assert!(use_implicit(&u) && use_packed::<f32>(&u));
            let (xv, wv, bv) = (
                values(n * c * h * w, 5),
                values(o * c * kh * kw, 6),
                values(o, 7),
            );
            let run = |x: Tensor<f64>, wt: Tensor<f64>, b: Tensor<f64>| {
                x.conv2d(&wt, Some(&b), geom).to_f64_vec()
            };
            let want = run(
                Tensor::from_f64s(&xv, [n, c, h, w]),
                Tensor::from_f64s(&wv, [o, c, kh, kw]),
                Tensor::from_f64s(&bv, [o]),
            );
            let got = Tensor::<f32>::from_f64s(&xv, [n, c, h, w])
                .conv2d(
                    &Tensor::from_f64s(&wv, [o, c, kh, kw]),
                    Some(&Tensor::from_f64s(&bv, [o])),
                    geom,
                )
                .to_f64_vec();
            assert_eq!(got.len(), want.len());
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "case {:?}: y[{i}] = {g}, expected {e}",
                    (n, c, h, w, o, kh, kw, padding)
                );
            }
        }
    }

    /// The Winograd route (3x3, stride 1, 16 or more channels each side), forward, input
    /// gradient and weight gradient, against the f64 `matrixmultiply` route: paddings 0 to 2, odd outputs (a partial
    /// last tile), channel counts off the strip size, one image and batches that split unevenly.
    #[test]
    fn winograd_matches_gemm_route() {
        if !packed_gemm::available::<f32>() {
            return;
        }
        // (n, c, h, w, o, padding)
        let cases = [
            (5, 16, 24, 19, 17, 1),
            (3, 16, 9, 11, 17, 1),
            (2, 20, 8, 8, 16, 0),
            (1, 17, 5, 7, 24, 2),
            (5, 32, 4, 4, 40, 1),
            (2, 16, 13, 6, 19, 1),
        ];
        for (n, c, h, w, o, padding) in cases {
            let geom = Conv2dGeometry::new(1, padding);
            let u = Unfold::new(&[n, c, h, w], &[o, c, 3, 3], geom);
            assert!(winograd_shape::<f32>(&u, o).is_some());
            assert!(grad_input_winograd_shape::<f32>(&u, o).is_some());
            // Only the first case has the tiles for the Winograd weight gradient.
            assert_eq!(
                grad_weight_winograd_shape::<f32>(&u, o, n).is_some(),
                (n, c, h, w) == (5, 16, 24, 19)
            );
            let (xv, wv, bv) = (
                values(n * c * h * w, 8),
                values(o * c * 9, 9),
                values(o, 10),
            );
            let dyv = values(n * o * u.oh * u.ow, 11);
            let close = |got: Vec<f64>, want: Vec<f64>, what: &str| {
                assert_eq!(got.len(), want.len());
                for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                        "case {:?}: {what}[{i}] = {g}, expected {e}",
                        (n, c, h, w, o, padding)
                    );
                }
            };
            let forward = |x: &[f64], wt: &[f64], b: &[f64], f32s: bool| {
                if f32s {
                    Tensor::<f32>::from_f64s(x, [n, c, h, w])
                        .conv2d(
                            &Tensor::from_f64s(wt, [o, c, 3, 3]),
                            Some(&Tensor::from_f64s(b, [o])),
                            geom,
                        )
                        .to_f64_vec()
                } else {
                    Tensor::<f64>::from_f64s(x, [n, c, h, w])
                        .conv2d(
                            &Tensor::from_f64s(wt, [o, c, 3, 3]),
                            Some(&Tensor::from_f64s(b, [o])),
                            geom,
                        )
                        .to_f64_vec()
                }
            };
            close(
                forward(&xv, &wv, &bv, true),
                forward(&xv, &wv, &bv, false),
                "y",
            );
            let shape = Shape::from([n, c, h, w]);
            let got = Tensor::<f32>::from_f64s(&dyv, [n, o, u.oh, u.ow])
                .conv2d_grad_input(&Tensor::from_f64s(&wv, [o, c, 3, 3]), &shape, geom)
                .to_f64_vec();
            let want = Tensor::<f64>::from_f64s(&dyv, [n, o, u.oh, u.ow])
                .conv2d_grad_input(&Tensor::from_f64s(&wv, [o, c, 3, 3]), &shape, geom)
                .to_f64_vec();
            close(got, want, "dx");
            let weight_shape = Shape::from([o, c, 3, 3]);
            let got = Tensor::<f32>::from_f64s(&dyv, [n, o, u.oh, u.ow])
                .conv2d_grad_weight(&Tensor::from_f64s(&xv, [n, c, h, w]), &weight_shape, geom)
                .to_f64_vec();
            let want = Tensor::<f64>::from_f64s(&dyv, [n, o, u.oh, u.ow])
                .conv2d_grad_weight(&Tensor::from_f64s(&xv, [n, c, h, w]), &weight_shape, geom)
                .to_f64_vec();
            close(got, want, "dw");
        }
    }

    /// The packed grad-input route gives the same bits on one thread as on several.
    #[test]
    fn packed_grad_input_bits_do_not_depend_on_threads() {
        let (n, c, h, w, o) = (11, 8, 12, 12, 32);
        let geom = Conv2dGeometry::new(1, 1);
        let weight = Tensor::<f32>::from_f64s(&values(o * c * 9, 3), [o, c, 3, 3]);
        let dy = Tensor::<f32>::from_f64s(&values(n * o * h * w, 4), [n, o, h, w]);
        let shape = Shape::from([n, c, h, w]);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| dy.conv2d_grad_input(&weight, &shape, geom))
                .to_f64_vec()
        };
        assert_eq!(run(1), run(3));
    }
}
