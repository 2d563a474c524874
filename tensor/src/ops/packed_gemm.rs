//! A small GEMM whose operands arrive already packed, for the convolutions.
//!
//! `matrixmultiply` packs both operands on every call. A convolution multiplies the same weight
//! matrix by one column matrix per image, so here the weights are packed once per call
//! ([`PackedLhs`]) and the micro-kernel reads the column matrix in place, [`NR`] columns at a
//! time, its rows a fixed stride apart ([`multiply_strip`]) or anywhere ([`multiply_strip_rows`],
//! for an im2col read straight from the image): neither operand is copied a second time.
//!
//! The micro-kernel is written with AVX-512 intrinsics for `f32` (LLVM's auto-vectoriser does
//! not keep a generic accumulator block in registers); other element types and CPUs keep to the
//! `matrixmultiply` route, see [`available`].

use crate::element::Element;

/// Rows of the output block one micro-kernel call computes.
pub const MR: usize = 8;

/// Columns of the output block one micro-kernel call computes: two 512-bit vectors of `f32`.
pub const NR: usize = 32;

/// Columns of the wide micro-kernel's block ([`multiply_wide_strip_to`]): three vectors. With
/// 24 accumulators it does 24 FMAs for every 11 loads where the [`NR`]-wide one does 16 for 10:
/// 185 against 166 GFLOP/s a core with its operands in the first-level cache, 104 against 82
/// on a 192 x 576 x 768 product that is not (Intel Xeon).
pub const WIDE_NR: usize = 48;

/// A `[rows, depth]` matrix packed in strips of [`MR`] rows: strip `s` holds, for each `k`, the
/// `MR` values `a[s * MR + i][k]` side by side (zeros past the last row), the order in which the
/// micro-kernel reads them.
pub struct PackedLhs<T> {
    data: Vec<T>,
    rows: usize,
    depth: usize,
}

impl<T: Element> PackedLhs<T> {
    /// Packs the `[rows, depth]` matrix whose element `(i, k)` is `a[i * row_stride + k]`.
    pub fn new(a: &[T], rows: usize, depth: usize, row_stride: usize) -> Self {
        Self::strided(a, rows, depth, (row_stride, 1))
    }

    /// Packs the `[rows, depth]` matrix whose element `(i, k)` is `a[i * strides.0 + k *
    /// strides.1]`: a transposed matrix (strides `(1, ld)`) packs as cheaply as a plain one.
    pub fn strided(a: &[T], rows: usize, depth: usize, strides: (usize, usize)) -> Self {
        let strips = rows.div_ceil(MR);
        let mut data = Vec::with_capacity(strips * MR * depth);
        for s in 0..strips {
            for k in 0..depth {
                data.extend((s * MR..s * MR + MR).map(|i| {
                    if i < rows {
                        a[i * strides.0 + k * strides.1]
                    } else {
                        T::zero()
                    }
                }));
            }
        }
        PackedLhs { data, rows, depth }
    }

    /// Takes a matrix packed by the caller: `data` holds [`MR`]-row strips laid out as
    /// [`PackedLhs::new`] lays them (`strips * MR * depth` values, zeros in the padding rows).
    pub fn from_packed(data: Vec<T>, rows: usize, depth: usize) -> Self {
        assert_eq!(
            data.len(),
            rows.div_ceil(MR) * MR * depth,
            "packed GEMM: {} values for {rows} rows of depth {depth}",
            data.len()
        );
        PackedLhs { data, rows, depth }
    }

    /// Rows of the matrix (before padding to whole strips).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of the matrix, the GEMM's inner dimension.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Number of [`MR`]-row strips.
    pub fn strips(&self) -> usize {
        self.rows.div_ceil(MR)
    }

    /// Strip `s`, `depth * MR` values.
    fn strip(&self, s: usize) -> &[T] {
        &self.data[s * MR * self.depth..(s + 1) * MR * self.depth]
    }
}

/// One output block: `MR` rows of `NR` columns.
pub type Block<T> = [[T; NR]; MR];

/// True when [`multiply_strip`] has a vector kernel for `T` on this CPU (`f32` with AVX-512);
/// callers take another route where it does not.
pub fn available<T: Element>() -> bool {
    crate::simd::avx512_kernels::<T>()
}

/// Multiplies strip `s` of `a` by the `[depth, NR]` block of columns `b` (row `k` at
/// `b[k * ldb..k * ldb + NR]`) into the `MR x NR` block `out`. Only where [`available`].
#[inline]
pub fn multiply_strip<T: Element>(
    a: &PackedLhs<T>,
    s: usize,
    b: &[T],
    ldb: usize,
    out: &mut Block<T>,
) {
    multiply_strip_to(a, s, b, ldb, out.as_flattened_mut(), NR);
}

/// As [`multiply_strip`], but stores row `i` of the `MR x NR` product straight into
/// `c[i * ldc..i * ldc + NR]`, so a caller that keeps a row-major tile (`ldc` its width) needs
/// no copy out of a [`Block`]. Only where [`available`].
#[inline]
pub fn multiply_strip_to<T: Element>(
    a: &PackedLhs<T>,
    s: usize,
    b: &[T],
    ldb: usize,
    c: &mut [T],
    ldc: usize,
) {
    multiply_packed::<T, 2>(a.strip(s), b, ldb, c, ldc, false);
}

/// As [`multiply_strip_to`], for a block of [`WIDE_NR`] columns. Only where [`available`].
#[inline]
pub fn multiply_wide_strip_to<T: Element>(
    a: &PackedLhs<T>,
    s: usize,
    b: &[T],
    ldb: usize,
    c: &mut [T],
    ldc: usize,
) {
    multiply_packed::<T, 3>(a.strip(s), b, ldb, c, ldc, false);
}

/// Where row `k` of a column block starts, for every `k` of the inner dimension: a list of
/// offsets checked once against the slice it will index, so that each micro-kernel call needs
/// only one bounds check.
pub struct RowOffsets {
    offsets: Vec<usize>,
    /// One past the last value any row reaches: `max(offsets) + NR`.
    end: usize,
}

impl RowOffsets {
    /// Row `k` of the column block is `NR` values from `offsets[k]`.
    pub fn new(offsets: Vec<usize>) -> Self {
        let end = offsets.iter().max().map_or(0, |&m| m + NR);
        RowOffsets { offsets, end }
    }

    /// One past the last value any row reaches, relative to the block's start.
    pub fn end(&self) -> usize {
        self.end
    }
}

/// As [`multiply_strip`], but row `k` of the column block is `b[rows.offsets[k]..][..NR]`
/// instead of `ldb` apart: the rows of an implicit im2col, read straight from the image. Only
/// where [`available`].
#[inline]
pub fn multiply_strip_rows<T: Element>(
    a: &PackedLhs<T>,
    s: usize,
    b: &[T],
    rows: &RowOffsets,
    out: &mut Block<T>,
) {
    assert!(available::<T>(), "packed GEMM: no kernel for {}", T::NAME);
    let a = a.strip(s);
    assert!(
        rows.offsets.len() == a.len() / MR && rows.end <= b.len(),
        "packed GEMM: column rows out of bounds"
    );
    let offsets = &rows.offsets;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `multiply_packed`; row `k` of `b` is `NR` values at `offsets[k]`, inside
    // `b` (asserted above through `rows.end`), and `out` is one `MR x NR` block.
    unsafe {
        multiply_f32_avx512::<_, 2>(
            &*(a as *const [T] as *const [f32]),
            &*(b as *const [T] as *const [f32]),
            |k| *offsets.get_unchecked(k),
            &mut *(out.as_flattened_mut() as *mut [T] as *mut [f32]),
            NR,
            false,
        )
    }
}

/// `c += a b` for one strip `a` packed by the caller in [`PackedLhs`]'s layout (`MR` values
/// per step of the inner dimension, `a.len() / MR` steps), the `[depth, NR]` column block `b`
/// (row `k` at `b[k * ldb..k * ldb + NR]`) and the `MR x NR` block of `c` whose row `i` is
/// `c[i * ldc..i * ldc + NR]`: for sums over an inner dimension cut into pieces. Only where
/// [`available`].
#[inline]
pub fn multiply_add_strip<T: Element>(a: &[T], b: &[T], ldb: usize, c: &mut [T], ldc: usize) {
    multiply_packed::<T, 2>(a, b, ldb, c, ldc, true);
}

/// [`multiply_strip_to`] (`accumulate` false) or [`multiply_add_strip`] (true) on one packed
/// strip and a block of `V` vectors of columns: checks the bounds once, then runs the
/// micro-kernel.
#[inline]
fn multiply_packed<T: Element, const V: usize>(
    a: &[T],
    b: &[T],
    ldb: usize,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    assert!(available::<T>(), "packed GEMM: no kernel for {}", T::NAME);
    let (depth, width) = (a.len() / MR, 16 * V);
    assert!(
        a.len().is_multiple_of(MR)
            && ldb >= width
            && (depth == 0 || (depth - 1) * ldb + width <= b.len()),
        "packed GEMM: column block out of bounds"
    );
    assert!(
        ldc >= width && (MR - 1) * ldc + width <= c.len(),
        "packed GEMM: output block out of bounds"
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `T` is `f32` (checked by `available`), so the casts only rename the type; the
    // CPU has AVX-512F (also checked); the kernel reads `depth` steps of both operands and
    // writes (and with `accumulate` first reads) `MR` rows of `16 V` values `ldc` apart, all
    // inside the slices (asserted above).
    unsafe {
        multiply_f32_avx512::<_, V>(
            &*(a as *const [T] as *const [f32]),
            &*(b as *const [T] as *const [f32]),
            |k| k * ldb,
            &mut *(c as *mut [T] as *mut [f32]),
            ldc,
            accumulate,
        )
    }
}

/// The micro-kernel: `MR x 16 V` accumulators in `MR V` vector registers (16 for the
/// [`NR`]-wide block, 24 for the [`WIDE_NR`] one), one rank-1 update (`V` vector loads of `b`,
/// `MR` broadcasts of `a`, `MR V` FMAs) per step of the inner dimension.
///
/// Row `k` of the column block starts at `b[row_start(k)]`. With `accumulate` the block starts
/// from the values in `c` (the sum is added to them), else from zero.
///
/// # Safety
/// The CPU must support AVX-512F, `b` must hold `16 V` values at `row_start(k)` for every step
/// `k` (`a.len() / MR` of them), and `c` must hold `16 V` values at `i * ldc` for every row
/// `i < MR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn multiply_f32_avx512<F: Fn(usize) -> usize, const V: usize>(
    a: &[f32],
    b: &[f32],
    row_start: F,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); V]; MR];
    if accumulate {
        for (i, row) in acc.iter_mut().enumerate() {
            for (v, lanes) in row.iter_mut().enumerate() {
                // SAFETY: `c` holds `16 V` values at `i * ldc` (the caller's contract).
                *lanes = unsafe { _mm512_loadu_ps(c.as_ptr().add(i * ldc + 16 * v)) };
            }
        }
    }
    for (k, av) in a.chunks_exact(MR).enumerate() {
        let mut bv = [_mm512_setzero_ps(); V];
        for (v, lanes) in bv.iter_mut().enumerate() {
            // SAFETY: `b` holds `16 V` values at `row_start(k)` (the caller's contract).
            *lanes = unsafe { _mm512_loadu_ps(b.as_ptr().add(row_start(k) + 16 * v)) };
        }
        for (row, &ai) in acc.iter_mut().zip(av) {
            let ai = _mm512_set1_ps(ai);
            for (lanes, &bv) in row.iter_mut().zip(&bv) {
                *lanes = _mm512_fmadd_ps(ai, bv, *lanes);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, &lanes) in row.iter().enumerate() {
            // SAFETY: `c` holds `16 V` values at `i * ldc` (the caller's contract).
            unsafe { _mm512_storeu_ps(c.as_mut_ptr().add(i * ldc + 16 * v), lanes) };
        }
    }
}
