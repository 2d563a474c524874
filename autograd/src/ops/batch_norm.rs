//! Batch normalisation's pieces as single ops over NCHW (or NC) tensors, each a few passes of
//! the tensor crate's per-channel kernels rather than a chain of broadcast ops whose backward
//! rules each reduce over the whole activation.

use tensor::{Element, Tensor};

use crate::var::Var;

impl<'t, T: Element> Var<'t, T> {
    /// `self * scale[c] + shift[c]` per channel ([`Tensor::channel_affine`]), for `[C]`
    /// `scale` and `shift`. Gradients: `g * scale[c]` to `self`, `Σ g * self` and `Σ g` per
    /// channel to `scale` and `shift`.
    pub fn channel_affine(&self, scale: &Var<'t, T>, shift: &Var<'t, T>) -> Var<'t, T> {
        let (x, s) = (self.value().clone(), scale.value().clone());
        let value = x.channel_affine(&s, shift.value());
        Var::from_op(
            "channel_affine",
            &[self, scale, shift],
            value,
            move |g, need| {
                let zero = || Tensor::zeros_on(s.shape().clone(), s.device());
                let sums = (need[1] || need[2]).then(|| g.channel_grad_sums(&x, &zero()));
                let (sum, dot) = sums.unzip();
                vec![
                    need[0].then(|| g.channel_affine(&s, &zero())),
                    dot.filter(|_| need[1]),
                    sum.filter(|_| need[2]),
                ]
            },
        )
    }

    /// Batch normalisation in training mode (`torch.nn.functional.batch_norm` with
    /// `training=True`) as one op on inputs `(self, weight, bias)`: each channel of the NCHW
    /// (or NC) `self` normalised by its batch mean and biased variance over the batch and
    /// spatial axes, then scaled by `weight[c]` and shifted by `bias[c]`. Returns the output
    /// and the batch mean and biased variance `[C]` (for the running statistics).
    ///
    /// Forward: the statistics (two passes), then `y = x * scale + shift` with
    /// `scale = weight / sqrt(var + eps)` and `shift = bias - mean * scale` (one pass), as
    /// PyTorch's CPU kernel. Backward: with `S1 = Σ g` and `S2 = Σ g (x - mean)` per channel
    /// (one pass over `g` and `x`) and `M` values per channel, `dbias = S1`,
    /// `dweight = invstd S2` and (one more pass)
    /// `dx = (weight invstd / M) (M g - S1 - (x - mean) invstd^2 S2)`.
    pub fn batch_norm_train(
        &self,
        weight: &Var<'t, T>,
        bias: &Var<'t, T>,
        eps: T,
    ) -> (Var<'t, T>, Tensor<T>, Tensor<T>) {
        let x = self.value().clone();
        let (mean, var) = x.channel_mean_var();
        let invstd = Tensor::scalar(T::one()).div(&var.add_scalar(eps).sqrt());
        let scale = weight.value().mul(&invstd);
        let shift = bias.value().sub(&mean.mul(&scale));
        let value = x.channel_affine(&scale, &shift);
        let count = T::from_usize(x.numel() / x.dims()[1].max(1)).unwrap();
        let saved_mean = mean.clone();
        let inputs = [self, weight, bias];
        let y = Var::from_op("batch_norm_train", &inputs, value, move |g, need| {
            let (s1, s2) = g.channel_grad_sums(&x, &saved_mean);
            let dx = need[0].then(|| {
                // dx = scale g + b (x - mean) + k, b = -scale invstd^2 S2 / M, k = -scale S1 / M.
                let per_value = T::one() / count;
                let b = scale.mul(&invstd.square()).mul(&s2).mul_scalar(-per_value);
                let k = scale.mul(&s1).mul_scalar(-per_value);
                g.channel_combine(&scale, &x, &saved_mean, &b, &k)
            });
            vec![dx, need[1].then(|| s2.mul(&invstd)), need[2].then_some(s1)]
        });
        (y, mean, var)
    }
}
