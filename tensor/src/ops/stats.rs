//! Per-channel statistics of NCHW tensors (what batch normalisation needs).

use crate::backend::BackendOps;
use crate::element::Element;
use crate::ops::channel::lane_sums;
use crate::parallel::per_row;
use crate::tensor::{Storage, Tensor};
use tensor_spec::checks::channel_layout;

impl<T: Element> Tensor<T> {
    /// Mean and biased variance of each channel of an NCHW (or NC) tensor over the batch and
    /// spatial axes, each shaped `[C]`. Squared deviations from a mean (two passes on the GPU,
    /// two per cached row on the CPU), never `E[x^2] - E[x]^2`, so the variance does not lose
    /// precision to cancellation.
    pub fn channel_mean_var(&self) -> (Tensor<T>, Tensor<T>) {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::channel_mean_var(self),
            Storage::Gpu(x) => {
                let (mean, var) = T::Gpu::channel_mean_var(x);
                (
                    Tensor::from_gpu_storage(mean),
                    Tensor::from_gpu_storage(var),
                )
            }
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    /// Two passes over each (image, channel) row while it sits in the cache, the row's mean and
    /// then its sum of squared deviations, and the rows of each channel joined exactly (Chan et
    /// al.: `M2 = Σ M2_row + plane Σ (mean_row - mean)^2`): one pass over memory, as stable as
    /// two passes over the channel.
    pub(crate) fn channel_mean_var_impl(&self) -> (Tensor<T>, Tensor<T>) {
        let (n, c, plane) = channel_layout("channel_mean_var", self.shape());
        let src = self.data();
        let row_plane = T::from_usize(plane).unwrap();
        let rows = per_row(
            n * c,
            plane,
            #[inline(always)]
            |r| {
                let row = &src[r * plane..(r + 1) * plane];
                let mean = lane_sums(row, row, |v, _| [v])[0] / row_plane;
                let m2 = lane_sums(row, row, |v, _| [(v - mean) * (v - mean)])[0];
                (mean, m2)
            },
        );
        let images = T::from_usize(n).unwrap();
        let count = T::from_usize(n * plane).unwrap();
        let (mean, var) = (0..c)
            .map(|ch| {
                let rows = || (0..n).map(|i| rows[i * c + ch]);
                let mean = rows().fold(T::zero(), |s, (m, _)| s + m) / images;
                let m2 = rows().fold(T::zero(), |s, (m, m2)| {
                    s + m2 + row_plane * (m - mean) * (m - mean)
                });
                (mean, m2 / count)
            })
            .unzip();
        (Tensor::from_vec(mean, [c]), Tensor::from_vec(var, [c]))
    }
}
