//! Run-time SIMD dispatch: one binary, the widest vector unit of whatever x86-64 it runs on.
//!
//! Hot loops are written once as plain Rust iterator loops. [`vectorized`] calls them inside a
//! function compiled with `#[target_feature]` for AVX-512 or AVX2+FMA, chosen by run-time
//! detection, so LLVM's auto-vectoriser emits 512- or 256-bit code for the inlined loop. On other
//! CPUs (or architectures) the loop runs as compiled for the baseline.

/// Runs `f` compiled for the widest SIMD extension this CPU supports.
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
