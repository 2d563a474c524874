//! The zero-padded image the tiles read, each row stored de-interleaved (even columns, then odd
//! ones) so that the input transform reads at unit stride.

use super::shape::WinogradShape;
use crate::element::Element;
use crate::ops::elementwise::relu_grad_of;
use crate::simd;

/// The image of a task being transformed, `[C, PH, PW]`, zero around the interior. Each row is
/// stored de-interleaved, its even columns then its odd ones, so that the four values a tile
/// reads from a row are two neighbours in each half and the transform loops run at unit stride.
pub(in crate::ops) struct PaddedImage<T> {
    values: Vec<T>,
    /// Image of the task held in `values`.
    image: Option<usize>,
    /// One image of the input with a ReLU's mask applied, when the convolution asks for it.
    masked: Vec<T>,
}

impl<T: Element> PaddedImage<T> {
    /// Room for one image of `shape`, zero.
    pub(in crate::ops) fn new(shape: &WinogradShape) -> Self {
        let (ph, pw) = shape.padded();
        PaddedImage {
            values: vec![T::zero(); shape.channels * ph * pw],
            image: None,
            masked: Vec::new(),
        }
    }

    /// Image `image` of the task's input `x` (`[images, C, H, W]`) padded, copied in (see
    /// [`pad_image`]) unless it is the one held already. With `relu_output` (shaped as `x`),
    /// each value of `x` is taken where that ReLU's output is positive and zero elsewhere: the
    /// output gradient of a convolution + ReLU masked as it is copied, with no pass of its own.
    pub(in crate::ops) fn of(
        &mut self,
        shape: &WinogradShape,
        x: &[T],
        relu_output: Option<&[T]>,
        image: usize,
    ) -> &[T] {
        if self.image != Some(image) {
            let size = shape.channels * shape.h * shape.w;
            let x = &x[image * size..][..size];
            let source = match relu_output {
                Some(y) => {
                    let masked = &mut self.masked;
                    masked.resize(size, T::zero());
                    simd::vectorized(
                        #[inline(always)]
                        || relu_mask(x, &y[image * size..][..size], masked),
                    );
                    &self.masked[..]
                }
                None => x,
            };
            pad_image(shape, source, &mut self.values);
            self.image = Some(image);
        }
        &self.values
    }
}

/// Copies one image `x` (`[C, H, W]`) into the interior of `padded` (`[C, PH, PW]`, zero
/// around the interior, which it leaves alone), each row de-interleaved: its even columns,
/// then its odd ones (see [`PaddedImage`]). For `f32` on CPUs with AVX-512 each row is split
/// by permutes of whole vectors ([`deinterleave_avx512`]); elsewhere by a plain loop.
fn pad_image<T: Element>(shape: &WinogradShape, x: &[T], padded: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if simd::avx512_kernels::<T>() {
        // SAFETY: `T` is `f32` (the one element type with `PACKED_KERNELS`; `Element` is sealed),
        // so the casts are to the same type.
        let (x, padded) = unsafe {
            (
                &*(x as *const [T] as *const [f32]),
                &mut *(padded as *mut [T] as *mut [f32]),
            )
        };
        // SAFETY: the CPU has AVX-512F, checked just above.
        rows_of(shape, x, padded, |row, even, odd| unsafe {
            deinterleave_avx512(row, even, odd)
        });
        return;
    }
    simd::vectorized(
        #[inline(always)]
        || rows_of(shape, x, padded, deinterleave),
    );
}

/// Calls `split(row, first, second)` for every row of image `x` with the two halves of its
/// padded row that its even and odd columns go to (see [`pad_image`]).
#[inline(always)]
fn rows_of<T: Copy>(
    shape: &WinogradShape,
    x: &[T],
    padded: &mut [T],
    split: impl Fn(&[T], &mut [T], &mut [T]),
) {
    let (ph, pw) = shape.padded();
    let (p, plane, half) = (shape.padding, shape.h * shape.w, pw / 2);
    for (src, dst) in x.chunks_exact(plane).zip(padded.chunks_exact_mut(ph * pw)) {
        for (y, row) in src.chunks_exact(shape.w).enumerate() {
            let (even, odd) = dst[(y + p) * pw..][..pw].split_at_mut(half);
            // Column `x` of the image is column `x + p` of the padded row.
            let (first, second) = if p % 2 == 0 {
                (&mut even[p / 2..], &mut odd[p / 2..])
            } else {
                (&mut odd[p / 2..], &mut even[p / 2 + 1..])
            };
            split(row, first, second);
        }
    }
}

/// [`deinterleave`] for `f32`, 32 values of `src` at a time: two (masked) vector loads, one
/// permute for the even values and one for the odd, two masked stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn deinterleave_avx512(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    use std::arch::x86_64::*;
    let pairs = src.len() / 2;
    let (even, odd) = (&mut even[..src.len() - pairs], &mut odd[..pairs]);
    let even_at = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd_at = _mm512_add_epi32(even_at, _mm512_set1_epi32(1));
    let mask = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
    for start in (0..src.len()).step_by(32) {
        let n = (src.len() - start).min(32);
        // SAFETY: the masked loads read `src[start..start + n]` and the masked stores write
        // `even[start / 2..][..(n + 1) / 2]` and `odd[start / 2..][..n / 2]`, all inside the
        // slices (`start` is even); masked-off lanes are not touched.
        unsafe {
            let p = src.as_ptr().add(start);
            let a = _mm512_maskz_loadu_ps(mask(n), p);
            let b = _mm512_maskz_loadu_ps(mask(n.saturating_sub(16)), p.wrapping_add(16));
            let e = _mm512_permutex2var_ps(a, even_at, b);
            let o = _mm512_permutex2var_ps(a, odd_at, b);
            _mm512_mask_storeu_ps(even.as_mut_ptr().add(start / 2), mask(n.div_ceil(2)), e);
            _mm512_mask_storeu_ps(odd.as_mut_ptr().wrapping_add(start / 2), mask(n / 2), o);
        }
    }
}

/// Splits `src` into its even-indexed values, written to the front of `even`, and its odd ones,
/// to the front of `odd`.
#[inline(always)]
fn deinterleave<T: Copy>(src: &[T], even: &mut [T], odd: &mut [T]) {
    let pairs = src.len() / 2;
    let (even, odd) = (&mut even[..src.len() - pairs], &mut odd[..pairs]);
    for ((pair, e), o) in src.chunks_exact(2).zip(even.iter_mut()).zip(odd.iter_mut()) {
        *e = pair[0];
        *o = pair[1];
    }
    if src.len() % 2 == 1 {
        even[pairs] = src[src.len() - 1];
    }
}

/// `out = g` where `y > 0`, else 0, as [`crate::Tensor::relu_grad`].
#[inline(always)]
fn relu_mask<T: Element>(g: &[T], y: &[T], out: &mut [T]) {
    for ((o, &g), &y) in out.iter_mut().zip(g).zip(y) {
        *o = relu_grad_of(g, y);
    }
}
