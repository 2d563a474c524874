//! Per-channel statistics of NCHW tensors (what batch normalisation needs).

use crate::backend::BackendOps;
use crate::element::Element;
use crate::tensor::{Storage, Tensor};
use rayon::prelude::*;
use tensor_spec::checks::channel_layout;

impl<T: Element> Tensor<T> {
    /// Mean and biased variance of each channel of an NCHW (or NC) tensor over the batch and
    /// spatial axes, each shaped `[C]`. Two passes (mean, then squared deviations), so the
    /// variance does not lose precision to cancellation.
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
    pub(crate) fn channel_mean_var_impl(&self) -> (Tensor<T>, Tensor<T>) {
        let (n, c, plane) = channel_layout(self.shape());
        let count = T::from_usize(n * plane).unwrap();
        let src = self.data();
        let channel = |ch: usize| {
            let values =
                || (0..n).flat_map(move |i| &src[(i * c + ch) * plane..(i * c + ch + 1) * plane]);
            let mean = values().fold(T::zero(), |s, &v| s + v) / count;
            let var = values().fold(T::zero(), |s, &v| s + (v - mean) * (v - mean)) / count;
            (mean, var)
        };
        let stats: Vec<(T, T)> = if crate::parallel::worth_splitting(self.numel()) {
            (0..c).into_par_iter().map(channel).collect()
        } else {
            (0..c).map(channel).collect()
        };
        let (mean, var) = stats.into_iter().unzip();
        (Tensor::from_vec(mean, [c]), Tensor::from_vec(var, [c]))
    }
}
