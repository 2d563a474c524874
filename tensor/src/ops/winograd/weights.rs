//! The transformed weights `U = G g G^T` of every 3x3 kernel, packed for the micro-kernel.

use super::shape::POINTS;
use crate::element::Element;
use crate::ops::packed_gemm::{MR, PackedLhs};
use rayon::prelude::*;

/// The 16 transformed weight matrices `U[ξ]` (`[O, C]` each), packed for the micro-kernel.
pub struct WinogradWeights<T> {
    /// `U[ξ]` for each point `ξ`.
    pub(super) points: Vec<PackedLhs<T>>,
}

impl<T: Element> WinogradWeights<T> {
    /// Transforms OIHW 3x3 weights `[out_ch, channels, 3, 3]` (`transform_kernel` on each),
    /// writing each `U[ξ]` straight in the micro-kernel's strip layout; strips run in parallel.
    pub fn new(weight: &[T], out_ch: usize, channels: usize) -> Self {
        assert_eq!(
            weight.len(),
            out_ch * channels * 9,
            "winograd: weight of {} values for [{out_ch}, {channels}, 3, 3]",
            weight.len()
        );
        let (strips, strip_len) = (out_ch.div_ceil(MR), MR * channels);
        let mut points: Vec<Vec<T>> = (0..POINTS)
            .map(|_| vec![T::zero(); strips * strip_len])
            .collect();
        // For each strip, its slice of every one of the 16 matrices.
        let mut per_strip: Vec<Vec<&mut [T]>> = (0..strips).map(|_| Vec::new()).collect();
        for point in &mut points {
            for (s, strip) in point.chunks_exact_mut(strip_len).enumerate() {
                per_strip[s].push(strip);
            }
        }
        per_strip
            .into_par_iter()
            .enumerate()
            .for_each(|(s, mut strip)| {
                for i in 0..MR.min(out_ch - s * MR) {
                    let kernels = &weight[(s * MR + i) * channels * 9..][..channels * 9];
                    for (c, g) in kernels.chunks_exact(9).enumerate() {
                        let u = transform_kernel(g.try_into().expect("3x3 kernel"));
                        for (point, &value) in strip.iter_mut().zip(&u) {
                            point[c * MR + i] = value;
                        }
                    }
                }
            });
        let points = points
            .into_iter()
            .map(|data| PackedLhs::from_packed(data, out_ch, channels))
            .collect();
        WinogradWeights { points }
    }
}

/// `U = G g G^T` for one 3x3 kernel `g` (row-major), the 4x4 result row-major, with
/// `G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]`.
#[inline]
fn transform_kernel<T: Element>(g: &[T; 9]) -> [T; POINTS] {
    let half = T::from_f64_lossy(0.5);
    // G times a row or column of three.
    let expand = |a: T, b: T, c: T| [a, (a + b + c) * half, (a - b + c) * half, c];
    // gg[j][i] = (G g)[i][j]: G down each column of g.
    let gg = [
        expand(g[0], g[3], g[6]),
        expand(g[1], g[4], g[7]),
        expand(g[2], g[5], g[8]),
    ];
    let mut u = [T::zero(); POINTS];
    for (i, row) in u.chunks_exact_mut(4).enumerate() {
        row.copy_from_slice(&expand(gg[0][i], gg[1][i], gg[2][i]));
    }
    u
}
