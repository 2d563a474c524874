//! The SGEMM's block tiles (128x128 or 64x64 of `C` per block, 8x8 or 4x4 per thread) and
//! their derived sizes, shared by the kernel's generator and its launcher.

/// Depth of one slice of the inner dimension held in shared memory.
pub(super) const BK: u32 = 8;

/// Threads per block, for both tile sizes.
pub(super) const THREADS: u32 = 256;

/// One block-tile configuration: `size x size` of `C` per block, `micro x micro` per thread.
#[derive(Clone, Copy)]
pub(super) struct Tile {
    pub(super) size: u32,
    pub(super) micro: u32,
}

/// 128x128 per block, 8x8 per thread: for large products.
pub(super) const LARGE: Tile = Tile {
    size: 128,
    micro: 8,
};

/// 64x64 per block, 4x4 per thread: for products too small to fill the GPU with large tiles.
pub(super) const SMALL: Tile = Tile { size: 64, micro: 4 };

impl Tile {
    /// Floats per row of a shared-memory slice: the tile width plus 4 (no bank conflicts on
    /// the transposing stores, and rows stay 16-byte aligned for `ld.shared.v4`).
    pub(super) fn ld(self) -> u32 {
        self.size + 4
    }

    /// Bytes of one `[BK][ld]` slice.
    pub(super) fn slice_bytes(self) -> u32 {
        BK * self.ld() * 4
    }

    /// Distance between the groups of 4 rows (or columns) of a thread's micro-tile: the
    /// micro-tile is split into groups of 4 spread over the block tile, so that a warp's vector
    /// loads of `B` read consecutive addresses.
    pub(super) fn group_stride(self) -> u32 {
        self.size * 4 / self.micro
    }

    /// Threads along one side of the block (16 for both tiles).
    pub(super) fn side(self) -> u32 {
        self.size / self.micro
    }

    /// The kernel's name.
    pub(super) fn kernel(self, transpose_a: bool, transpose_b: bool) -> String {
        let t = |x: bool| if x { 't' } else { 'n' };
        format!("sgemm_{}_{}{}", self.size, t(transpose_a), t(transpose_b))
    }
}

/// Appends one line of PTX.
pub(super) fn emit(out: &mut String, line: impl AsRef<str>) {
    out.push_str(line.as_ref());
    out.push('\n');
}
