//! Batched SGEMM, `C = op(A) op(B) (+ bias)`, the way fast FP32 GEMMs are written for NVIDIA GPUs,
//! and `matmul`/`matmul_t` on [`GpuTensor`]s built on it (convolution uses it too).
//!
//! # The kernel
//! A block of 256 threads computes one `S x S` tile of `C` (`S` = 128, or 64 for small products).
//! It walks along the inner dimension in slices of `BK` = 8:
//! - **Global to shared.** Each thread loads a few elements of the `S x 8` slice of `op(A)` and of
//!   the `8 x S` slice of `op(B)` with coalesced loads: consecutive threads read consecutive
//!   addresses, along `k` when the operand is stored with `k` contiguous, along the tile's long
//!   side otherwise (one load path per layout: the four transpose variants are four entries).
//!   Both slices land in shared memory as `[k][S]` rows (`A` transposed), padded by four floats
//!   per row so that the transposing stores hit 32 different banks.
//! - **Double buffering.** Shared memory holds two such pairs of slices. While the block
//!   multiplies out of one, each thread already has the next slice's loads in flight into
//!   registers, and stores them into the other buffer afterwards: one barrier per slice.
//! - **Register blocking.** Each thread owns an `8 x 8` (or `4 x 4`) micro-tile of `C` in
//!   registers. For every `k` it reads its 8 values of `A` and 8 of `B` with four `ld.shared.v4`
//!   and does 64 independent FMAs (one byte of shared memory per FMA; 4x4: two bytes).
//! - **Edges.** Loads outside `M x K` or `K x N` read as zero and stores outside `M x N` are
//!   skipped, so any sizes work, down to 1.
//! - **Batches.** `grid.z` runs over output matrices, each with its own offset of `A`, `B`, `C`
//!   (an offset of 0 shares the operand). A matrix may also be the *sum* of several consecutive
//!   products (`sum` > 1): the weight gradient of a convolution sums over images that way.

use crate::cuda::device_tensor::GpuTensor;
use crate::cuda::error::GpuError;
use crate::cuda::launch::{KernelArg, LaunchConfig};
use crate::cuda::module::{PTX_HEADER, PtxModule};
use crate::ops::matmul::MatmulShape;
use std::fmt::Write;

/// The module: `sgemm_{128,64}_{nn,nt,tn,tt}` (tile size, then whether `A` and `B` are stored
/// transposed).
pub static MODULE: PtxModule = PtxModule::new("gemm", ptx);

/// Depth of one slice of the inner dimension held in shared memory.
const BK: u32 = 8;

/// Threads per block, for both tile sizes.
const THREADS: u32 = 256;

/// Blocks of the large tile from which a product may use it: enough to fill a large GPU (two
/// per SM on an H100's 132); below that the 64-wide tile makes four times as many blocks.
const LARGE_TILE_MIN_BLOCKS: usize = 256;

/// One block-tile configuration: `size x size` of `C` per block, `micro x micro` per thread.
#[derive(Clone, Copy)]
struct Tile {
    size: u32,
    micro: u32,
}

/// 128x128 per block, 8x8 per thread: for large products.
const LARGE: Tile = Tile {
    size: 128,
    micro: 8,
};

/// 64x64 per block, 4x4 per thread: for products too small to fill the GPU with large tiles.
const SMALL: Tile = Tile { size: 64, micro: 4 };

impl Tile {
    /// Floats per row of a shared-memory slice: the tile width plus 4 (no bank conflicts on
    /// the transposing stores, and rows stay 16-byte aligned for `ld.shared.v4`).
    fn ld(self) -> u32 {
        self.size + 4
    }

    /// Bytes of one `[BK][ld]` slice.
    fn slice_bytes(self) -> u32 {
        BK * self.ld() * 4
    }

    /// Distance between the groups of 4 rows (or columns) of a thread's micro-tile: the
    /// micro-tile is split into groups of 4 spread over the block tile, so that a warp's vector
    /// loads of `B` read consecutive addresses.
    fn group_stride(self) -> u32 {
        self.size * 4 / self.micro
    }

    /// Threads along one side of the block (16 for both tiles).
    fn side(self) -> u32 {
        self.size / self.micro
    }

    /// The kernel's name.
    fn kernel(self, transpose_a: bool, transpose_b: bool) -> String {
        let t = |x: bool| if x { 't' } else { 'n' };
        format!("sgemm_{}_{}{}", self.size, t(transpose_a), t(transpose_b))
    }
}

/// Appends one line of PTX.
fn emit(out: &mut String, line: impl AsRef<str>) {
    out.push_str(line.as_ref());
    out.push('\n');
}

/// How a `S x BK` (or `BK x S`) slice of an operand is read from global memory.
#[derive(Clone, Copy)]
enum Layout {
    /// `k` is contiguous in memory (A not transposed, B transposed): 8 threads read the 8 `k`
    /// of one row, a warp reads 4 rows.
    AlongK,
    /// The tile's long side is contiguous (A transposed, B not transposed): a warp reads 32
    /// consecutive elements of one `k` row.
    AlongTile,
}

/// One operand's loader: which registers and parameters it uses.
struct Loader {
    /// `a` or `b`: prefix of its registers and name of its parameters.
    name: char,
    layout: Layout,
    /// Register holding the first row (A) or column (B) of the block tile.
    first: &'static str,
    /// Register holding the operand's extent along the tile (M for A, N for B).
    extent: &'static str,
    /// Byte offset of the operand's slice inside a shared buffer.
    smem_offset: u32,
}

impl Loader {
    /// Elements each thread loads per slice.
    fn loads(&self, tile: Tile) -> u32 {
        tile.size * BK / THREADS
    }

    /// Rows of `k` between a thread's successive loads (AlongTile layout).
    fn k_step(&self, tile: Tile) -> u32 {
        THREADS / tile.size
    }

    /// Once per block: the thread's position in the slice, the bounds predicates that do not
    /// change along `k`, its byte offset inside an operand matrix, its store offset in shared
    /// memory, and the byte distances between its loads.
    fn setup(&self, tile: Tile, out: &mut String) {
        let n = self.name;
        let (first, extent) = (self.first, self.extent);
        emit(
            out,
            format!("    // ---- operand {n}: where this thread loads ----"),
        );
        match self.layout {
            Layout::AlongK => {
                // Thread t reads k = t % 8 of tile rows t / 8 + 32 i.
                emit(out, format!("    and.b32 %{n}kk, %thr, 7;"));
                emit(out, format!("    shr.u32 %{n}row, %thr, 3;"));
                emit(out, format!("    add.u32 %{n}row, %{n}row, %{first};"));
                for i in 0..self.loads(tile) {
                    emit(out, format!("    add.u32 %t0, %{n}row, {};", 32 * i));
                    emit(out, format!("    setp.lt.u32 %{n}ok{i}, %t0, %{extent};"));
                }
                // Byte offset of (row, kk): (row * ld + kk) * 4, in 64 bits.
                emit(out, format!("    mul.wide.u32 %{n}off, %{n}row, %ld{n};"));
                emit(out, format!("    cvt.u64.u32 %q0, %{n}kk;"));
                emit(out, format!("    add.u64 %{n}off, %{n}off, %q0;"));
                emit(out, format!("    shl.b64 %{n}off, %{n}off, 2;"));
                // Next load: 32 rows further (the next slice: 8 elements, 32 bytes, further).
                emit(out, format!("    mul.wide.u32 %{n}step, %ld{n}, 128;"));
                // Shared store offset of (kk, row - first): slices are [k][S].
                emit(out, "    shr.u32 %t0, %thr, 3;");
                emit(
                    out,
                    format!("    mad.lo.u32 %t0, %{n}kk, {}, %t0;", tile.ld()),
                );
            }
            Layout::AlongTile => {
                let shift = tile.size.trailing_zeros();
                // Thread t reads column t % S of k rows t / S + (256 / S) i.
                emit(
                    out,
                    format!("    and.b32 %{n}col, %thr, {};", tile.size - 1),
                );
                emit(out, format!("    shr.u32 %{n}kk, %thr, {shift};"));
                emit(out, format!("    add.u32 %t0, %{n}col, %{first};"));
                emit(out, format!("    setp.lt.u32 %{n}ok0, %t0, %{extent};"));
                // The first k row this thread loads, or 2^30 (past any K) outside the matrix.
                emit(
                    out,
                    format!("    selp.b32 %{n}kb, %{n}kk, 1073741824, %{n}ok0;"),
                );
                // Byte offset of (kk, col): (kk * ld + col) * 4, in 64 bits.
                emit(out, format!("    mul.wide.u32 %{n}off, %{n}kk, %ld{n};"));
                emit(out, "    cvt.u64.u32 %q0, %t0;");
                emit(out, format!("    add.u64 %{n}off, %{n}off, %q0;"));
                emit(out, format!("    shl.b64 %{n}off, %{n}off, 2;"));
                // Next load: 256 / S rows of k further; next slice: 8 rows further.
                let step = 4 * self.k_step(tile);
                emit(out, format!("    mul.wide.u32 %{n}step, %ld{n}, {step};"));
                emit(out, format!("    mul.wide.u32 %{n}adv, %ld{n}, 32;"));
                emit(
                    out,
                    format!("    mad.lo.u32 %t0, %{n}kk, {}, %{n}col;", tile.ld()),
                );
            }
        }
        // The first slice goes to buffer 1.
        emit(out, "    shl.b32 %t0, %t0, 2;");
        emit(
            out,
            format!(
                "    add.u32 %t0, %t0, {};",
                self.smem_offset + 2 * tile.slice_bytes()
            ),
        );
        emit(out, format!("    add.u32 %w{n}, %sbase, %t0;"));
    }

    /// Once per summed batch entry `%bi`: the thread's pointer into that entry's matrix.
    fn batch_pointer(&self, out: &mut String) {
        let n = self.name;
        emit(out, format!("    mul.wide.u32 %q0, %bi, %stride{n};"));
        emit(out, "    shl.b64 %q0, %q0, 2;");
        emit(out, format!("    add.u64 %{n}ptr, %base{n}, %q0;"));
        emit(out, format!("    add.u64 %{n}ptr, %{n}ptr, %{n}off;"));
    }

    /// Loads the slice starting at inner index `%kt` into registers `%{n}g0..` (zero outside
    /// the matrix), then moves the pointer to the next slice.
    fn load(&self, tile: Tile, out: &mut String) {
        let n = self.name;
        emit(
            out,
            format!("    // load the next slice of {n} into registers"),
        );
        emit(out, format!("    mov.u64 %q1, %{n}ptr;"));
        let loads = self.loads(tile);
        match self.layout {
            Layout::AlongK => {
                emit(out, format!("    add.u32 %t1, %kt, %{n}kk;"));
                emit(out, "    setp.lt.u32 %pk, %t1, %k;");
            }
            Layout::AlongTile => {
                // Rows of k left from this thread's first: load i is inside while more than
                // i * (256 / S) are left (never, for a column outside the matrix).
                emit(out, "    sub.s32 %t1, %k, %kt;");
                emit(out, format!("    sub.s32 %t1, %t1, %{n}kb;"));
            }
        }
        for i in 0..loads {
            match self.layout {
                Layout::AlongK => emit(out, format!("    and.pred %pl, %pk, %{n}ok{i};")),
                Layout::AlongTile => emit(
                    out,
                    format!("    setp.gt.s32 %pl, %t1, {};", i * self.k_step(tile)),
                ),
            }
            emit(out, format!("    mov.f32 %{n}g{i}, 0f00000000;"));
            emit(out, format!("    @%pl ld.global.nc.f32 %{n}g{i}, [%q1];"));
            if i + 1 < loads {
                emit(out, format!("    add.u64 %q1, %q1, %{n}step;"));
            }
        }
        let advance = match self.layout {
            Layout::AlongK => format!("{}", BK * 4),
            Layout::AlongTile => format!("%{n}adv"),
        };
        emit(out, format!("    add.u64 %{n}ptr, %{n}ptr, {advance};"));
    }

    /// Stores the registers loaded by [`Loader::load`] into the write buffer (`%w{a,b}`).
    fn store(&self, tile: Tile, out: &mut String) {
        let n = self.name;
        for i in 0..self.loads(tile) {
            let offset = match self.layout {
                Layout::AlongK => 32 * 4 * i,
                Layout::AlongTile => i * self.k_step(tile) * tile.ld() * 4,
            };
            emit(
                out,
                format!("    st.shared.f32 [%w{n}+{offset}], %{n}g{i};"),
            );
        }
    }
}

/// The multiply of one shared slice: for each of its 8 `k`, vector loads of the thread's `A` and
/// `B` values and `micro x micro` FMAs into the accumulators.
fn multiply_slice(tile: Tile, out: &mut String) {
    let m = tile.micro;
    let groups = m / 4;
    emit(out, "    // multiply the slice in the read buffer");
    for k in 0..BK {
        for (name, base) in [('a', "%ra"), ('b', "%rb")] {
            for g in 0..groups {
                let offset = (k * tile.ld() + g * tile.group_stride()) * 4;
                let r = |j: u32| format!("%{name}{}", k * m + 4 * g + j);
                emit(
                    out,
                    format!(
                        "    ld.shared.v4.f32 {{{}, {}, {}, {}}}, [{base}+{offset}];",
                        r(0),
                        r(1),
                        r(2),
                        r(3)
                    ),
                );
            }
        }
        for i in 0..m {
            for j in 0..m {
                let acc = format!("%c{}", i * m + j);
                emit(
                    out,
                    format!(
                        "    fma.rn.f32 {acc}, %a{}, %b{}, {acc};",
                        k * m + i,
                        k * m + j
                    ),
                );
            }
        }
    }
}

/// Stores the accumulators: row `i` of the micro-tile is tile row `(i / 4) * gs + 4 ty + i % 4`,
/// column `j` likewise with `tx`; each store checked against `M` and `N`, bias added per row.
fn epilogue(tile: Tile, out: &mut String) {
    let m = tile.micro;
    let gs = tile.group_stride();
    emit(
        out,
        "    // ---- write the micro-tile of C (plus the bias of its row) ----",
    );
    emit(out, "    mul.wide.u32 %q0, %z, %stridec;");
    emit(out, "    shl.b64 %q0, %q0, 2;");
    emit(out, "    add.u64 %cbase, %basec, %q0;");
    emit(out, "    shl.b32 %t0, %tx, 2;");
    emit(out, "    add.u32 %ccol, %col0, %t0;");
    for j in 0..m {
        emit(
            out,
            format!("    add.u32 %t0, %ccol, {};", (j / 4) * gs + j % 4),
        );
        emit(out, format!("    setp.lt.u32 %cok{j}, %t0, %n;"));
    }
    emit(out, "    shl.b32 %t0, %ty, 2;");
    emit(out, "    add.u32 %crow, %row0, %t0;");
    for i in 0..m {
        emit(out, format!("    // row {i} of the micro-tile"));
        emit(
            out,
            format!("    add.u32 %t0, %crow, {};", (i / 4) * gs + i % 4),
        );
        emit(out, "    setp.lt.u32 %prow, %t0, %m;");
        emit(out, "    mov.f32 %bv, 0f00000000;");
        emit(out, "    and.pred %pl, %prow, %hasbias;");
        emit(out, "    mul.wide.u32 %q0, %t0, 4;");
        emit(out, "    add.u64 %q0, %basebias, %q0;");
        emit(out, "    @%pl ld.global.nc.f32 %bv, [%q0];");
        emit(out, "    mul.wide.u32 %q0, %t0, %ldc;");
        emit(out, "    cvt.u64.u32 %q1, %ccol;");
        emit(out, "    add.u64 %q0, %q0, %q1;");
        emit(out, "    shl.b64 %q0, %q0, 2;");
        emit(out, "    add.u64 %q0, %cbase, %q0;");
        for j in 0..m {
            let offset = ((j / 4) * gs + j % 4) * 4;
            emit(out, format!("    add.f32 %v, %c{}, %bv;", i * m + j));
            emit(out, format!("    and.pred %pl, %prow, %cok{j};"));
            emit(out, format!("    @%pl st.global.f32 [%q0+{offset}], %v;"));
        }
    }
}

/// One kernel: tile configuration and operand layouts fixed, everything else a parameter.
fn kernel(tile: Tile, transpose_a: bool, transpose_b: bool) -> String {
    let m = tile.micro;
    let mut out = String::new();
    let a = Loader {
        name: 'a',
        layout: if transpose_a {
            Layout::AlongTile
        } else {
            Layout::AlongK
        },
        first: "row0",
        extent: "m",
        smem_offset: 0,
    };
    let b = Loader {
        name: 'b',
        layout: if transpose_b {
            Layout::AlongK
        } else {
            Layout::AlongTile
        },
        first: "col0",
        extent: "n",
        smem_offset: tile.slice_bytes(),
    };
    let name = tile.kernel(transpose_a, transpose_b);
    let _ = writeln!(
        out,
        "// C[z] = sum over s < sum of op(A[z*sum+s]) op(B[z*sum+s]) (+ bias per row), {s}x{s} tile per block.
.visible .entry {name}(
    .param .u64 p_a, .param .u64 p_b, .param .u64 p_c, .param .u64 p_bias,
    .param .u32 p_m, .param .u32 p_n, .param .u32 p_k,
    .param .u32 p_lda, .param .u32 p_ldb, .param .u32 p_ldc,
    .param .u32 p_stridea, .param .u32 p_strideb, .param .u32 p_stridec,
    .param .u32 p_sum, .param .u32 p_count)
{{
    .reg .pred %pl, %pk, %prow, %more, %hasbias, %aok<4>, %bok<4>, %cok<{m}>;
    .reg .b32 %thr, %tx, %ty, %row0, %col0, %z, %bi, %s, %ns, %kt, %t0, %t1, %crow, %ccol;
    .reg .b32 %m, %n, %k, %lda, %ldb, %ldc, %stridea, %strideb, %stridec, %sum, %count;
    .reg .b32 %akk, %akb, %arow, %acol, %bkk, %bkb, %brow, %bcol;
    .reg .b64 %basea, %baseb, %basec, %basebias, %cbase, %q<3>;
    .reg .b64 %aoff, %astep, %aadv, %aptr, %boff, %bstep, %badv, %bptr;
    // 32-bit shared addresses: reads and writes of A and B, and the distance between buffers.
    .reg .b32 %sbase, %ra, %rb, %wa, %wb, %flip;
    .reg .f32 %c<{acc}>, %a<{frag}>, %b<{frag}>, %ag<4>, %bg<4>, %bv, %v;
    // Two buffers, each an A slice [8][{ld}] then a B slice [8][{ld}].
    .shared .align 16 .b8 smem[{smem}];",
        s = tile.size,
        acc = m * m,
        frag = m * BK,
        ld = tile.ld(),
        smem = 4 * tile.slice_bytes(),
    );
    emit(&mut out, "    // ---- parameters and block position ----");
    for p in ["a", "b", "c", "bias"] {
        emit(&mut out, format!("    ld.param.u64 %base{p}, [p_{p}];"));
        emit(
            &mut out,
            format!("    cvta.to.global.u64 %base{p}, %base{p};"),
        );
    }
    for p in [
        "m", "n", "k", "lda", "ldb", "ldc", "stridea", "strideb", "stridec", "sum", "count",
    ] {
        emit(&mut out, format!("    ld.param.u32 %{p}, [p_{p}];"));
    }
    emit(&mut out, "    ld.param.u64 %q0, [p_bias];");
    emit(&mut out, "    setp.ne.u64 %hasbias, %q0, 0;");
    emit(&mut out, "    mov.u32 %thr, %tid.x;");
    emit(
        &mut out,
        format!("    and.b32 %tx, %thr, {};", tile.side() - 1),
    );
    emit(
        &mut out,
        format!("    shr.u32 %ty, %thr, {};", tile.side().trailing_zeros()),
    );
    emit(&mut out, "    mov.u32 %t0, %ctaid.y;");
    emit(
        &mut out,
        format!("    mul.lo.u32 %row0, %t0, {};", tile.size),
    );
    emit(&mut out, "    mov.u32 %t0, %ctaid.x;");
    emit(
        &mut out,
        format!("    mul.lo.u32 %col0, %t0, {};", tile.size),
    );
    emit(&mut out, "    mov.u32 %z, %ctaid.z;");
    emit(&mut out, "    mov.u32 %sbase, smem;");
    a.setup(tile, &mut out);
    b.setup(tile, &mut out);
    emit(
        &mut out,
        "    // ---- shared buffers: where this thread reads A and B (buffer 0) ----",
    );
    emit(&mut out, "    shl.b32 %t0, %ty, 4;");
    emit(&mut out, "    add.u32 %ra, %sbase, %t0;");
    emit(&mut out, "    shl.b32 %t0, %tx, 4;");
    emit(&mut out, "    add.u32 %rb, %sbase, %t0;");
    emit(
        &mut out,
        format!("    add.u32 %rb, %rb, {};", tile.slice_bytes()),
    );
    emit(
        &mut out,
        format!("    mov.u32 %flip, {};", 2 * tile.slice_bytes()),
    );
    emit(&mut out, "    // ---- accumulators ----");
    for i in 0..m * m {
        emit(&mut out, format!("    mov.f32 %c{i}, 0f00000000;"));
    }
    emit(
        &mut out,
        "    // ---- this output's batch entries: z * sum .. min(count, (z + 1) * sum) ----",
    );
    emit(&mut out, "    mul.lo.u32 %bi, %z, %sum;");
    emit(&mut out, "    sub.u32 %ns, %count, %bi;");
    emit(&mut out, "    min.u32 %ns, %ns, %sum;");
    emit(&mut out, "    mov.u32 %s, 0;");
    emit(&mut out, "BATCH:");
    a.batch_pointer(&mut out);
    b.batch_pointer(&mut out);
    emit(
        &mut out,
        "    // first slice: load, store, wait, swap buffers",
    );
    emit(&mut out, "    mov.u32 %kt, 0;");
    a.load(tile, &mut out);
    b.load(tile, &mut out);
    a.store(tile, &mut out);
    b.store(tile, &mut out);
    emit(&mut out, "    bar.sync 0;");
    swap_buffers(&mut out);
    emit(&mut out, "SLICE:");
    emit(
        &mut out,
        "    // loads of the next slice go out before the multiply of this one",
    );
    emit(&mut out, format!("    add.u32 %kt, %kt, {BK};"));
    a.load(tile, &mut out);
    b.load(tile, &mut out);
    multiply_slice(tile, &mut out);
    emit(
        &mut out,
        "    // the next slice into the other buffer (zeros after the last)",
    );
    a.store(tile, &mut out);
    b.store(tile, &mut out);
    emit(&mut out, "    bar.sync 0;");
    swap_buffers(&mut out);
    emit(&mut out, "    setp.lt.u32 %more, %kt, %k;");
    emit(&mut out, "    @%more bra SLICE;");
    emit(&mut out, "    add.u32 %bi, %bi, 1;");
    emit(&mut out, "    add.u32 %s, %s, 1;");
    emit(&mut out, "    setp.lt.u32 %more, %s, %ns;");
    emit(&mut out, "    @%more bra BATCH;");
    epilogue(tile, &mut out);
    emit(&mut out, "    ret;");
    emit(&mut out, "}");
    out
}

/// Exchanges the read and write buffers: reads move by `%flip` (plus or minus one buffer),
/// writes the other way, and `%flip` changes sign.
fn swap_buffers(out: &mut String) {
    emit(out, "    add.u32 %ra, %ra, %flip;");
    emit(out, "    add.u32 %rb, %rb, %flip;");
    emit(out, "    sub.u32 %wa, %wa, %flip;");
    emit(out, "    sub.u32 %wb, %wb, %flip;");
    emit(out, "    neg.s32 %flip, %flip;");
}

/// The module's text: both tile sizes, all four transpose variants.
fn ptx() -> String {
    let mut out = PTX_HEADER.to_string();
    for tile in [LARGE, SMALL] {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            out.push_str(&kernel(tile, ta, tb));
            out.push('\n');
        }
    }
    out
}

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
pub(crate) fn sgemm(gpu: &crate::cuda::Gpu, g: &Gemm) -> Result<(), GpuError> {
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
    /// Matrix product with the CPU's [`Tensor::matmul`](crate::Tensor::matmul) shapes: `[m,k] x [k,n]`,
    /// `[b,m,k] x [b,k,n]`, `[b,m,k] x [k,n]` (shared right operand).
    pub fn matmul(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.matmul_t(false, other, false)
    }

    /// Matrix product of optionally transposed operands (the last two axes), without copying
    /// the transposes, as [`Tensor::matmul_t`](crate::Tensor::matmul_t): `op(self) op(other)`.
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
