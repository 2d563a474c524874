//! The column-per-line layout of the reduction and softmax kernels: the block shape and launch
//! for a tensor viewed as `[outer, len, inner]`, and the PTX that finds a thread's line, walks
//! its column and combines the column in a shared-memory tree.

use crate::launch::LaunchConfig;

/// Threads per block of every reduction (and softmax) kernel.
pub(crate) const BLOCK: u32 = 256;

/// The block shape `(ntid.x, ntid.y)` for lines of `len` elements `inner` apart: a column of
/// threads per line, as tall as the line (a power of two up to [`BLOCK`], for the tree), and as
/// many lines side by side as fill the block; at least 32 side by side (a warp's worth of
/// neighbouring addresses) when the lines are interleaved (`inner > 1`).
pub(crate) fn line_block(len: usize, inner: usize) -> (u32, u32) {
    let mut ty = (len.next_power_of_two() as u32).clamp(1, BLOCK);
    let wide = (inner.next_power_of_two() as u32).min(32);
    if inner > 1 && BLOCK / ty < wide {
        ty = BLOCK / wide;
    }
    (BLOCK / ty, ty)
}

/// The launch for `lines` lines with block shape `(tx, ty)`, `splits` blocks per group of
/// `tx` lines.
pub(crate) fn line_launch(lines: usize, (tx, ty): (u32, u32), splits: usize) -> LaunchConfig {
    let blocks = lines.div_ceil(tx as usize) * splits;
    LaunchConfig {
        grid: (u32::try_from(blocks).expect("too many blocks"), 1, 1),
        block: (tx, ty, 1),
        shared_bytes: 0,
    }
}

/// PTX that sets up the line of this thread from `%group`, the block's group of lines:
/// `%line`, `%o`, `%i`, `%p_active` (the line exists), `%len`, `%inner`, and `%tx`, `%ty`,
/// `%ntx`, `%nty`. Uses the registers of [`LINE_REGS`].
pub(crate) fn line_setup_lines() -> &'static str {
    "    // this thread's line: line = group * ntid.x + tid.x, o = line / inner, i = line % inner
    mov.u32 %tx, %tid.x;
    mov.u32 %ty, %tid.y;
    mov.u32 %ntx, %ntid.x;
    mov.u32 %nty, %ntid.y;
    mad.lo.u32 %line, %group, %ntx, %tx;
    ld.param.u32 %lines, [lines];
    setp.lo.u32 %p_active, %line, %lines;
    ld.param.u32 %len, [len];
    ld.param.u32 %inner, [inner];
    div.u32 %o, %line, %inner;
    rem.u32 %i, %line, %inner;
"
}

/// The registers [`line_setup_lines`], [`line_address_lines`] and [`tree_lines`] use.
pub(crate) const LINE_REGS: &str = "    .reg .pred %p_active;
    .reg .pred %p<4>;
    .reg .u32 %tx;
    .reg .u32 %ty;
    .reg .u32 %ntx;
    .reg .u32 %nty;
    .reg .u32 %group;
    .reg .u32 %line;
    .reg .u32 %lines;
    .reg .u32 %len;
    .reg .u32 %inner;
    .reg .u32 %o;
    .reg .u32 %i;
    .reg .u32 %slot;
    .reg .u32 %other;
    .reg .u32 %half;
    .reg .u32 %r<4>;
    .reg .u64 %rd<4>;
    .reg .u64 %addr;
    .reg .u64 %step;
";

/// PTX computing `%addr`, the address of `x[o, l, i]` for `l = %r0`, and `%step`, the bytes
/// between consecutive elements of a column (`ntid.y` elements of the line apart).
pub(crate) fn line_address_lines() -> &'static str {
    "    // addr = x + 4 ((o len + l) inner + i); step = 4 ntid.y inner
    mad.lo.u32 %r1, %o, %len, %r0;
    mad.lo.u32 %r1, %r1, %inner, %i;
    mul.wide.u32 %rd0, %r1, 4;
    ld.param.u64 %addr, [x];
    cvta.to.global.u64 %addr, %addr;
    add.u64 %addr, %addr, %rd0;
    mul.lo.u32 %r1, %nty, %inner;
    mul.wide.u32 %step, %r1, 4;
"
}

/// PTX for the tree over a column: `%slot` is this thread's cell of the shared arrays (row
/// `tid.y`, column `tid.x`, in bytes); `combine` is PTX that, for threads with `%p1` set,
/// combines the cell at `%other` (row `tid.y + half`) into the cell at `%slot`. Ends with row
/// 0 holding the column's result. `tag` keeps labels apart when a kernel has several trees.
pub(crate) fn tree_lines(tag: &str, combine: &str) -> String {
    format!(
        "    // tree: while half > 0, rows below half take in the row half below them
    bar.sync 0;
    shr.u32 %half, %nty, 1;
TREE_{tag}:
    setp.eq.u32 %p0, %half, 0;
    @%p0 bra TREE_{tag}_DONE;
    setp.lo.u32 %p1, %ty, %half;
    mul.lo.u32 %other, %half, %ntx;
    shl.b32 %other, %other, 2;
    add.u32 %other, %other, %slot;
{combine}    bar.sync 0;
    shr.u32 %half, %half, 1;
    bra.uni TREE_{tag};
TREE_{tag}_DONE:
"
    )
}
