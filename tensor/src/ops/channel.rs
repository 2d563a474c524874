//! Per-channel ops on NCHW (or NC) tensors, what batch normalisation costs besides its
//! statistics ([`super::stats`]): an affine map per channel (the forward, once the statistics
//! are folded into a scale and a shift), the two sums per channel its backward needs, and the
//! backward's per-channel combination of the output gradient and the input. Each is one pass.
//!
//! The CPU bodies view a tensor as `N * C` rows of `H * W` elements (row `r` is image `r / C`,
//! channel `r % C`), split rows across threads and run each row as a plain loop that
//! [`crate::simd::vectorized`] compiles for the CPU's vector unit (the row helpers of
//! [`crate::parallel`]). Sums keep [`LANES`] interleaved partial sums per row, which vectorise
//! and round less than one running sum.

use crate::backend::BackendOps;
use crate::device::Device;
use crate::element::Element;
use crate::ops::placement::agree;
use crate::parallel::{collect_rows, per_row};
use crate::tensor::Tensor;
use tensor_spec::checks::channel_operands;

/// Interleaved partial sums per row (16 f32 are one AVX-512 vector, two AVX2 ones).
const LANES: usize = 16;

impl<T: Element> Tensor<T> {
    /// `y[n, c, ..] = self[n, c, ..] * scale[c] + shift[c]` for an NCHW (or NC) `self` and
    /// `[C]` `scale` and `shift`, in one pass: batch normalisation's output once its statistics
    /// and affine parameters are folded into a scale and a shift per channel.
    pub fn channel_affine(&self, scale: &Tensor<T>, shift: &Tensor<T>) -> Tensor<T> {
        let op = "channel_affine";
        let per_channel = [("scale", scale.shape()), ("shift", shift.shape())];
        channel_operands(op, self.shape(), &[], &per_channel);
        match agree(op, &[self.placed(), scale.placed(), shift.placed()]) {
            Device::Cpu => T::Cpu::channel_affine(self, scale, shift),
            device => Tensor::from_gpu_storage(T::Gpu::channel_affine(
                &self.gpu_operand(op, device),
                &scale.gpu_operand(op, device),
                &shift.gpu_operand(op, device),
            )),
        }
    }

    /// The two sums per channel that batch normalisation's backward needs, for an output
    /// gradient `self` and the input `x` (both NCHW or NC, same shape) and `[C]` `mean`:
    /// `(Σ self, Σ self * (x - mean[c]))` over the batch and spatial axes, each `[C]`, in one
    /// pass over `self` and `x`.
    pub fn channel_grad_sums(&self, x: &Tensor<T>, mean: &Tensor<T>) -> (Tensor<T>, Tensor<T>) {
        let op = "channel_grad_sums";
        channel_operands(
            op,
            self.shape(),
            &[("x", x.shape())],
            &[("mean", mean.shape())],
        );
        match agree(op, &[self.placed(), x.placed(), mean.placed()]) {
            Device::Cpu => T::Cpu::channel_grad_sums(self, x, mean),
            device => {
                let (sum, dot) = T::Gpu::channel_grad_sums(
                    &self.gpu_operand(op, device),
                    &x.gpu_operand(op, device),
                    &mean.gpu_operand(op, device),
                );
                (Tensor::from_gpu_storage(sum), Tensor::from_gpu_storage(dot))
            }
        }
    }

    /// `a[c] * self + b[c] * (x - center[c]) + k[c]` for `self` and `x` NCHW (or NC) of one
    /// shape and `[C]` `a`, `center`, `b`, `k`, in one pass: batch normalisation's input
    /// gradient from the output gradient `self` and the input `x` (centred per channel, as
    /// PyTorch's CPU kernel, so a large mean costs no precision).
    pub fn channel_combine(
        &self,
        a: &Tensor<T>,
        x: &Tensor<T>,
        center: &Tensor<T>,
        b: &Tensor<T>,
        k: &Tensor<T>,
    ) -> Tensor<T> {
        let op = "channel_combine";
        let per_channel = [
            ("a", a.shape()),
            ("center", center.shape()),
            ("b", b.shape()),
            ("k", k.shape()),
        ];
        channel_operands(op, self.shape(), &[("x", x.shape())], &per_channel);
        let operands = [self, a, x, center, b, k].map(Tensor::placed);
        match agree(op, &operands) {
            Device::Cpu => T::Cpu::channel_combine(self, a, x, center, b, k),
            device => {
                let [g, a, x, center, b, k] =
                    [self, a, x, center, b, k].map(|t| t.gpu_operand(op, device));
                Tensor::from_gpu_storage(T::Gpu::channel_combine(&g, &a, &x, &center, &b, &k))
            }
        }
    }
}

/// The CPU bodies of the ops above (shapes checked by the callers), compiled once per element
/// type in this crate (see [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn channel_affine_impl(&self, scale: &Tensor<T>, shift: &Tensor<T>) -> Tensor<T> {
        let (_, c, plane) = channel_operands("channel_affine", self.shape(), &[], &[]);
        let (src, scale, shift) = (self.data(), scale.data(), shift.data());
        let out = collect_rows(
            src.len(),
            plane,
            #[inline(always)]
            |row, dst| {
                let (s, t) = (scale[row % c], shift[row % c]);
                for (d, &v) in dst.iter_mut().zip(&src[row * plane..]) {
                    d.write(v * s + t);
                }
            },
        );
        Tensor::from_vec(out, self.shape().clone())
    }

    pub(crate) fn channel_grad_sums_impl(
        &self,
        x: &Tensor<T>,
        mean: &Tensor<T>,
    ) -> (Tensor<T>, Tensor<T>) {
        let (n, c, plane) = channel_operands("channel_grad_sums", self.shape(), &[], &[]);
        let (g, x, mean) = (self.data(), x.data(), mean.data());
        let rows = per_row(
            n * c,
            plane,
            #[inline(always)]
            |row| {
                let m = mean[row % c];
                let range = row * plane..(row + 1) * plane;
                lane_sums(
                    &g[range.clone()],
                    &x[range],
                    #[inline(always)]
                    |g, x| [g, g * (x - m)],
                )
            },
        );
        let (sum, dot) = (0..c)
            .map(|ch| {
                (0..n).fold((T::zero(), T::zero()), |(s, d), i| {
                    let [rs, rd] = rows[i * c + ch];
                    (s + rs, d + rd)
                })
            })
            .unzip();
        (Tensor::from_vec(sum, [c]), Tensor::from_vec(dot, [c]))
    }

    pub(crate) fn channel_combine_impl(
        &self,
        a: &Tensor<T>,
        x: &Tensor<T>,
        center: &Tensor<T>,
        b: &Tensor<T>,
        k: &Tensor<T>,
    ) -> Tensor<T> {
        let (_, c, plane) = channel_operands("channel_combine", self.shape(), &[], &[]);
        let (g, x) = (self.data(), x.data());
        let (a, center, b, k) = (a.data(), center.data(), b.data(), k.data());
        let out = collect_rows(
            g.len(),
            plane,
            #[inline(always)]
            |row, dst| {
                let ch = row % c;
                let (a, m, b, k) = (a[ch], center[ch], b[ch], k[ch]);
                let range = row * plane..(row + 1) * plane;
                for ((d, &g), &x) in dst.iter_mut().zip(&g[range.clone()]).zip(&x[range]) {
                    d.write(a * g + b * (x - m) + k);
                }
            },
        );
        Tensor::from_vec(out, self.shape().clone())
    }
}

/// `Σ f(a[i], b[i])` (each of the `K` components) over two slices of one length, in [`LANES`]
/// interleaved partial sums added pairwise at the end. Inline it, and the closure, into a
/// [`crate::simd::vectorized`] loop.
#[inline(always)]
pub(crate) fn lane_sums<T: Element, const K: usize>(
    a: &[T],
    b: &[T],
    f: impl Fn(T, T) -> [T; K],
) -> [T; K] {
    let mut acc = [[T::zero(); LANES]; K];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (ra, rb) in ca.zip(cb) {
        for l in 0..LANES {
            let terms = f(ra[l], rb[l]);
            for (acc, t) in acc.iter_mut().zip(terms) {
                acc[l] = acc[l] + t;
            }
        }
    }
    let mut total = [T::zero(); K];
    for (&u, &v) in ta.iter().zip(tb) {
        for (s, t) in total.iter_mut().zip(f(u, v)) {
            *s = *s + t;
        }
    }
    // The lanes in a tree: a few vector adds rather than a chain of LANES scalar ones.
    for (s, mut acc) in total.iter_mut().zip(acc) {
        let mut width = LANES / 2;
        while width > 0 {
            for l in 0..width {
                acc[l] = acc[l] + acc[l + width];
            }
            width /= 2;
        }
        *s = *s + acc[0];
    }
    total
}
