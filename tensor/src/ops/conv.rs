//! 2-D convolution (NCHW input, OIHW weights) and its two gradient ops, by tiled im2col + GEMM.
//!
//! For each image, the output positions are cut into column tiles sized so the im2col tile stays
//! in L2; each tile is unfolded and multiplied by the weight matrix `[O, C*KH*KW]`. A 1x1 kernel
//! with stride 1 and no padding skips im2col: the image is already the column matrix. Images run
//! in parallel, each with a single-threaded GEMM.

use crate::counters::{self, CountedOp};
use crate::element::Element;
use crate::ops::matmul::gemm_strided;
use crate::ops::on_gpu;
use crate::ops::packed_gemm::{self, Block, MR, NR, PackedLhs, multiply_strip, multiply_strip_to};
use crate::shape::Shape;
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Partial sums of the weight gradient, each over a fixed share of the batch: enough to keep
/// every core busy, few enough to stay small in memory.
const GRAD_WEIGHT_GROUPS: usize = 8;

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

    /// Calls `f(oy, first_ox, count, offset_in_tile)` for each run of output positions in
    /// `p0..p1` that share an output row.
    fn for_each_run(&self, p0: usize, p1: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
        let mut p = p0;
        while p < p1 {
            let (oy, ox0) = (p / self.ow, p % self.ow);
            let count = (self.ow - ox0).min(p1 - p);
            f(oy, ox0, count, p - p0);
            p += count;
        }
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

    /// Writes the column-matrix tile for positions `p0..p1` of image `x` into `col`: row `r`
    /// of the tile goes to `col[r * ld..r * ld + p1 - p0]`, zeros where the kernel hangs over
    /// the padding. `ld` is `p1 - p0` for a plain row-major tile, or a packed strip's width.
    fn fill<T: Element>(&self, x: &[T], p0: usize, p1: usize, col: &mut [T], ld: usize) {
        let len = p1 - p0;
        let s = self.stride;
        for c in 0..self.channels {
            let plane = &x[c * self.h * self.w..(c + 1) * self.h * self.w];
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let r = (c * self.kh + ki) * self.kw + kj;
                    let dst = &mut col[r * ld..r * ld + len];
                    let (lo, hi) = self.valid_columns(kj);
                    self.for_each_run(p0, p1, |oy, ox0, count, at| {
                        let out = &mut dst[at..at + count];
                        let Some(iy) = self.input_y(oy, ki) else {
                            out.fill(T::zero());
                            return;
                        };
                        let row = &plane[iy * self.w..(iy + 1) * self.w];
                        let (a, b) = (lo.clamp(ox0, ox0 + count), hi.clamp(ox0, ox0 + count));
                        out[..a - ox0].fill(T::zero());
                        out[b - ox0..].fill(T::zero());
                        let inside = &mut out[a - ox0..b - ox0];
                        if a < b {
                            let first = a * s + kj - self.padding;
                            if s == 1 {
                                inside.copy_from_slice(&row[first..first + inside.len()]);
                            } else {
                                for (i, o) in inside.iter_mut().enumerate() {
                                    *o = row[first + i * s];
                                }
                            }
                        }
                    });
                }
            }
        }
    }

    /// Adds the column-matrix tile `col` for positions `p0..p1` back into image gradient `dx`
    /// (the adjoint of [`Unfold::fill`]): row `r` of the tile is `col[r * ld..r * ld + p1 - p0]`.
    fn scatter_add<T: Element>(&self, col: &[T], ld: usize, p0: usize, p1: usize, dx: &mut [T]) {
        let len = p1 - p0;
        let s = self.stride;
        for c in 0..self.channels {
            let plane = &mut dx[c * self.h * self.w..(c + 1) * self.h * self.w];
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let r = (c * self.kh + ki) * self.kw + kj;
                    let src = &col[r * ld..r * ld + len];
                    let (lo, hi) = self.valid_columns(kj);
                    self.for_each_run(p0, p1, |oy, ox0, count, at| {
                        let Some(iy) = self.input_y(oy, ki) else {
                            return;
                        };
                        let (a, b) = (lo.clamp(ox0, ox0 + count), hi.clamp(ox0, ox0 + count));
                        if a >= b {
                            return;
                        }
                        let row = &mut plane[iy * self.w..(iy + 1) * self.w];
                        let first = a * s + kj - self.padding;
                        let values = &src[at + a - ox0..at + b - ox0];
                        if s == 1 {
                            add_run(&mut row[first..first + values.len()], values);
                        } else {
                            for (i, &v) in values.iter().enumerate() {
                                row[first + i * s] = row[first + i * s] + v;
                            }
                        }
                    });
                }
            }
        }
    }
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
/// few enough that every thread gets work.
fn images_per_task(n: usize, positions: usize) -> usize {
    let least = (4 * NR).div_ceil(positions.max(1));
    let most = n.div_ceil(2 * rayon::current_num_threads()).max(1);
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
/// (`[N, O, OH, OW]`, not read). Tasks of a few images run in parallel; each unfolds its
/// columns (the images' positions side by side) into L2-sized tiles, a whole number of [`NR`]
/// wide, and multiplies each `NR`-column block of a tile by every row strip of the packed
/// weights. The sums run in a fixed order: the bits do not depend on the thread count.
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
    let group = images_per_task(n, positions);
    let task = |(t, y): (usize, &mut [MaybeUninit<T>])| {
        let images = y.len() / out_size;
        let x = &x[t * group * in_size..(t * group + images) * in_size];
        let columns = images * positions;
        let width = u.tile(size_of::<T>()).min(columns.next_multiple_of(NR));
        let mut tile = vec![T::zero(); w.depth() * width];
        let mut block = [[T::zero(); NR]; MR];
        for t0 in (0..columns).step_by(width) {
            let t1 = columns.min(t0 + width);
            if t1 - t0 < width {
                tile.fill(T::zero());
            }
            for_each_image_run(positions, t0, t1, |i, p0, p1, at| {
                u.fill(
                    &x[i * in_size..(i + 1) * in_size],
                    p0,
                    p1,
                    &mut tile[at..],
                    width,
                );
            });
            for g0 in (t0..t1).step_by(NR) {
                let g1 = t1.min(g0 + NR);
                for s in 0..w.strips() {
                    multiply_strip(w, s, &tile[g0 - t0..], width, &mut block);
                    store_block(&block, s * MR, out_ch, positions, bias, (g0, g1), y);
                }
            }
        }
    };
    y.par_chunks_mut(group * out_size)
        .enumerate()
        .for_each(task);
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

/// Images one grad-input task runs through together: as [`images_per_task`], but capped by a
/// fixed share of the batch instead of the thread count, so that the tiles (and with them the
/// order in which each input gradient is summed) are the same bits at any thread count.
fn grad_input_images_per_task(n: usize, positions: usize) -> usize {
    let least = (4 * NR).div_ceil(positions.max(1));
    let most = n.div_ceil(GRAD_INPUT_TASKS).max(1);
    let padded = |g: usize| (g * positions).next_multiple_of(NR) as f64 / (g * positions) as f64;
    (least..=2 * least)
        .map(|g| g.min(most).min(n).max(1))
        .min_by(|&a, &b| padded(a).total_cmp(&padded(b)).then(a.cmp(&b)))
        .unwrap_or(1)
}

/// Fewest tasks a grad-input batch is cut into, whatever the thread count (see
/// [`grad_input_images_per_task`]).
const GRAD_INPUT_TASKS: usize = 16;

/// The `[O, NR]` block of output-gradient columns `g0..g1` (positions of a task's images side
/// by side) as the micro-kernel reads it: in place, `positions` apart, when the block lies inside
/// one image's planes; otherwise gathered into `gathered`, zeros past `g1`.
fn dy_block<'a, T: Element>(
    dy: &'a [T],
    out_ch: usize,
    positions: usize,
    (g0, g1): (usize, usize),
    gathered: &'a mut [T],
) -> (&'a [T], usize) {
    let (image, p0) = (g0 / positions, g0 % positions);
    if p0 + NR <= positions {
        return (&dy[image * out_ch * positions + p0..], positions);
    }
    for (o, row) in gathered.chunks_exact_mut(NR).enumerate() {
        for_each_image_run(positions, g0, g1, |img, p0, p1, at| {
            row[at..at + p1 - p0]
                .copy_from_slice(&dy[(img * out_ch + o) * positions + p0..][..p1 - p0]);
        });
        row[g1 - g0..].fill(T::zero());
    }
    (gathered, NR)
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
    let group = grad_input_images_per_task(n, positions);
    let task = |(t, dx): (usize, &mut [T])| {
        let images = dx.len() / in_size;
        let dy = &dy[t * group * out_size..(t * group + images) * out_size];
        let columns = images * positions;
        let width = u.tile(size_of::<T>()).min(columns.next_multiple_of(NR));
        let mut col = vec![T::zero(); wt.strips() * MR * width];
        let mut gathered = vec![T::zero(); out_ch * NR];
        for t0 in (0..columns).step_by(width) {
            let t1 = columns.min(t0 + width);
            for g0 in (t0..t1).step_by(NR) {
                let g1 = t1.min(g0 + NR);
                let (b, ldb) = dy_block(dy, out_ch, positions, (g0, g1), &mut gathered);
                for s in 0..wt.strips() {
                    let c = &mut col[s * MR * width + g0 - t0..];
                    multiply_strip_to(wt, s, b, ldb, c, width);
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
        let out = if use_packed::<T>(&u) {
            let packed = PackedLhs::new(weight.data(), out_ch, u.rows(), u.rows());
            let mut out = Vec::with_capacity(len);
            packed_conv(
                &u,
                &packed,
                bias,
                self.data(),
                &mut out.spare_capacity_mut()[..len],
            );
            // SAFETY: `packed_conv` wrote all `len` elements (every output of every image).
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
        let mut dx = vec![T::zero(); n * u.channels * u.h * u.w];
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
        let in_size = u.channels * u.h * u.w;
        let tile = u.tile(size_of::<T>());
        let per_image = |dw: &mut Vec<T>, col: &mut Vec<T>, i: usize| {
            let x = &input.data()[i * in_size..(i + 1) * in_size];
            let dy = &self.data()[i * out_ch * positions..(i + 1) * out_ch * positions];
            if u.is_pointwise() {
                // dW [O, C] += dy [O, HW] x x^T [HW, C]
                gemm_strided(
                    (out_ch, positions, rows),
                    dy,
                    (positions, 1),
                    x,
                    (1, positions),
                    T::one(),
                    dw,
                    rows,
                );
            } else {
                for p0 in (0..positions).step_by(tile) {
                    let p1 = (p0 + tile).min(positions);
                    let len = p1 - p0;
                    let col = &mut col[..rows * len];
                    u.fill(x, p0, p1, col, len);
                    gemm_strided(
                        (out_ch, len, rows),
                        &dy[p0..],
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
        // sums its images in order, and the groups' sums are added in order: the result is the
        // same bits on every run (a work-stealing reduce would not be).
        let size = out_ch * rows;
        let group = n.div_ceil(GRAD_WEIGHT_GROUPS).max(1);
        let partials: Vec<Vec<T>> = (0..n.div_ceil(group))
            .into_par_iter()
            .map(|g| {
                let mut dw = vec![T::zero(); size];
                let mut col = vec![T::zero(); rows * tile];
                (g * group..((g + 1) * group).min(n)).for_each(|i| per_image(&mut dw, &mut col, i));
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
