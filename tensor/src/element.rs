//! The float element types kernels are generic over: `f32` and `f64`.

use crate::backend::{BackendOps, CpuBackend};
use crate::scratch_pool::Pool;
use crate::stored::Stored;
use crate::tensor::{IndexTensor, Tensor};
use num_traits::{Float, FromPrimitive, ToPrimitive};
use std::fmt::{Debug, Display};
use std::iter::Sum;
use tensor_gpu::GpuTensor;

/// A floating-point element: `f32` (training, the GPU) or `f64` (exact gradient checks).
///
/// Besides num-traits' `Float`, it knows how to run a GEMM through `matrixmultiply`, so that
/// generic code reaches `sgemm` or `dgemm` without a type switch, and it names the two backends
/// of its tensors' ops (see [`crate::backend`]): [`Element::Cpu`] and, from [`Stored`], `Gpu`,
/// which implements the float op set too ([`GpuBackend`](crate::backend::GpuBackend) for
/// `f32`, [`NoGpu`](crate::stored::NoGpu) for `f64`).
pub trait Element:
    Float
    + FromPrimitive
    + ToPrimitive
    + Sum
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + Stored<Gpu: BackendOps<Self, Index = GpuTensor<u32>>>
    + 'static
{
    /// The CPU backend at this type: [`CpuBackend`], whose ops are compiled once, here.
    type Cpu: BackendOps<Self, Tensor = Tensor<Self>, Index = IndexTensor>;

    /// The type's name as PyTorch spells it, for messages.
    const NAME: &'static str;

    /// True for the one type (`f32`) the hand-written AVX-512 kernels are written for: the packed
    /// GEMM of [`crate::ops::packed_gemm`] (elsewhere the conv routes fall back to
    /// `matrixmultiply`), the 2x2 max-pool and the Winograd row split (elsewhere plain loops);
    /// [`crate::simd::avx512_kernels`] asks it together with the CPU.
    const PACKED_KERNELS: bool;

    /// Converts from f64 (rounding for f32).
    fn from_f64_lossy(v: f64) -> Self;

    /// This thread's pool of working buffers of this type (see [`crate::scratch`]): a
    /// `thread_local!` per type, since a generic one cannot be declared.
    fn scratch_pool() -> &'static std::thread::LocalKey<Pool<Self>>;

    /// `C = alpha * A B + beta * C` on strided row/column layouts, as `matrixmultiply::sgemm`.
    ///
    /// # Safety
    /// The pointers and strides must describe matrices of the stated sizes inside live buffers,
    /// and `c` must not alias `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

impl Element for f32 {
    type Cpu = CpuBackend;
    const NAME: &'static str = "float32";
    const PACKED_KERNELS: bool = true;

    fn from_f64_lossy(v: f64) -> Self {
        v as f32
    }

    fn scratch_pool() -> &'static std::thread::LocalKey<Pool<Self>> {
        thread_local! {
            static POOL: Pool<f32> = Pool::default();
        }
        &POOL
    }

    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
        }
    }
}

impl Element for f64 {
    type Cpu = CpuBackend;
    const NAME: &'static str = "float64";
    const PACKED_KERNELS: bool = false;

    fn from_f64_lossy(v: f64) -> Self {
        v
    }

    fn scratch_pool() -> &'static std::thread::LocalKey<Pool<Self>> {
        thread_local! {
            static POOL: Pool<f64> = Pool::default();
        }
        &POOL
    }

    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
        }
    }
}
