//! Launching the SGEMM: a (batched, optionally summed) product described by [`Gemm`], the tile
//! size chosen by the work available, and `matmul`/`matmul_t` on [`GpuTensor`]s built on it.

use super::ptx::MODULE;
use super::tile::{LARGE, SMALL, THREADS};
use crate::device_tensor::GpuTensor;
use crate::error::GpuError;
use crate::launch::{KernelArg, LaunchConfig};
use tensor_spec::MatmulShape;

/// Blocks of the large tile from which a product may use it: enough to fill a large GPU (two
/// per SM on an H100's 132); below that the 64-wide tile makes four times as many blocks.
const LARGE_TILE_MIN_BLOCKS: usize = 256;

/// One operand of [`sgemm`] in device memory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operand {
    /// Address of the first matrix.
    pub ptr: u64,
    /// Elements per stored row.
    pub ld: u32,
    /// Elements between consecutive batch entries (0: every entry uses the same matrix).
    pub batch_stride: u32,
    /// The stored matrix is the transpose of the operand (`A` stored `K x M`, `B` stored `N x K`).
    pub transposed: bool,
}

/// A (batched) product for [`sgemm`]: output `z` is `sum over s < sum of op(A[z sum + s])
/// op(B[z sum + s])`, for batch entries below `count`, plus `bias[row]` when given.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gemm {
    /// Rows of `op(A)` and `C`.
    pub m: usize,
    /// Columns of `op(B)` and `C`.
    pub n: usize,
    /// Columns of `op(A)`, rows of `op(B)`.
    pub k: usize,
    /// The left operand.
    pub a: Operand,
    /// The right operand.
    pub b: Operand,
    /// The output (never transposed; `ld` is its row length).
    pub c: Operand,
    /// A `[m]` vector added to every row's outputs.
    pub bias: Option<u64>,
    /// Number of output matrices.
    pub outputs: usize,
    /// Consecutive batch entries summed into each output.
    pub sum: usize,
    /// Batch entries in all (the last output may sum fewer than `sum`).
    pub count: usize,
}

/// Converts a size to a kernel's `u32` parameter, naming what overflowed.
fn to_u32(what: &str, v: usize) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| panic!("sgemm: {what} = {v} does not fit in 32 bits"))
}

/// Launches the SGEMM kernel for `g` on `gpu`, choosing the tile size by the work available.
pub(crate) fn sgemm(gpu: &crate::Gpu, g: &Gemm) -> Result<(), GpuError> {
    if g.m == 0 || g.n == 0 || g.outputs == 0 {
        return Ok(());
    }
    assert!(
        g.k < 1 << 30,
        "sgemm: inner dimension {} of 2^30 or more",
        g.k
    );
    let blocks = |s: usize| g.m.div_ceil(s) * g.n.div_ceil(s) * g.outputs;
    // Elements of C the blocks cover, edges included: the large tile must not waste much more
    // than the small one (a 32-row C would leave 3/4 of every 128-row tile idle).
    let covered = |s: usize| blocks(s) * s * s;
    let (large, small) = (LARGE.size as usize, SMALL.size as usize);
    let tile = if blocks(large) >= LARGE_TILE_MIN_BLOCKS && 4 * covered(large) <= 5 * covered(small)
    {
        LARGE
    } else {
        SMALL
    };
    let s = tile.size as usize;
    let config = LaunchConfig {
        grid: (
            to_u32("column blocks", g.n.div_ceil(s)),
            to_u32("row blocks", g.m.div_ceil(s)),
            to_u32("outputs", g.outputs),
        ),
        block: (THREADS, 1, 1),
        shared_bytes: 0,
    };
    assert!(
        config.grid.1 <= 65_535 && config.grid.2 <= 65_535,
        "sgemm: {} x {} x {} outputs exceed the grid",
        g.m,
        g.n,
        g.outputs
    );
    let args = [
        KernelArg::U64(g.a.ptr),
        KernelArg::U64(g.b.ptr),
        KernelArg::U64(g.c.ptr),
        KernelArg::U64(g.bias.unwrap_or(0)),
        KernelArg::U32(to_u32("m", g.m)),
        KernelArg::U32(to_u32("n", g.n)),
        KernelArg::U32(to_u32("k", g.k)),
        KernelArg::U32(g.a.ld),
        KernelArg::U32(g.b.ld),
        KernelArg::U32(g.c.ld),
        KernelArg::U32(g.a.batch_stride),
        KernelArg::U32(g.b.batch_stride),
        KernelArg::U32(g.c.batch_stride),
        KernelArg::U32(to_u32("sum", g.sum)),
        KernelArg::U32(to_u32("count", g.count)),
    ];
    let name = tile.kernel(g.a.transposed, g.b.transposed);
    gpu.launch(&MODULE, &name, config, &args)
}

impl GpuTensor<f32> {
    /// Matrix product with the CPU's `tensor::Tensor::matmul` shapes: `[m,k] x [k,n]`,
    /// `[b,m,k] x [b,k,n]`, `[b,m,k] x [k,n]` (shared right operand).
    pub fn matmul(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.matmul_t(false, other, false)
    }

    /// Matrix product of optionally transposed operands (the last two axes), without copying
    /// the transposes, as `tensor::Tensor::matmul_t`: `op(self) op(other)`.
    pub fn matmul_t(
        &self,
        transpose_self: bool,
        other: &GpuTensor<f32>,
        transpose_other: bool,
    ) -> Result<GpuTensor<f32>, GpuError> {
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
        let gpu = self.gpu();
        assert!(
            gpu.same_device(other.gpu()),
            "matmul: operands on {} and {}",
            gpu.name(),
            other.gpu().name()
        );
        let out = GpuTensor::uninit(gpu, dims)?;
        let b_stride = if shared_b { 0 } else { b_rows * b_cols };
        // A shared right operand and an untransposed left one: the batch's matrices are the
        // row blocks of one tall `[batch m, k]` matrix, one GEMM with larger tiles filled.
        let (m, batch) = if shared_b && !transpose_self {
            (batch * m, 1)
        } else {
            (m, batch)
        };
        sgemm(
            gpu,
            &Gemm {
                m,
                n,
                k,
                a: Operand {
                    ptr: self.ptr(),
                    ld: to_u32("lda", a_cols),
                    batch_stride: to_u32("batch stride of a", a_rows * a_cols),
                    transposed: transpose_self,
                },
                b: Operand {
                    ptr: other.ptr(),
                    ld: to_u32("ldb", b_cols),
                    batch_stride: to_u32("batch stride of b", b_stride),
                    transposed: transpose_other,
                },
                c: Operand {
                    ptr: out.ptr(),
                    ld: to_u32("ldc", n),
                    batch_stride: to_u32("batch stride of c", m * n),
                    transposed: false,
                },
                bias: None,
                outputs: batch,
                sum: 1,
                count: batch,
            },
        )?;
        Ok(out)
    }
}
