//! Matrix multiply, 2-D and batched, through `matrixmultiply`'s sgemm/dgemm.
//!
//! Transposed operands are read through strides, never copied. Large products are split by rows
//! of the output across rayon's threads, each thread running a single-threaded GEMM, so GEMM and
//! rayon never oversubscribe the cores.

use crate::backend::BackendOps;
use crate::device::Device;
use crate::element::Element;
use crate::ops::placement::agree;
use crate::tensor::Tensor;
use rayon::prelude::*;
use tensor_spec::MatmulShape;

/// Multiply-adds below which a GEMM stays on the calling thread.
const PARALLEL_GEMM_WORK: usize = 1 << 18;

/// A row-major matrix operand: its data and whether it is used transposed.
#[derive(Clone, Copy)]
pub struct MatRef<'a, T> {
    /// Row-major elements of the stored (untransposed) matrix.
    pub data: &'a [T],
    /// Stored rows.
    pub rows: usize,
    /// Stored columns.
    pub cols: usize,
    /// Use the transpose of the stored matrix.
    pub transposed: bool,
}

impl<T> MatRef<'_, T> {
    /// Rows and columns of the operand as used (after the optional transpose).
    fn used_dims(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    /// Row and column strides of the operand as used.
    fn used_strides(&self) -> (isize, isize) {
        if self.transposed {
            (1, self.cols as isize)
        } else {
            (self.cols as isize, 1)
        }
    }
}

/// `c = a b + beta c` where `c` is row-major `[m, n]`. Splits rows of `c` across threads when
/// the product is large.
pub fn gemm<T: Element>(a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    let (m, k) = a.used_dims();
    let (k2, n) = b.used_dims();
    assert_eq!(k, k2, "matmul: inner dimensions {k} and {k2} differ");
    assert_eq!(
        c.len(),
        m * n,
        "matmul: output holds {} elements, not {m}x{n}",
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = a.used_strides();
    let (rsb, csb) = b.used_strides();
    let threads = rayon::current_num_threads();
    let rows_per_task = if m * n * k >= PARALLEL_GEMM_WORK && threads > 1 && m >= 16 {
        m.div_ceil(threads).next_multiple_of(8)
    } else {
        m
    };
    let run = |(t, block): (usize, &mut [T])| {
        let first_row = t * rows_per_task;
        let rows = block.len() / n;
        let a_ptr = a.data[(first_row as isize * rsa) as usize..].as_ptr();
        // SAFETY: `a_ptr` points at row `first_row` of `a` as used, and the strides and sizes
        // stay inside `a.data` and `b.data` (checked by the dimension asserts above); `block` is
        // this task's own rows of `c`, disjoint from the inputs.
        unsafe {
            T::gemm(
                rows,
                k,
                n,
                T::one(),
                a_ptr,
                rsa,
                csa,
                b.data.as_ptr(),
                rsb,
                csb,
                beta,
                block.as_mut_ptr(),
                n as isize,
                1,
            )
        }
    };
    if rows_per_task < m {
        c.par_chunks_mut(rows_per_task * n)
            .enumerate()
            .for_each(run);
    } else {
        run((0, c));
    }
}

/// Single-threaded `c = a b + beta c` on explicitly strided operands: `a` is `[m, k]` with
/// strides `(rsa, csa)`, `b` is `[k, n]` with `(rsb, csb)`, `c` is `[m, n]` with row stride `rsc`
/// and unit column stride. Panics if any operand would be read or written out of bounds.
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided<T: Element>(
    (m, k, n): (usize, usize, usize),
    a: &[T],
    (rsa, csa): (usize, usize),
    b: &[T],
    (rsb, csb): (usize, usize),
    beta: T,
    c: &mut [T],
    rsc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs
    };
    assert!(
        k == 0 || last(m, k, rsa, csa) < a.len(),
        "gemm: left operand out of bounds"
    );
    assert!(
        k == 0 || last(k, n, rsb, csb) < b.len(),
        "gemm: right operand out of bounds"
    );
    assert!(last(m, n, rsc, 1) < c.len(), "gemm: output out of bounds");
    // SAFETY: every element addressed by the sizes and strides lies inside its slice (asserted
    // above), and `c` is a unique borrow, so it aliases neither input.
    unsafe {
        T::gemm(
            m,
            k,
            n,
            T::one(),
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            1,
        )
    }
}

impl<T: Element> Tensor<T> {
    /// Matrix product with PyTorch's `matmul` shapes for rank 2 and 3: `[m,k] x [k,n]`,
    /// `[b,m,k] x [b,k,n]`, `[b,m,k] x [k,n]` (shared right operand).
    pub fn matmul(&self, other: &Tensor<T>) -> Tensor<T> {
        self.matmul_t(false, other, false)
    }

    /// Matrix product of optionally transposed operands (the last two axes), without copying
    /// the transposes: `op(self) op(other)`.
    pub fn matmul_t(
        &self,
        transpose_self: bool,
        other: &Tensor<T>,
        transpose_other: bool,
    ) -> Tensor<T> {
        match agree("matmul", &[self.placed(), other.placed()]) {
            Device::Cpu => T::Cpu::matmul_t(self, transpose_self, other, transpose_other),
            device => Tensor::from_gpu_storage(T::Gpu::matmul_t(
                &self.gpu_operand("matmul", device),
                transpose_self,
                &other.gpu_operand("matmul", device),
                transpose_other,
            )),
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn matmul_t_impl(
        &self,
        transpose_self: bool,
        other: &Tensor<T>,
        transpose_other: bool,
    ) -> Tensor<T> {
        let MatmulShape {
            batch,
            m,
            k,
            n,
            a: (a_rows, a_cols),
            b: (b_rows, b_cols),
            out: dims,
            shared_b,
        } = MatmulShape::of(self.shape(), transpose_self, other.shape(), transpose_other);
        let a_size = a_rows * a_cols;
        let b_size = b_rows * b_cols;
        let mut out = vec![T::zero(); batch * m * n];
        let one = |i: usize, c: &mut [T]| {
            let a = MatRef {
                data: &self.data()[i * a_size..(i + 1) * a_size],
                rows: a_rows,
                cols: a_cols,
                transposed: transpose_self,
            };
            let b_start = if shared_b { 0 } else { i * b_size };
            let b = MatRef {
                data: &other.data()[b_start..b_start + b_size],
                rows: b_rows,
                cols: b_cols,
                transposed: transpose_other,
            };
            gemm(a, b, T::zero(), c);
        };
        if batch > 1 && m * n * k >= PARALLEL_GEMM_WORK / 8 {
            out.par_chunks_mut(m * n)
                .enumerate()
                .for_each(|(i, c)| one(i, c));
        } else {
            for (i, c) in out.chunks_mut((m * n).max(1)).enumerate() {
                one(i, c);
            }
        }
        Tensor::from_vec(out, dims)
    }
}
