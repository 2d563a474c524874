//! 2-D convolution (NCHW input, OIHW weights) and its two gradient ops, by tiled im2col + GEMM.
//!
//! For each image, the output positions are cut into column tiles sized so the im2col tile stays
//! in L2; each tile is unfolded and multiplied by the weight matrix `[O, C*KH*KW]`. A 1x1 kernel
//! with stride 1 and no padding skips im2col: the image is already the column matrix. Images run
//! in parallel, each with a single-threaded GEMM.

use crate::counters::{self, CountedOp};
use crate::element::Element;
use crate::ops::matmul::gemm_strided;
use crate::shape::Shape;
use crate::tensor::Tensor;
use rayon::prelude::*;

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

    /// Output positions per tile, a multiple of 16 (the GEMM's column block).
    fn tile(&self, elem_bytes: usize) -> usize {
        let cols = TILE_BYTES / (self.rows() * elem_bytes).max(1);
        cols.next_multiple_of(16)
            .clamp(16, self.positions().max(16))
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

    /// Writes the column-matrix tile for positions `p0..p1` of image `x` into `col`
    /// (`[rows, p1 - p0]`, row-major), zeros where the kernel hangs over the padding.
    fn fill<T: Element>(&self, x: &[T], p0: usize, p1: usize, col: &mut [T]) {
        let len = p1 - p0;
        let s = self.stride;
        for c in 0..self.channels {
            let plane = &x[c * self.h * self.w..(c + 1) * self.h * self.w];
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let r = (c * self.kh + ki) * self.kw + kj;
                    let dst = &mut col[r * len..(r + 1) * len];
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
    /// (the adjoint of [`Unfold::fill`]).
    fn scatter_add<T: Element>(&self, col: &[T], p0: usize, p1: usize, dx: &mut [T]) {
        let len = p1 - p0;
        let s = self.stride;
        for c in 0..self.channels {
            let plane = &mut dx[c * self.h * self.w..(c + 1) * self.h * self.w];
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let r = (c * self.kh + ki) * self.kw + kj;
                    let src = &col[r * len..(r + 1) * len];
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
                            for (d, &v) in row[first..first + values.len()].iter_mut().zip(values) {
                                *d = *d + v;
                            }
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

/// Checks that `input` is NCHW and `weight` OIHW with matching channels.
fn check_conv_shapes(op: &str, input: &[usize], weight: &[usize]) {
    assert!(
        input.len() == 4 && weight.len() == 4 && input[1] == weight[1],
        "{op}: input {input:?} (NCHW) and weight {weight:?} (OIHW) do not match"
    );
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
        let (n, rows, positions) = (self.dims()[0], u.rows(), u.positions());
        let in_size = u.channels * u.h * u.w;
        let tile = u.tile(size_of::<T>());
        let w = weight.data();
        let mut out = vec![T::zero(); n * out_ch * positions];
        out.par_chunks_mut((out_ch * positions).max(1))
            .enumerate()
            .for_each(|(i, y)| {
                let x = &self.data()[i * in_size..(i + 1) * in_size];
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
                        u.fill(x, p0, p1, &mut col[..rows * len]);
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
                    for (plane, &bv) in y.chunks_mut(positions).zip(b.data()) {
                        plane.iter_mut().for_each(|v| *v = *v + bv);
                    }
                }
            });
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
        let u = Unfold::new(input_shape.dims(), weight.dims(), geom);
        let (n, out_ch, rows, positions) = (
            input_shape.dims()[0],
            weight.dims()[0],
            u.rows(),
            u.positions(),
        );
        assert_eq!(
            self.dims(),
            &[n, out_ch, u.oh, u.ow],
            "conv2d_grad_input: output gradient {:?} does not fit input {input_shape:?} and weight {:?}",
            self.shape(),
            weight.shape()
        );
        let in_size = u.channels * u.h * u.w;
        let tile = u.tile(size_of::<T>());
        let w = weight.data();
        let mut dx = vec![T::zero(); n * in_size];
        dx.par_chunks_mut(in_size.max(1))
            .enumerate()
            .for_each(|(i, dxi)| {
                let dy = &self.data()[i * out_ch * positions..(i + 1) * out_ch * positions];
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
                        u.scatter_add(col, p0, p1, dxi);
                    }
                }
            });
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
                    u.fill(x, p0, p1, col);
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
