//! The zero-padded image the tiles read, each row stored de-interleaved (its columns in as many
//! phases as a tile is wide) so that the input transform reads at unit stride.

use super::shape::{Tile, WinogradShape};
use crate::element::Element;
use crate::ops::elementwise::relu_grad_of;
use crate::simd;

/// The image of a task being transformed, `[C, PH, PW]`, zero around the interior. Each row is
/// stored de-interleaved in `m` phases for tiles of `m` outputs a side (column `x` at index
/// `x / m` of phase `x % m`): for `m = 2` its even columns then its odd ones. Tile `tx` reads
/// columns `m tx..m tx + m + 2` of a row, so the value `j` of every tile in a tile row is a run
/// of neighbours in phase `j % m` and the gather runs at unit stride.
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
/// around the interior), each row de-interleaved in phases (see [`PaddedImage`]). For `f32` on
/// CPUs with AVX-512 each row is split by permutes of whole vectors ([`deinterleave_avx512`],
/// [`phases4_avx512`]); elsewhere by plain loops.
fn pad_image<T: Element>(shape: &WinogradShape, x: &[T], padded: &mut [T]) {
    let p = shape.padding;
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
        // SAFETY (both): the CPU has AVX-512F, checked just above.
        match shape.tile {
            Tile::Two => rows_in_halves(shape, x, padded, |row, even, odd| unsafe {
                deinterleave_avx512(row, even, odd)
            }),
            Tile::Four => padded_rows(shape, x, padded, |row, phases| unsafe {
                phases4_avx512(row, p, phases)
            }),
        }
        return;
    }
    simd::vectorized(
        #[inline(always)]
        || match shape.tile {
            Tile::Two => rows_in_halves(shape, x, padded, deinterleave),
            Tile::Four => padded_rows(shape, x, padded, |row, phases| phases4(row, p, phases)),
        },
    );
}

/// Calls `write(row, padded_row)` for every row of image `x` with the whole row of `padded`
/// (`PW` values) it goes to.
#[inline(always)]
fn padded_rows<T>(
    shape: &WinogradShape,
    x: &[T],
    padded: &mut [T],
    mut write: impl FnMut(&[T], &mut [T]),
) {
    let (ph, pw) = shape.padded();
    let (p, plane) = (shape.padding, shape.h * shape.w);
    for (src, dst) in x.chunks_exact(plane).zip(padded.chunks_exact_mut(ph * pw)) {
        for (y, row) in src.chunks_exact(shape.w).enumerate() {
            write(row, &mut dst[(y + p) * pw..][..pw]);
        }
    }
}

/// Writes every row of image `x` into its padded row for tiles of 2 with
/// `split(src, first, second)`, which writes the even values of `src` to `first` and the odd
/// ones to `second`: the halves of the padded row from where the image's first column goes.
#[inline(always)]
fn rows_in_halves<T>(
    shape: &WinogradShape,
    x: &[T],
    padded: &mut [T],
    split: impl Fn(&[T], &mut [T], &mut [T]),
) {
    let p = shape.padding;
    padded_rows(shape, x, padded, |row, padded_row| {
        let half = padded_row.len() / 2;
        let (even, odd) = padded_row.split_at_mut(half);
        // Column `x` of the image is column `x + p` of the padded row.
        let (first, second) = if p.is_multiple_of(2) {
            (&mut even[p / 2..], &mut odd[p / 2..])
        } else {
            (&mut odd[p / 2..], &mut even[p / 2 + 1..])
        };
        split(row, first, second);
    });
}

/// Writes image row `row` into the padded row `phases` for tiles of 4: its column `x` is
/// padded column `c = x + p`, at index `c / 4` of phase `c % 4` (the phases a quarter of
/// `phases` each). The padding's places are left as they are (zero).
#[inline(always)]
fn phases4<T: Copy>(row: &[T], p: usize, phases: &mut [T]) {
    let quarter = phases.len() / 4;
    for (x, &value) in row.iter().enumerate() {
        let c = x + p;
        phases[(c % 4) * quarter + c / 4] = value;
    }
}

/// [`phases4`] for `f32`, 64 padded columns at a time, the padding's zeros written too: four
/// loads of the row shifted by `p` (masked to the image's columns, zero elsewhere), two
/// permutes that split them into even and odd columns, two more into the four phases, four
/// masked stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn phases4_avx512(row: &[f32], p: usize, phases: &mut [f32]) {
    use std::arch::x86_64::*;
    let quarter = phases.len() / 4;
    let even_at = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd_at = _mm512_add_epi32(even_at, _mm512_set1_epi32(1));
    // Lanes `lo..hi` of a vector whose lane 0 is padded column `c`: the image's columns.
    let image_lanes = |c: usize| {
        let lo = p.saturating_sub(c).min(16);
        let hi = (p + row.len()).saturating_sub(c).min(16);
        (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as __mmask16
    };
    for start in (0..4 * quarter).step_by(64) {
        let (at, count) = (start / 4, (quarter - start / 4).min(16));
        // SAFETY: each masked load reads the lanes of padded columns `c..c + 16` that hold image
        // columns, `row[c - p + lane]` inside `row` (the pointer is only formed with wrapping
        // arithmetic); the masked stores write `phases[k quarter + at..][..count]`, inside
        // `phases`. Masked-off lanes are not touched.
        unsafe {
            let load = |k: usize| {
                let c = start + 16 * k;
                let from = row.as_ptr().wrapping_add(c).wrapping_sub(p);
                _mm512_maskz_loadu_ps(image_lanes(c), from)
            };
            let (v0, v1, v2, v3) = (load(0), load(1), load(2), load(3));
            let (even_low, odd_low) = (
                _mm512_permutex2var_ps(v0, even_at, v1),
                _mm512_permutex2var_ps(v0, odd_at, v1),
            );
            let (even_high, odd_high) = (
                _mm512_permutex2var_ps(v2, even_at, v3),
                _mm512_permutex2var_ps(v2, odd_at, v3),
            );
            let phase = [
                _mm512_permutex2var_ps(even_low, even_at, even_high),
                _mm512_permutex2var_ps(odd_low, even_at, odd_high),
                _mm512_permutex2var_ps(even_low, odd_at, even_high),
                _mm512_permutex2var_ps(odd_low, odd_at, odd_high),
            ];
            let stored = ((1u32 << count) - 1) as __mmask16;
            let out = phases.as_mut_ptr().add(at);
            _mm512_mask_storeu_ps(out, stored, phase[0]);
            _mm512_mask_storeu_ps(out.add(quarter), stored, phase[1]);
            _mm512_mask_storeu_ps(out.add(2 * quarter), stored, phase[2]);
            _mm512_mask_storeu_ps(out.add(3 * quarter), stored, phase[3]);
        }
    }
}

/// [`deinterleave`] of one row: for `f32` on CPUs with AVX-512 by permutes of whole vectors
/// ([`deinterleave_avx512`]), elsewhere by the plain loop.
pub(super) fn deinterleave_row<T: Element>(src: &[T], even: &mut [T], odd: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if simd::avx512_kernels::<T>() {
        // SAFETY: `T` is `f32` (the one element type with `PACKED_KERNELS`; `Element` is
        // sealed), so the casts are to the same type.
        let (src, even, odd) = unsafe {
            (
                &*(src as *const [T] as *const [f32]),
                &mut *(even as *mut [T] as *mut [f32]),
                &mut *(odd as *mut [T] as *mut [f32]),
            )
        };
        // SAFETY: the CPU has AVX-512F, checked just above.
        unsafe { deinterleave_avx512(src, even, odd) };
        return;
    }
    simd::vectorized(
        #[inline(always)]
        || deinterleave(src, even, odd),
    );
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
pub(super) fn relu_mask<T: Element>(g: &[T], y: &[T], out: &mut [T]) {
    for ((o, &g), &y) in out.iter_mut().zip(g).zip(y) {
        *o = relu_grad_of(g, y);
    }
}
