//! The movement module's PTX text: `copy`, `strided_copy`, `transpose_tiles`, `copy_blocks`
//! (concat), `pad` and `select_rows`.

use super::snippets::{
    MAX_RANK, element_addr, load_base, param_slots, strided_offset_ptx, thread_index,
};
use crate::module::{PTX_HEADER, PtxModule};
use std::fmt::Write;

/// The module.
pub static MODULE: PtxModule = PtxModule::new("movement", ptx);

/// Copies the 32-bit word `src[src_at]` to `dst[dst_at]` (indices in `.u32` registers) for a
/// kernel with pointer parameters `src` and `dst` that declares `.u64 %src, %dst, %a` and
/// `.b32 %v` (and `%off`, from [`thread_index`]).
fn copy_word(src_at: &str, dst_at: &str) -> String {
    format!(
        "{}{}{}    ld.global.nc.b32 %v, [%a];\n{}    st.global.b32 [%a], %v;\n",
        load_base("%src", "src"),
        load_base("%dst", "dst"),
        element_addr("%a", "%src", src_at),
        element_addr("%a", "%dst", dst_at),
    )
}

/// `dst[i] = src[i]`.
fn copy_kernel() -> String {
    format!(
        "// dst[i] = src[i]: a plain device copy.
.visible .entry copy(
    .param .u64 src,
    .param .u64 dst,
    .param .u32 n)
{{
{index}    .reg .u64 %src, %dst, %a;
    .reg .b32 %v;
{copy}DONE:
    ret;
}}
",
        index = thread_index(),
        copy = copy_word("%i", "%i"),
    )
}

/// `dst[i] = src[offset + sum_a c_a(i) * s_a]` with `c_a(i)` the coordinates of `i` in the
/// dims `d0..d5`.
fn strided_copy_kernel() -> String {
    format!(
        "// dst[i] = src[offset + sum_a c_a * s_a], c = the coordinates of i in dims d0..d5:
// broadcast (stride 0), permute (permuted strides) and slice (offset) in one kernel.
.visible .entry strided_copy(
    .param .u64 src,
    .param .u64 dst,
    .param .u32 n,
    .param .u32 offset,
{dims},
{strides})
{{
{index}    .reg .pred %zero;
    .reg .u32 %at, %rest, %c, %d, %s;
    .reg .u64 %src, %dst, %a;
    .reg .b32 %v;
    ld.param.u32 %at, [offset];
{walk}{copy}DONE:
    ret;
}}
",
        dims = param_slots("d", MAX_RANK),
        strides = param_slots("s", MAX_RANK),
        index = thread_index(),
        walk = strided_offset_ptx("d", "s"),
        copy = copy_word("%at", "%i"),
    )
}

/// The side of a square tile of `transpose_tiles`, and its thread block's width.
pub(super) const TILE: u32 = 32;

/// Rows of the tile each thread of `transpose_tiles` moves: the block is `TILE x TILE / ROWS`.
pub(super) const TILE_ROWS: u32 = 8;

/// The most batch axes of `transpose_tiles`: [`MAX_RANK`] minus the two transposed ones.
pub(super) const BATCH_RANK: usize = MAX_RANK - 2;

/// A batched transpose through shared memory: output element `(batch, a, b)` is
/// `src[offset + sbase(batch) + a + b * col_stride]`. Read straight, one thread per element, such a
/// copy strides through the source; here a block first reads a `TILE x TILE` tile along `a`
/// (contiguous in the source), then writes it along `b` (contiguous in the output), so both
/// sides are coalesced. The tile has `TILE + 1` columns so that reading a column hits 32
/// different shared-memory banks.
fn transpose_tiles_kernel() -> String {
    let pitch = TILE + 1;
    let mut batch_walk = String::from(
        "    mov.u32 %rest, %z;
    ld.param.u32 %sbase, [offset];
    mov.u32 %obase, 0;
",
    );
    for a in (0..BATCH_RANK).rev() {
        let _ = write!(
            batch_walk,
            "    ld.param.u32 %d, [d{a}];            // batch axis slot {a}
    rem.u32 %c, %rest, %d;
    div.u32 %rest, %rest, %d;
    ld.param.u32 %s, [s{a}];
    mad.lo.u32 %sbase, %c, %s, %sbase;
    ld.param.u32 %s, [o{a}];
    mad.lo.u32 %obase, %c, %s, %obase;
"
        );
    }
    let mut load = String::new();
    let mut store = String::new();
    for r in 0..TILE / TILE_ROWS {
        let row = r * TILE_ROWS;
        let _ = write!(
            load,
            "    // tile row ty + {row}: b = b0 + ty + {row}, read src[sbase + a + b * col_stride]
    add.u32 %b, %b0, %ty;
    add.u32 %b, %b, {row};
    setp.lo.u32 %in, %b, %cols;
    and.pred %in, %in, %a_in;
    mad.lo.u32 %at, %b, %col_stride, %a;
    add.u32 %at, %at, %sbase;
    mul.wide.u32 %off, %at, 4;
    add.u64 %addr, %src, %off;
    @%in ld.global.nc.b32 %v, [%addr];
    add.u32 %at, %ty, {row};              // tile[ty + {row}][tx]
    mad.lo.u32 %at, %at, {pitch}, %tx;
    mul.wide.u32 %off, %at, 4;
    add.u64 %addr, %tile, %off;
    @%in st.shared.b32 [%addr], %v;
"
        );
        let _ = write!(
            store,
            "    // tile column ty + {row}: a = a0 + ty + {row}, write dst[obase + a * row_stride + b]
    add.u32 %a, %a0, %ty;
    add.u32 %a, %a, {row};
    setp.lo.u32 %in, %a, %rows;
    and.pred %in, %in, %b_in;
    mad.lo.u32 %at, %tx, {pitch}, %ty;     // tile[tx][ty + {row}]
    add.u32 %at, %at, {row};
    mul.wide.u32 %off, %at, 4;
    add.u64 %addr, %tile, %off;
    @%in ld.shared.b32 %v, [%addr];
    mad.lo.u32 %at, %a, %row_stride, %b;
    add.u32 %at, %at, %obase;
    mul.wide.u32 %off, %at, 4;
    add.u64 %addr, %dst, %off;
    @%in st.global.b32 [%addr], %v;
"
        );
    }
    format!(
        "// Batched tiled transpose: dst[obase + a * row_stride + b] = src[sbase + a + b * col_stride]
// (sbase includes the offset)
// for a < rows, b < cols; block (x, y) moves the tile at b0 = 32 x, a0 = 32 y of batches
// z = ctaid.z, ctaid.z + nctaid.z, ... (batch axes d0..d3, source strides s0..s3, output
// strides o0..o3).
.visible .entry transpose_tiles(
    .param .u64 src,
    .param .u64 dst,
    .param .u32 offset,
    .param .u32 rows,
    .param .u32 cols,
    .param .u32 col_stride,
    .param .u32 row_stride,
    .param .u32 batches,
{dims},
{src_strides},
{dst_strides})
{{
    .reg .pred %in, %a_in, %b_in, %end;
    .reg .u32 %tx, %ty, %a0, %b0, %a, %b, %z, %batches, %rows, %cols, %col_stride, %row_stride;
    .reg .u32 %rest, %c, %d, %s, %sbase, %obase, %at, %step;
    .reg .u64 %src, %dst, %tile, %addr, %off;
    .reg .b32 %v;
    .shared .align 4 .u32 tile[{tile_words}];
    mov.u32 %tx, %tid.x;
    mov.u32 %ty, %tid.y;
    mov.u32 %b0, %ctaid.x;
    shl.b32 %b0, %b0, 5;                  // b0 = 32 ctaid.x
    mov.u32 %a0, %ctaid.y;
    shl.b32 %a0, %a0, 5;                  // a0 = 32 ctaid.y
    mov.u32 %z, %ctaid.z;
    mov.u32 %step, %nctaid.z;
    ld.param.u32 %rows, [rows];
    ld.param.u32 %cols, [cols];
    ld.param.u32 %col_stride, [col_stride];
    ld.param.u32 %row_stride, [row_stride];
    ld.param.u32 %batches, [batches];
{src_base}{dst_base}    mov.u64 %tile, tile;
    // the thread's a while loading (a0 + tx) and b while storing (b0 + tx)
    add.u32 %a, %a0, %tx;
    setp.lo.u32 %a_in, %a, %rows;
    add.u32 %b, %b0, %tx;
    setp.lo.u32 %b_in, %b, %cols;
BATCH:
    // z is the same for the whole block, so every thread takes this branch together
    setp.hs.u32 %end, %z, %batches;
    @%end bra DONE;
{batch_walk}    add.u32 %a, %a0, %tx;
{load}    bar.sync 0;                          // the tile is complete
    add.u32 %b, %b0, %tx;
{store}    bar.sync 0;                          // everyone has read the tile before the next batch
    add.u32 %z, %z, %step;
    bra.uni BATCH;
DONE:
    ret;
}}
",
        dims = param_slots("d", BATCH_RANK),
        src_strides = param_slots("s", BATCH_RANK),
        dst_strides = param_slots("o", BATCH_RANK),
        tile_words = TILE * pitch,
        src_base = load_base("%src", "src"),
        dst_base = load_base("%dst", "dst"),
    )
}

/// Copies one concat part: element `i` of `src` goes to `dst[(i / block) * dst_stride +
/// dst_offset + i % block]`.
fn copy_blocks_kernel() -> String {
    format!(
        "// One part of a concat: src is `outer` blocks of `block` elements; block o goes to
// dst[o * dst_stride + dst_offset ..].
.visible .entry copy_blocks(
    .param .u64 src,
    .param .u64 dst,
    .param .u32 n,
    .param .u32 block,
    .param .u32 dst_stride,
    .param .u32 dst_offset)
{{
{index}    .reg .u32 %len, %stride, %at, %o, %j;
    .reg .u64 %src, %dst, %a;
    .reg .b32 %v;
    ld.param.u32 %len, [block];
    ld.param.u32 %stride, [dst_stride];
    ld.param.u32 %at, [dst_offset];
    div.u32 %o, %i, %len;
    rem.u32 %j, %i, %len;
    mad.lo.u32 %at, %o, %stride, %at;   // at = o * dst_stride + dst_offset + j
    add.u32 %at, %at, %j;
{copy}DONE:
    ret;
}}
",
        index = thread_index(),
        copy = copy_word("%i", "%at"),
    )
}

/// Padding: output coordinate `c_a` reads input coordinate `c_a - b_a` when that lies in
/// `0..e_a` on every axis, else writes `value`.
fn pad_kernel() -> String {
    let mut walk = String::from("    mov.u32 %rest, %i;\n    mov.u32 %at, 0;\n");
    for a in (0..MAX_RANK).rev() {
        let _ = write!(
            walk,
            "    // axis slot {a}: x = c - before (wraps below 0), outside unless x < extent
    ld.param.u32 %d, [d{a}];
    rem.u32 %c, %rest, %d;
    div.u32 %rest, %rest, %d;
    ld.param.u32 %x, [b{a}];
    sub.u32 %x, %c, %x;
    ld.param.u32 %d, [e{a}];
    setp.hs.u32 %out, %x, %d;
    @%out bra FILL;
    ld.param.u32 %s, [s{a}];
    mad.lo.u32 %at, %x, %s, %at;
"
        );
    }
    format!(
        "// Padding: dims d0..d5 of the output, pads b0..b5 before each axis, extents e0..e5 and
// strides s0..s5 of the input; elements outside the input get `value` (its 32 bits).
.visible .entry pad(
    .param .u64 src,
    .param .u64 dst,
    .param .u32 n,
    .param .u32 value,
{dims},
{before},
{extent},
{strides})
{{
{index}    .reg .pred %out;
    .reg .u32 %at, %rest, %c, %d, %s, %x;
    .reg .u64 %src, %dst, %a;
    .reg .b32 %v;
{walk}{src}{a_src}    ld.global.nc.b32 %v, [%a];
    bra.uni STORE;
FILL:
    ld.param.u32 %v, [value];
STORE:
{dst}{a_dst}    st.global.b32 [%a], %v;
DONE:
    ret;
}}
",
        dims = param_slots("d", MAX_RANK),
        before = param_slots("b", MAX_RANK),
        extent = param_slots("e", MAX_RANK),
        strides = param_slots("s", MAX_RANK),
        index = thread_index(),
        src = load_base("%src", "src"),
        dst = load_base("%dst", "dst"),
        a_src = element_addr("%a", "%src", "%at"),
        a_dst = element_addr("%a", "%dst", "%i"),
    )
}

/// `dst[r * row_len + j] = src[rows[r] * row_len + j]`.
fn select_rows_kernel() -> String {
    format!(
        "// Row selection: dst row r is src row rows[r] (rows: u32, in range).
.visible .entry select_rows(
    .param .u64 src,
    .param .u64 rows,
    .param .u64 dst,
    .param .u32 n,
    .param .u32 row_len)
{{
{index}    .reg .u32 %len, %r, %j, %row, %at;
    .reg .u64 %src, %rows, %dst, %a;
    .reg .b32 %v;
    ld.param.u32 %len, [row_len];
    div.u32 %r, %i, %len;
    rem.u32 %j, %i, %len;
{rows}{a_row}    ld.global.nc.u32 %row, [%a];
    mad.lo.u32 %at, %row, %len, %j;     // at = rows[r] * row_len + j
{src}{a_src}    ld.global.nc.b32 %v, [%a];
{dst}{a_dst}    st.global.b32 [%a], %v;
DONE:
    ret;
}}
",
        index = thread_index(),
        rows = load_base("%rows", "rows"),
        a_row = element_addr("%a", "%rows", "%r"),
        src = load_base("%src", "src"),
        a_src = element_addr("%a", "%src", "%at"),
        dst = load_base("%dst", "dst"),
        a_dst = element_addr("%a", "%dst", "%i"),
    )
}

fn ptx() -> String {
    [
        PTX_HEADER.to_string(),
        copy_kernel(),
        strided_copy_kernel(),
        transpose_tiles_kernel(),
        copy_blocks_kernel(),
        pad_kernel(),
        select_rows_kernel(),
    ]
    .join("\n")
}

// ---------------------------------------------------------------------------------------------
