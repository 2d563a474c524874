//! Max pooling with 2x2 windows, stride 2, no padding (SmallCNN's and most CNNs' pooling) for
//! `f32` with AVX-512: sixteen outputs at a time, the even and odd columns of two input rows
//! picked out of whole-vector loads by one permute each, where a plain loop over the windows
//! reads every value alone.

use std::mem::MaybeUninit;

use crate::element::Element;

/// True when [`max_pool_2x2_rows`] runs for `T` on this CPU (`f32` with AVX-512).
pub(super) fn available<T: Element>() -> bool {
    crate::simd::avx512_kernels::<T>()
}

/// Max pooling of one plane (`w` columns, at least `2 oh` rows) into `vals` and `inds` (`oh`
/// rows of `ow` outputs, `2 ow <= w`), as the general loop: each window's first maximum in scan
/// order, a NaN winning over any number (the last NaN over earlier ones), and its flat index
/// `y * w + x` in the plane; every value and index written. Only where [`available`]; panics
/// otherwise.
pub(super) fn max_pool_2x2_rows<T: Element>(
    plane: &[T],
    w: usize,
    ow: usize,
    vals: &mut [MaybeUninit<T>],
    inds: &mut [MaybeUninit<u32>],
) {
    assert!(available::<T>(), "max_pool_2x2: no kernel for {}", T::NAME);
    let oh = vals.len() / ow.max(1);
    assert!(
        2 * ow <= w
            && 2 * oh * w <= plane.len()
            && inds.len() == vals.len()
            && oh * ow == vals.len(),
        "max_pool_2x2: plane of {} values ({w} columns) does not hold {oh}x{ow} windows",
        plane.len()
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `T` is `f32` and the CPU has AVX-512F (`available`); the rows read and written
    // are inside the slices (asserted above).
    unsafe {
        let plane = &*(plane as *const [T] as *const [f32]);
        let vals = &mut *(vals as *mut [MaybeUninit<T>] as *mut [MaybeUninit<f32>]);
        for (oy, (row_vals, row_inds)) in vals.chunks_mut(ow).zip(inds.chunks_mut(ow)).enumerate() {
            let upper = &plane[2 * oy * w..][..2 * ow];
            let lower = &plane[(2 * oy + 1) * w..][..2 * ow];
            row_avx512(
                upper,
                lower,
                (2 * oy * w) as u32,
                w as u32,
                row_vals,
                row_inds,
            );
        }
    }
}

/// One output row: `upper` and `lower` the window rows' first `2 ow` values, `top` the flat
/// index of `upper[0]` in the plane, `w` the plane's columns; `vals` and `inds` of `ow`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn row_avx512(
    upper: &[f32],
    lower: &[f32],
    top: u32,
    w: u32,
    vals: &mut [MaybeUninit<f32>],
    inds: &mut [MaybeUninit<u32>],
) {
    use std::arch::x86_64::*;
    let ow = vals.len();
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let one = _mm512_set1_epi32(1);
    let down = _mm512_set1_epi32(w as i32);
    // `c` replaces `best`: greater, or NaN.
    let better = |c: __m512, best: __m512| {
        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(c, best) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(c, c)
    };
    for start in (0..ow).step_by(16) {
        let n = (ow - start).min(16);
        let out: __mmask16 = if n == 16 { !0 } else { (1 << n) - 1 };
        let (first, second): (__mmask16, __mmask16) = if n >= 8 {
            (!0, if n == 16 { !0 } else { (1 << (2 * n - 16)) - 1 })
        } else {
            ((1 << (2 * n)) - 1, 0)
        };
        // SAFETY: the masked loads read values `2 start..2 (start + n)` of each row, inside
        // `upper` and `lower` (`2 ow` each); masked-off lanes are not read.
        let load = |row: &[f32]| unsafe {
            let p = row.as_ptr().add(2 * start);
            let a = _mm512_maskz_loadu_ps(first, p);
            let b = _mm512_maskz_loadu_ps(second, p.wrapping_add(16));
            (
                _mm512_permutex2var_ps(a, even, b),
                _mm512_permutex2var_ps(a, odd, b),
            )
        };
        let ((u0, u1), (l0, l1)) = (load(upper), load(lower));
        let at = _mm512_add_epi32(_mm512_set1_epi32((top + 2 * start as u32) as i32), even);
        let upper_odd = better(u1, u0);
        let up = _mm512_mask_blend_ps(upper_odd, u0, u1);
        let up_at = _mm512_mask_add_epi32(at, upper_odd, at, one);
        let lower_odd = better(l1, l0);
        let low = _mm512_mask_blend_ps(lower_odd, l0, l1);
        let low_at = _mm512_add_epi32(_mm512_mask_add_epi32(at, lower_odd, at, one), down);
        let take_lower = better(low, up);
        let best = _mm512_mask_blend_ps(take_lower, up, low);
        let best_at = _mm512_mask_blend_epi32(take_lower, up_at, low_at);
        // SAFETY: outputs `start..start + n` of the row, inside `vals` and `inds` (`ow` each).
        unsafe {
            _mm512_mask_storeu_ps(vals.as_mut_ptr().add(start).cast(), out, best);
            _mm512_mask_storeu_epi32(inds.as_mut_ptr().add(start).cast(), out, best_at);
        }
    }
}
