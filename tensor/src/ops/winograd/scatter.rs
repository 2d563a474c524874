//! The output scatter: each output row written from the planes that hold its tiles' columns
//! (`columns[dx][tx]` is output column `m tx + dx` for tiles of `m`), interleaved.

use crate::element::Element;
use crate::simd;
use std::mem::MaybeUninit;

/// [`interleave4`] of one output row: for `f32` on CPUs with AVX-512 by permutes of whole
/// vectors ([`interleave4_avx512`]), elsewhere by the plain loop. Inlined, and the columns passed
/// on as four slices rather than an array of them: the array went through memory and each call
/// stalled reading it back (ResNet-18's MART step took 4% less time without it).
#[inline]
pub(super) fn interleave4_row<T: Element>(columns: [&[T]; 4], dst: &mut [MaybeUninit<T>]) {
    #[cfg(target_arch = "x86_64")]
    if simd::avx512_kernels::<T>() {
        // SAFETY: `T` is `f32` (the one element type with `PACKED_KERNELS`; `Element` is
        // sealed), so the casts are to the same type.
        let (columns, dst) = unsafe {
            let cast = |c: &[T]| &*(c as *const [T] as *const [f32]);
            let [c0, c1, c2, c3] = columns;
            (
                [cast(c0), cast(c1), cast(c2), cast(c3)],
                &mut *(dst as *mut [MaybeUninit<T>] as *mut [MaybeUninit<f32>]),
            )
        };
        let [c0, c1, c2, c3] = columns;
        // SAFETY: the CPU has AVX-512F, checked just above.
        unsafe { interleave4_avx512(c0, c1, c2, c3, dst) };
        return;
    }
    simd::vectorized(
        #[inline(always)]
        || interleave4(columns, dst),
    );
}

/// [`interleave4`] for `f32`, 64 values of `dst` (16 tiles) at a time: a (masked) load of 16
/// from each column, two permutes that interleave columns 0 and 2 (the even outputs) and two
/// for 1 and 3 (the odd ones), four that interleave those, four masked stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn interleave4_avx512(
    c0: &[f32],
    c1: &[f32],
    c2: &[f32],
    c3: &[f32],
    dst: &mut [MaybeUninit<f32>],
) {
    use std::arch::x86_64::*;
    let tiles = dst.len().div_ceil(4);
    let (c0, c1, c2, c3) = (&c0[..tiles], &c1[..tiles], &c2[..tiles], &c3[..tiles]);
    // As in `interleave_avx512`: lane `2 i` from the first operand's value `i`, `2 i + 1` from
    // the second's; `high` does values 8 to 15.
    let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let high = _mm512_add_epi32(low, _mm512_set1_epi32(8));
    let mask = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
    for start in (0..dst.len()).step_by(64) {
        let (n, tile) = ((dst.len() - start).min(64), start / 4);
        let loaded = mask(tiles - tile);
        // SAFETY: the masked loads read `columns[dx][tile..][..16]` cut at `tiles`, the length
        // of each column slice, and the masked stores write `dst[start..][..n]`, all inside the
        // slices; masked-off lanes are not touched.
        unsafe {
            let load = |c: &[f32]| _mm512_maskz_loadu_ps(loaded, c.as_ptr().wrapping_add(tile));
            let (c0, c1, c2, c3) = (load(c0), load(c1), load(c2), load(c3));
            let (even_low, even_high) = (
                _mm512_permutex2var_ps(c0, low, c2),
                _mm512_permutex2var_ps(c0, high, c2),
            );
            let (odd_low, odd_high) = (
                _mm512_permutex2var_ps(c1, low, c3),
                _mm512_permutex2var_ps(c1, high, c3),
            );
            let out = [
                _mm512_permutex2var_ps(even_low, low, odd_low),
                _mm512_permutex2var_ps(even_low, high, odd_low),
                _mm512_permutex2var_ps(even_high, low, odd_high),
                _mm512_permutex2var_ps(even_high, high, odd_high),
            ];
            let p = dst.as_mut_ptr().add(start) as *mut f32;
            for (k, vector) in out.into_iter().enumerate().take(n.div_ceil(16)) {
                _mm512_mask_storeu_ps(p.add(16 * k), mask(n - 16 * k), vector);
            }
        }
    }
}

/// Writes `columns[0][0], columns[1][0], columns[2][0], columns[3][0], columns[0][1], ...` into
/// `dst`, as many as it holds.
#[inline(always)]
fn interleave4<T: Copy>(columns: [&[T]; 4], dst: &mut [MaybeUninit<T>]) {
    for (tile, outputs) in dst.chunks_mut(4).enumerate() {
        for (out, column) in outputs.iter_mut().zip(columns) {
            out.write(column[tile]);
        }
    }
}

/// [`interleave`] of one output row: for `f32` on CPUs with AVX-512 by permutes of whole
/// vectors ([`interleave_avx512`]), elsewhere by the plain loop.
pub(super) fn interleave_row<T: Element>(left: &[T], right: &[T], dst: &mut [MaybeUninit<T>]) {
    #[cfg(target_arch = "x86_64")]
    if simd::avx512_kernels::<T>() {
        // SAFETY: `T` is `f32` (the one element type with `PACKED_KERNELS`; `Element` is
        // sealed), so the casts are to the same type.
        let (left, right, dst) = unsafe {
            (
                &*(left as *const [T] as *const [f32]),
                &*(right as *const [T] as *const [f32]),
                &mut *(dst as *mut [MaybeUninit<T>] as *mut [MaybeUninit<f32>]),
            )
        };
        // SAFETY: the CPU has AVX-512F, checked just above.
        unsafe { interleave_avx512(left, right, dst) };
        return;
    }
    simd::vectorized(
        #[inline(always)]
        || interleave(left, right, dst),
    );
}

/// [`interleave`] for `f32`, 32 values of `dst` at a time: two (masked) loads of 16 from each
/// half, two permutes, two masked stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn interleave_avx512(left: &[f32], right: &[f32], dst: &mut [MaybeUninit<f32>]) {
    use std::arch::x86_64::*;
    let pairs = dst.len() / 2;
    let (left, right) = (&left[..dst.len() - pairs], &right[..pairs]);
    // Lane `2 i` of a pair of output vectors is left value `i`, lane `2 i + 1` right value `i`
    // (indices 16 and up pick from the second operand).
    let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let high = _mm512_add_epi32(low, _mm512_set1_epi32(8));
    let mask = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
    for start in (0..dst.len()).step_by(32) {
        let n = (dst.len() - start).min(32);
        let half = start / 2;
        // SAFETY: the masked loads read `left[half..][..(n + 1) / 2]` and
        // `right[half..][..n / 2]`, and the masked stores write `dst[start..][..n]`, all inside
        // the slices (`start` is even); masked-off lanes are not touched.
        unsafe {
            let l = _mm512_maskz_loadu_ps(mask(n.div_ceil(2)), left.as_ptr().wrapping_add(half));
            let r = _mm512_maskz_loadu_ps(mask(n / 2), right.as_ptr().wrapping_add(half));
            let p = dst.as_mut_ptr().add(start) as *mut f32;
            _mm512_mask_storeu_ps(p, mask(n), _mm512_permutex2var_ps(l, low, r));
            _mm512_mask_storeu_ps(
                p.wrapping_add(16),
                mask(n.saturating_sub(16)),
                _mm512_permutex2var_ps(l, high, r),
            );
        }
    }
}

/// Writes `left[0], right[0], left[1], right[1], ...` into `dst`, as many as it holds (at most
/// one more than twice `right`).
#[inline(always)]
fn interleave<T: Copy>(left: &[T], right: &[T], dst: &mut [MaybeUninit<T>]) {
    let pairs = dst.len() / 2;
    for ((pair, &l), &r) in dst
        .chunks_exact_mut(2)
        .zip(&left[..pairs])
        .zip(&right[..pairs])
    {
        pair[0].write(l);
        pair[1].write(r);
    }
    if dst.len() % 2 == 1 {
        dst[2 * pairs].write(left[pairs]);
    }
}
