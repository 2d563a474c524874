//! The column matrix of one image (im2col) and its adjoint (col2im): which input pixel each of its
//! `C*KH*KW` rows reads at each output position, written out tile by tile or added back.

use crate::element::Element;
use crate::ops::packed_gemm::NR;
use crate::simd;
use std::ops::Range;
use tensor_spec::Conv2dGeometry;

/// Bytes of im2col tile to aim for: comfortably inside a 1 MiB L2 together with the GEMM's panels.
const TILE_BYTES: usize = 256 * 1024;

/// Everything the unfolding of one image needs.
#[derive(Clone, Copy)]
pub(super) struct Unfold {
    pub(super) channels: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) stride: usize,
    pub(super) padding: usize,
}

impl Unfold {
    pub(super) fn new(input: &[usize], weight: &[usize], geom: Conv2dGeometry) -> Self {
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
    pub(super) fn rows(&self) -> usize {
        self.channels * self.kh * self.kw
    }

    /// Output positions per image: OH * OW.
    pub(super) fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// True when the image itself is the column matrix.
    pub(super) fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.padding == 0
    }

    /// Output positions per tile, a multiple of [`NR`] (the GEMMs' column block).
    pub(super) fn tile(&self, elem_bytes: usize) -> usize {
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
    pub(super) fn fill<T: Element>(&self, x: &[T], p0: usize, p1: usize, col: &mut [T], ld: usize) {
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
                            } else if s == 2 {
                                simd::copy_every_other(dst, src);
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
    pub(super) fn scatter_add<T: Element>(
        &self,
        col: &[T],
        ld: usize,
        p0: usize,
        p1: usize,
        dx: &mut [T],
    ) {
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
