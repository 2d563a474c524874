//! The transformed weights `U = G g G^T` of every 3x3 kernel, packed for the micro-kernel.

use super::shape::Tile;
use crate::element::Element;
use crate::ops::packed_gemm::{MR, PackedLhs};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The transformed weight matrices `U[ξ]` (`[O, C]` each, one for each of the tile's points),
/// packed for the micro-kernel.
pub struct WinogradWeights<T> {
    /// The tile they were transformed for.
    pub(super) tile: Tile,
    /// `U[ξ]` for each point `ξ`.
    pub(super) points: Vec<PackedLhs<T>>,
}

impl<T: Element> WinogradWeights<T> {
    /// The tile the weights were transformed for.
    pub fn tile(&self) -> Tile {
        self.tile
    }

    /// Transforms OIHW 3x3 weights `[out_ch, channels, 3, 3]` for the convolution itself with
    /// tiles `tile`: row `o`, column `c` of every `U[ξ]` from kernel `(o, c)`.
    pub fn new(weight: &[T], out_ch: usize, channels: usize, tile: Tile) -> Self {
        check_len(weight, out_ch, channels);
        Self::from_kernels(tile, out_ch, channels, |o, c| {
            weight[(o * channels + c) * 9..][..9]
                .try_into()
                .expect("3x3 kernel")
        })
    }

    /// Transforms OIHW 3x3 weights `[out_ch, channels, 3, 3]` for the convolution's input
    /// gradient, a convolution of the output gradient by the flipped kernels with the channels
    /// swapped: row `c`, column `o` of every `U[ξ]` from kernel `(o, c)` rotated by 180
    /// degrees.
    pub fn flipped(weight: &[T], out_ch: usize, channels: usize, tile: Tile) -> Self {
        check_len(weight, out_ch, channels);
        Self::from_kernels(tile, channels, out_ch, |c, o| {
            let mut g: [T; 9] = weight[(o * channels + c) * 9..][..9]
                .try_into()
                .expect("3x3 kernel");
            g.reverse();
            g
        })
    }

    /// Transforms OIHW 3x3 weights `[out_ch, channels, 3, 3]` for the input gradient over the
    /// forward pass's own tiles ([`super::winograd_grad_input`]): the forward transform
    /// transposed, row `c`, column `o` of every `U[ξ]` from kernel `(o, c)` as it is.
    pub fn transposed(weight: &[T], out_ch: usize, channels: usize, tile: Tile) -> Self {
        check_len(weight, out_ch, channels);
        Self::from_kernels(tile, channels, out_ch, |c, o| {
            weight[(o * channels + c) * 9..][..9]
                .try_into()
                .expect("3x3 kernel")
        })
    }

    /// `U[ξ]` (`[rows, depth]` each) with row `r`, column `k` from the 3x3 kernel
    /// `kernel(r, k)`, written straight in the micro-kernel's strip layout. Strips run in
    /// parallel; within one, the columns are the outer loop and a column's [`MR`] kernels are
    /// transformed together (one lane each), so that each matrix is written in order, a strip
    /// column at a time, and the kernels read together are neighbours in memory for
    /// [`WinogradWeights::flipped`].
    fn from_kernels(
        tile: Tile,
        rows: usize,
        depth: usize,
        kernel: impl Fn(usize, usize) -> [T; 9] + Sync,
    ) -> Self {
        let (strips, strip_len) = (rows.div_ceil(MR), MR * depth);
        let len = strips * strip_len;
        // Written once each, below: no zeros first (16.8 MB for a 512-channel layer).
        let mut points: Vec<Vec<T>> = (0..tile.points())
            .map(|_| Vec::with_capacity(len))
            .collect();
        // For each strip, its slice of every one of the matrices.
        let mut per_strip: Vec<Vec<&mut [MaybeUninit<T>]>> =
            (0..strips).map(|_| Vec::new()).collect();
        for point in &mut points {
            let chunks = point.spare_capacity_mut()[..len].chunks_exact_mut(strip_len);
            for (s, strip) in chunks.enumerate() {
                per_strip[s].push(strip);
            }
        }
        per_strip
            .into_par_iter()
            .enumerate()
            .for_each(|(s, mut strip)| {
                let strip_rows = MR.min(rows - s * MR);
                for k in 0..depth {
                    // Tap `t` of the strip's kernels in column `k`, zero past the last row.
                    let mut g = [[T::zero(); MR]; 9];
                    for i in 0..strip_rows {
                        for (tap, &value) in g.iter_mut().zip(&kernel(s * MR + i, k)) {
                            tap[i] = value;
                        }
                    }
                    match tile {
                        Tile::Two => write_column(&mut strip, k, &transform_kernels(&g)),
                        Tile::Four => write_column(&mut strip, k, &transform_kernels_f4(&g)),
                    }
                }
            });
        let points = points
            .into_iter()
            .map(|mut data| {
                // SAFETY: every strip wrote all `MR` values of each of its `depth` columns in
                // every matrix (`write_column`), so all `len` values are initialised.
                unsafe { data.set_len(len) };
                PackedLhs::from_packed(data, rows, depth)
            })
            .collect();
        WinogradWeights { tile, points }
    }
}

/// Column `k` of one strip in every matrix: `u[ξ]` (the strip's [`MR`] kernels' values at
/// point `ξ`) into `strip[ξ]`.
#[inline]
fn write_column<T: Element>(strip: &mut [&mut [MaybeUninit<T>]], k: usize, u: &[[T; MR]]) {
    for (point, u) in strip.iter_mut().zip(u) {
        for (dst, &value) in point[k * MR..][..MR].iter_mut().zip(u) {
            dst.write(value);
        }
    }
}

/// Panics unless `weight` holds `[out_ch, channels, 3, 3]` values.
fn check_len<T>(weight: &[T], out_ch: usize, channels: usize) {
    assert_eq!(
        weight.len(),
        out_ch * channels * 9,
        "winograd: weight of {} values for [{out_ch}, {channels}, 3, 3]",
        weight.len()
    );
}

/// `U = G g G^T` for [`MR`] 3x3 kernels at once, lane `i` of each value the kernel `i`:
/// `g[t]` holds tap `t` (row-major) of each, the result the 16 values of the 4x4 transforms
/// (row-major), with `G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]`.
#[inline]
fn transform_kernels<T: Element>(g: &[[T; MR]; 9]) -> [[T; MR]; 16] {
    let half = T::from_f64_lossy(0.5);
    // G times a row or column of three, lane by lane.
    let expand = |a: &[T; MR], b: &[T; MR], c: &[T; MR]| {
        let mut out = [[T::zero(); MR]; 4];
        for i in 0..MR {
            out[0][i] = a[i];
            out[1][i] = (a[i] + b[i] + c[i]) * half;
            out[2][i] = (a[i] - b[i] + c[i]) * half;
            out[3][i] = c[i];
        }
        out
    };
    // gg[j][i] = (G g)[i][j]: G down each column of g.
    let gg = [
        expand(&g[0], &g[3], &g[6]),
        expand(&g[1], &g[4], &g[7]),
        expand(&g[2], &g[5], &g[8]),
    ];
    let mut u = [[T::zero(); MR]; 16];
    for (i, row) in u.chunks_exact_mut(4).enumerate() {
        row.copy_from_slice(&expand(&gg[0][i], &gg[1][i], &gg[2][i]));
    }
    u
}

/// `U = G g G^T` of F(4x4, 3x3) for [`MR`] 3x3 kernels at once (laid out as in
/// [`transform_kernels`]), the 36 values of the 6x6 transforms row-major, worked out in `f64`
/// and rounded once, with `G = [[1/4, 0, 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6],
/// [1/24, 1/12, 1/6], [1/24, -1/12, 1/6], [0, 0, 1]]`.
#[inline]
fn transform_kernels_f4<T: Element>(g: &[[T; MR]; 9]) -> [[T; MR]; 36] {
    let g: [[f64; MR]; 9] = g.map(|taps| taps.map(|t| t.to_f64().expect("a float")));
    // G times a row or column of three, lane by lane.
    let expand = |a: &[f64; MR], b: &[f64; MR], c: &[f64; MR]| {
        let mut out = [[0.0; MR]; 6];
        for i in 0..MR {
            let (a, b, c) = (a[i], b[i], c[i]);
            out[0][i] = a / 4.0;
            out[1][i] = -(a + b + c) / 6.0;
            out[2][i] = -(a - b + c) / 6.0;
            out[3][i] = a / 24.0 + b / 12.0 + c / 6.0;
            out[4][i] = a / 24.0 - b / 12.0 + c / 6.0;
            out[5][i] = c;
        }
        out
    };
    // gg[j][i] = (G g)[i][j]: G down each column of g.
    let gg = [
        expand(&g[0], &g[3], &g[6]),
        expand(&g[1], &g[4], &g[7]),
        expand(&g[2], &g[5], &g[8]),
    ];
    let mut u = [[T::zero(); MR]; 36];
    for (i, row) in u.chunks_exact_mut(6).enumerate() {
        let values = expand(&gg[0][i], &gg[1][i], &gg[2][i]);
        for (lanes, values) in row.iter_mut().zip(values) {
            *lanes = values.map(T::from_f64_lossy);
        }
    }
    u
}
