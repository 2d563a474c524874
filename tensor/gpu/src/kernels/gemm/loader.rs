//! PTX moving one operand's `S x BK` slice from global memory into shared memory: coalesced
//! loads along `k` or along the tile by the operand's layout, edges read as zero, stores
//! transposed into `[k][S]` rows (see the family's documentation).

use super::tile::{BK, THREADS, Tile, emit};

/// How a `S x BK` (or `BK x S`) slice of an operand is read from global memory.
#[derive(Clone, Copy)]
pub(super) enum Layout {
    /// `k` is contiguous in memory (A not transposed, B transposed): 8 threads read the 8 `k`
    /// of one row, a warp reads 4 rows.
    AlongK,
    /// The tile's long side is contiguous (A transposed, B not transposed): a warp reads 32
    /// consecutive elements of one `k` row.
    AlongTile,
}

/// One operand's loader: which registers and parameters it uses.
pub(super) struct Loader {
    /// `a` or `b`: prefix of its registers and name of its parameters.
    pub(super) name: char,
    pub(super) layout: Layout,
    /// Register holding the first row (A) or column (B) of the block tile.
    pub(super) first: &'static str,
    /// Register holding the operand's extent along the tile (M for A, N for B).
    pub(super) extent: &'static str,
    /// Byte offset of the operand's slice inside a shared buffer.
    pub(super) smem_offset: u32,
}

impl Loader {
    /// Elements each thread loads per slice.
    pub(super) fn loads(&self, tile: Tile) -> u32 {
        tile.size * BK / THREADS
    }

    /// Rows of `k` between a thread's successive loads (AlongTile layout).
    pub(super) fn k_step(&self, tile: Tile) -> u32 {
        THREADS / tile.size
    }

    /// Once per block: the thread's position in the slice, the bounds predicates that do not
    /// change along `k`, its byte offset inside an operand matrix, its store offset in shared
    /// memory, and the byte distances between its loads.
    pub(super) fn setup(&self, tile: Tile, out: &mut String) {
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
    pub(super) fn batch_pointer(&self, out: &mut String) {
        let n = self.name;
        emit(out, format!("    mul.wide.u32 %q0, %bi, %stride{n};"));
        emit(out, "    shl.b64 %q0, %q0, 2;");
        emit(out, format!("    add.u64 %{n}ptr, %base{n}, %q0;"));
        emit(out, format!("    add.u64 %{n}ptr, %{n}ptr, %{n}off;"));
    }

    /// Loads the slice starting at inner index `%kt` into registers `%{n}g0..` (zero outside
    /// the matrix), then moves the pointer to the next slice.
    pub(super) fn load(&self, tile: Tile, out: &mut String) {
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
    pub(super) fn store(&self, tile: Tile, out: &mut String) {
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
