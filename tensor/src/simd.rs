//! Run-time SIMD dispatch: one binary, the widest vector unit of whatever x86-64 it runs on.
//!
//! Hot loops are written once as plain Rust iterator loops. [`vectorized`] calls them inside a
//! function compiled with `#[target_feature]` for AVX-512 or AVX2+FMA, chosen by run-time
//! detection, so LLVM's auto-vectoriser emits 512- or 256-bit code for the inlined loop. On other
//! CPUs (or architectures) the loop runs as compiled for the baseline.

/// True when the hand-written AVX-512 kernels run for `T` on this CPU: `T` is `f32` (the one
/// element type with [`Element::PACKED_KERNELS`](crate::element::Element::PACKED_KERNELS)) and
/// the CPU has AVX-512F. The packed GEMM, the 2x2 max-pool and the Winograd row split all ask
/// this one question before they cast their slices to `f32`.
pub fn avx512_kernels<T: crate::element::Element>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        T::PACKED_KERNELS && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Runs `f` compiled for the widest SIMD extension this CPU supports. Mark the closure
/// `#[inline(always)]` (and any closure it calls in its loops): a closure LLVM leaves as a
/// function of its own is compiled for the baseline, not for the wide vectors.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { run_avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { run_avx2(f) };
        }
    }
    f()
}

/// The widest SIMD extension [`vectorized`] uses on this CPU, for reports.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "avx2+fma";
        }
    }
    "baseline"
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `dst = src` for a short run (an output row of a convolution, tens of values). A plain
/// `copy_from_slice` of a length only known at run time becomes a call to `memmove`, whose set-up
/// costs more than such a copy (and AVX-512 masked stores measured no faster on Zen 4); a run of
/// up to 32 values is instead copied as two fixed-size blocks that overlap in the middle, plain
/// vector moves once inlined into a caller running inside [`vectorized`]. Panics if the lengths
/// differ.
#[inline(always)]
pub fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    #[inline(always)]
    fn overlapping<T: Copy, const B: usize>(dst: &mut [T], src: &[T]) {
        let n = dst.len();
        dst[..B].copy_from_slice(&src[..B]);
        dst[n - B..].copy_from_slice(&src[n - B..]);
    }
    assert_eq!(dst.len(), src.len(), "copy_run: lengths differ");
    match dst.len() {
        0 => {}
        1..4 => dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s),
        4..8 => overlapping::<T, 4>(dst, src),
        8..16 => overlapping::<T, 8>(dst, src),
        16..=32 => overlapping::<T, 16>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// `dst[i] = src[2 i]` for a short run (an output row of a stride-2 convolution): as
/// [`copy_run`], fixed-size blocks that overlap in the middle, each reading twice its length of
/// `src` so that the vectoriser loads whole vectors and keeps the even lanes by permutes (a
/// loop of single loads took 30% of ResNet-18's 64-to-128 stride-2 forward). A run whose
/// source ends too soon for a block's last read is copied value by value. Panics unless `src`
/// holds `2 dst.len() - 1` values or more.
#[inline(always)]
pub fn copy_every_other<T: Copy>(dst: &mut [T], src: &[T]) {
    #[inline(always)]
    fn block<T: Copy, const B: usize>(dst: &mut [T], src: &[T]) {
        let (dst, src) = (&mut dst[..B], &src[..2 * B]);
        for (i, d) in dst.iter_mut().enumerate() {
            *d = src[2 * i];
        }
    }
    #[inline(always)]
    fn overlapping<T: Copy, const B: usize>(dst: &mut [T], src: &[T]) {
        let n = dst.len();
        block::<T, B>(dst, src);
        block::<T, B>(&mut dst[n - B..], &src[2 * (n - B)..]);
    }
    let n = dst.len();
    assert!(
        n == 0 || src.len() >= 2 * n - 1,
        "copy_every_other: {} values cannot fill {n}",
        src.len()
    );
    match n {
        4..8 if src.len() >= 2 * n => overlapping::<T, 4>(dst, src),
        8..16 if src.len() >= 2 * n => overlapping::<T, 8>(dst, src),
        16..=32 if src.len() >= 2 * n => overlapping::<T, 16>(dst, src),
        _ => dst
            .iter_mut()
            .zip(src.iter().step_by(2))
            .for_each(|(d, &s)| *d = s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every run length up to past the largest block, from sources that end at the run's last
    /// read and well after it, inside and outside [`vectorized`]: the even values, in order.
    #[test]
    fn copy_every_other_takes_the_even_values() {
        for n in 0..45usize {
            for extra in [0, 1, 5] {
                let src: Vec<f32> = (0..(2 * n).saturating_sub(1) + extra)
                    .map(|i| i as f32)
                    .collect();
                let want: Vec<f32> = (0..n).map(|i| (2 * i) as f32).collect();
                let mut dst = vec![-1.0; n];
                copy_every_other(&mut dst, &src);
                assert_eq!(dst, want, "{n} values from {}", src.len());
                let mut dst = vec![-1.0; n];
                vectorized(
                    #[inline(always)]
                    || copy_every_other(&mut dst, &src),
                );
                assert_eq!(dst, want, "{n} values from {}, vectorized", src.len());
            }
        }
    }
}
