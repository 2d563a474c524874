//! Movement ops on the GPU: broadcast_to, permute, transpose, slice, concat, pad, select_rows,
//! (un)squeeze, and a plain copy (`duplicate`), mirroring [`crate::ops::movement`].
//!
//! Like the CPU ops they copy into a fresh contiguous tensor (reshape, squeeze and unsqueeze
//! share the buffer). Kernels move 32-bit words, so they serve `f32` values and `u32` indices
//! alike. In the one-thread-per-element kernels, neighbouring threads write neighbouring
//! addresses (coalesced stores); the reads follow the op's strides.
//!
//! Most ops are one kernel, `strided_copy`: output element `i` reads `src[offset + sum_a c_a *
//! stride_a]`, where `c_a` are the coordinates of `i` in the output shape. Before launching, the
//! host merges axes that stay contiguous and drops size-1 axes, so a typical copy walks two or
//! three axes, whatever the tensor's rank; up to [`MAX_RANK`] axes remain. When the output's
//! innermost axis is strided in the source (a transpose or a permute that moves the last axis),
//! reading one element per thread would scatter the reads; such copies go to
//! `transpose_tiles`, which stages 32 x 32 tiles in shared memory so that both the reads and the
//! writes are coalesced.
//!
//! This file also holds the few PTX snippets the other kernel files of this family (index,
//! stats, rng, optim) share: the thread-index prologue and element addressing.

use crate::cuda::device_tensor::{GpuScalar, GpuTensor};
use crate::cuda::error::GpuError;
use crate::cuda::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use crate::cuda::module::{PTX_HEADER, PtxModule};
use crate::shape::Shape;
use std::fmt::Write;

/// The most axes a strided kernel walks (after merging contiguous axes and dropping size-1 ones).
pub const MAX_RANK: usize = 6;

/// The module.
pub static MODULE: PtxModule = PtxModule::new("movement", ptx);

// ---------------------------------------------------------------------------------------------
// PTX snippets shared by this family of kernel files.
// ---------------------------------------------------------------------------------------------

/// `.param .u32` declarations `name0, name1, ...` for `count` slots (e.g. dims of an array).
pub(crate) fn param_slots(name: &str, count: usize) -> String {
    (0..count)
        .map(|a| format!("    .param .u32 {name}{a}"))
        .collect::<Vec<_>>()
        .join(",\n")
}

/// Declares `%i` (the global thread index, `ctaid.x * ntid.x + tid.x`), `%n` (the `.param .u32
/// n`), `%off` (a 64-bit byte offset scratch register) and `%past`, then sends threads with
/// `i >= n` to the label `DONE`, which every such kernel ends with.
pub(crate) fn thread_index() -> String {
    "    .reg .pred %past;
    .reg .u32 %i, %n, %block, %threads, %thread;
    .reg .u64 %off;
    // i = ctaid.x * ntid.x + tid.x: one thread per element, threads past n do nothing
    mov.u32 %block, %ctaid.x;
    mov.u32 %threads, %ntid.x;
    mov.u32 %thread, %tid.x;
    mad.lo.u32 %i, %block, %threads, %thread;
    ld.param.u32 %n, [n];
    setp.hs.u32 %past, %i, %n;
    @%past bra DONE;
"
    .to_string()
}

/// Loads the global address of pointer parameter `param` into the `.u64` register `reg`.
pub(crate) fn load_base(reg: &str, param: &str) -> String {
    format!("    ld.param.u64 {reg}, [{param}];\n    cvta.to.global.u64 {reg}, {reg};\n")
}

/// `addr = base + 4 * index`: the address of 32-bit element `index` (a `.u32` register) of the
/// array at `base` (a `.u64` register), with a 64-bit offset (`mul.wide`), so arrays of more
/// than 2^30 elements address correctly. Uses `%off` from [`thread_index`].
pub(crate) fn element_addr(addr: &str, base: &str, index: &str) -> String {
    format!("    mul.wide.u32 %off, {index}, 4;\n    add.u64 {addr}, {base}, %off;\n")
}

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

/// The axes of a strided walk over `dims` with `strides` as `(dim, stride)` pairs, with
/// neighbouring axes that are contiguous (`stride[a] == stride[a + 1] * dims[a + 1]`) merged and
/// size-1 axes dropped: the same walk with fewer div/rem steps per element.
fn merge_axes(dims: &[usize], strides: &[usize]) -> Vec<(usize, usize)> {
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (&d, &s) in dims.iter().zip(strides) {
        match merged.last_mut() {
            _ if d == 1 => {}
            Some((pd, ps)) if *ps == s * d => {
                *pd *= d;
                *ps = s;
            }
            _ => merged.push((d, s)),
        }
    }
    merged
}

/// The `MAX_RANK` slots (dims, then strides) of a strided walk over `dims` with `strides`,
/// innermost last: the axes merged by [`merge_axes`], right-aligned and padded in front with
/// size-1 axes of stride 0.
pub(crate) fn strided_slots(dims: &[usize], strides: &[usize], op: &str) -> Vec<KernelArg> {
    let merged = merge_axes(dims, strides);
    assert!(
        merged.len() <= MAX_RANK,
        "{op}: the GPU kernels walk at most {MAX_RANK} non-contiguous axes, got dims {dims:?} \
         with strides {strides:?}"
    );
    let pad = MAX_RANK - merged.len();
    let d = std::iter::repeat_n(1, pad).chain(merged.iter().map(|&(d, _)| to_u32(d, op)));
    let s = std::iter::repeat_n(0, pad).chain(merged.iter().map(|&(_, s)| to_u32(s, op)));
    d.chain(s).map(KernelArg::U32).collect()
}

/// `n` as a `u32`, panicking naming `op` when it does not fit: the kernels index with 32-bit
/// integers (byte offsets are 64-bit), so a tensor may hold up to 2^32 - 1 elements.
pub(crate) fn to_u32(n: usize, op: &str) -> u32 {
    u32::try_from(n)
        .unwrap_or_else(|_| panic!("{op}: {n} does not fit the GPU kernels' 32-bit indices"))
}

/// PTX that turns `%i` into `%at = %at + sum_a c_a * stride_a` over the slots `d0..d5` (dims)
/// and `s0..s5` (strides), innermost first, stopping as soon as the remaining index is 0 (all
/// outer coordinates are then 0). Needs `.u32` registers `%rest %c %d %s` and `.pred %zero`.
pub(crate) fn strided_offset_ptx(dims: &str, strides: &str) -> String {
    let mut s = String::from("    mov.u32 %rest, %i;\n");
    for a in (0..MAX_RANK).rev() {
        let _ = write!(
            s,
            "    // axis slot {a}: c = rest % d{a}, rest = rest / d{a}, at += c * s{a}
    setp.eq.u32 %zero, %rest, 0;
    @%zero bra OFFSET_DONE;
    ld.param.u32 %d, [{dims}{a}];
    ld.param.u32 %s, [{strides}{a}];
    rem.u32 %c, %rest, %d;
    div.u32 %rest, %rest, %d;
    mad.lo.u32 %at, %c, %s, %at;
"
        );
    }
    s.push_str("OFFSET_DONE:\n");
    s
}

// ---------------------------------------------------------------------------------------------
// The kernels.
// ---------------------------------------------------------------------------------------------

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
const TILE: u32 = 32;

/// Rows of the tile each thread of `transpose_tiles` moves: the block is `TILE x TILE / ROWS`.
const TILE_ROWS: u32 = 8;

/// The most batch axes of `transpose_tiles`: [`MAX_RANK`] minus the two transposed ones.
const BATCH_RANK: usize = MAX_RANK - 2;

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
// Host side.
// ---------------------------------------------------------------------------------------------

/// When a merged walk is a batched transpose (the output's innermost axis strided in the
/// source, another axis `j` contiguous there), the launch of `transpose_tiles` for it: its grid
/// and its parameters after `src` and `dst`. `None` sends the copy to `strided_copy`.
fn transpose_launch(
    merged: &[(usize, usize)],
    offset: usize,
    op: &str,
) -> Option<(LaunchConfig, Vec<KernelArg>)> {
    let &(cols, col_stride) = merged.last()?;
    let j = merged.iter().position(|&(_, s)| s == 1)?;
    if col_stride == 1 || merged.len() > MAX_RANK {
        return None;
    }
    let rank = merged.len();
    let mut out_strides = vec![1; rank];
    for a in (0..rank - 1).rev() {
        out_strides[a] = out_strides[a + 1] * merged[a + 1].0;
    }
    let batch_axes: Vec<usize> = (0..rank - 1).filter(|&a| a != j).collect();
    let batches: usize = batch_axes.iter().map(|&a| merged[a].0).product();
    let rows = merged[j].0;
    let tile = TILE as usize;
    let grid_y = u32::try_from(rows.div_ceil(tile))
        .ok()
        .filter(|&y| y <= 65_535)?;
    let config = LaunchConfig {
        grid: (
            to_u32(cols.div_ceil(tile), op),
            grid_y,
            to_u32(batches.min(65_535), op),
        ),
        block: (TILE, TILE_ROWS, 1),
        shared_bytes: 0,
    };
    let slot = |value: &dyn Fn(usize) -> usize, fill: usize| {
        let pad = BATCH_RANK - batch_axes.len();
        std::iter::repeat_n(fill, pad)
            .chain(batch_axes.iter().map(|&a| value(a)))
            .map(|v| KernelArg::U32(to_u32(v, op)))
            .collect::<Vec<_>>()
    };
    let mut args: Vec<KernelArg> = [offset, rows, cols, col_stride, out_strides[j], batches]
        .iter()
        .map(|&v| KernelArg::U32(to_u32(v, op)))
        .collect();
    args.extend(slot(&|a| merged[a].0, 1));
    args.extend(slot(&|a| merged[a].1, 0));
    args.extend(slot(&|a| out_strides[a], 0));
    Some((config, args))
}

impl<T: GpuScalar> GpuTensor<T> {
    /// A new buffer with the same shape and contents (the tensor itself shares its buffer on
    /// `clone`).
    pub fn duplicate(&self) -> Result<Self, GpuError> {
        let out = GpuTensor::uninit(self.gpu(), self.shape().clone())?;
        let n = to_u32(self.numel(), "duplicate");
        if n > 0 {
            self.gpu().launch(
                &MODULE,
                "copy",
                LaunchConfig::linear(self.numel(), BLOCK_1D),
                &[self.ptr().into(), out.ptr().into(), n.into()],
            )?;
        }
        Ok(out)
    }

    /// The elements of `self` seen through `strides` (one per axis of `dims`, starting at element
    /// `offset`), copied into a new contiguous tensor of shape `dims`.
    fn strided_copy(
        &self,
        dims: &[usize],
        strides: &[usize],
        offset: usize,
        op: &str,
    ) -> Result<Self, GpuError> {
        let out = GpuTensor::uninit(self.gpu(), dims)?;
        if out.numel() == 0 {
            return Ok(out);
        }
        if let Some((config, params)) = transpose_launch(&merge_axes(dims, strides), offset, op) {
            let mut args: Vec<KernelArg> = vec![self.ptr().into(), out.ptr().into()];
            args.extend(params);
            self.gpu()
                .launch(&MODULE, "transpose_tiles", config, &args)?;
            return Ok(out);
        }
        let mut args: Vec<KernelArg> = vec![
            self.ptr().into(),
            out.ptr().into(),
            to_u32(out.numel(), op).into(),
            to_u32(offset, op).into(),
        ];
        args.extend(strided_slots(dims, strides, op));
        self.gpu().launch(
            &MODULE,
            "strided_copy",
            LaunchConfig::linear(out.numel(), BLOCK_1D),
            &args,
        )?;
        Ok(out)
    }

    /// Repeats size-1 (or missing leading) axes to reach `target`, numpy-style.
    pub fn broadcast_to(&self, target: impl Into<Shape>) -> Result<Self, GpuError> {
        let target = target.into();
        if *self.shape() == target {
            return Ok(self.clone());
        }
        let strides = self.shape().strides_broadcast_to(&target);
        self.strided_copy(target.dims(), &strides, 0, "broadcast_to")
    }

    /// Reorders the axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Self, GpuError> {
        let (dims, strides) = self.shape().permuted(perm);
        self.strided_copy(&dims, &strides, 0, "permute")
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Self, GpuError> {
        self.shape().check_axis(a, "transpose");
        self.shape().check_axis(b, "transpose");
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Elements `start..end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Result<Self, GpuError> {
        let (dims, strides, offset) = self.shape().sliced(axis, start, end);
        self.strided_copy(&dims, &strides, offset, "slice")
    }

    /// Joins tensors along `axis`; all other dimensions must agree. One launch per part.
    pub fn concat(parts: &[&Self], axis: usize) -> Result<Self, GpuError> {
        let shapes: Vec<&Shape> = parts.iter().map(|p| p.shape()).collect();
        let joined = Shape::concatenated(&shapes, axis);
        for p in parts {
            assert!(
                p.gpu().same_device(parts[0].gpu()),
                "concat: parts live on {} and {}",
                p.gpu().name(),
                parts[0].gpu().name()
            );
        }
        let (_, joined_len, inner) = joined.split_at_axis(axis);
        let out = GpuTensor::uninit(parts[0].gpu(), joined)?;
        let dst_stride = to_u32(joined_len * inner, "concat");
        let mut axis_offset = 0;
        for p in parts {
            if p.numel() > 0 {
                let args = [
                    p.ptr().into(),
                    out.ptr().into(),
                    to_u32(p.numel(), "concat").into(),
                    to_u32(p.dims()[axis] * inner, "concat").into(),
                    dst_stride.into(),
                    to_u32(axis_offset * inner, "concat").into(),
                ];
                p.gpu().launch(
                    &MODULE,
                    "copy_blocks",
                    LaunchConfig::linear(p.numel(), BLOCK_1D),
                    &args,
                )?;
            }
            axis_offset += p.dims()[axis];
        }
        Ok(out)
    }

    /// Pads each axis with `pads[axis] = (before, after)` copies of `value`.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Result<Self, GpuError> {
        let out_shape = self.shape().padded(pads);
        assert!(
            self.rank() <= MAX_RANK,
            "pad: the GPU kernel pads at most {MAX_RANK} axes, got shape {:?}",
            self.shape()
        );
        let out = GpuTensor::uninit(self.gpu(), out_shape)?;
        if out.numel() == 0 {
            return Ok(out);
        }
        // Right-aligned slots; the padding slots in front are size-1 axes with no pad.
        let lead = MAX_RANK - self.rank();
        let slot = |values: Vec<usize>, fill: usize| -> Vec<KernelArg> {
            std::iter::repeat_n(fill, lead)
                .chain(values)
                .map(|v| KernelArg::U32(to_u32(v, "pad")))
                .collect()
        };
        let mut args: Vec<KernelArg> = vec![
            self.ptr().into(),
            out.ptr().into(),
            to_u32(out.numel(), "pad").into(),
            u32::from_le_bytes(value.to_le()).into(),
        ];
        args.extend(slot(out.dims().to_vec(), 1));
        args.extend(slot(pads.iter().map(|p| p.0).collect(), 0));
        args.extend(slot(self.dims().to_vec(), 1));
        args.extend(slot(self.shape().strides(), 0));
        self.gpu().launch(
            &MODULE,
            "pad",
            LaunchConfig::linear(out.numel(), BLOCK_1D),
            &args,
        )?;
        Ok(out)
    }

    /// The rows `rows` of axis 0, in that order (PyTorch's `index_select(0, rows)`): how a
    /// batch is cut from a data set kept on the device. The row numbers are uploaded.
    pub fn select_rows(&self, rows: &[usize]) -> Result<Self, GpuError> {
        let (out_shape, row_len) = self.shape().selected_rows(rows);
        let out = GpuTensor::uninit(self.gpu(), out_shape)?;
        if out.numel() == 0 {
            return Ok(out);
        }
        let rows: Vec<u32> = rows.iter().map(|&r| to_u32(r, "select_rows")).collect();
        let rows = crate::Tensor::from_vec(rows, [out.dims()[0]]);
        let rows = GpuTensor::upload(self.gpu(), &rows)?;
        self.gpu().launch(
            &MODULE,
            "select_rows",
            LaunchConfig::linear(out.numel(), BLOCK_1D),
            &[
                self.ptr().into(),
                rows.ptr().into(),
                out.ptr().into(),
                to_u32(out.numel(), "select_rows").into(),
                to_u32(row_len, "select_rows").into(),
            ],
        )?;
        Ok(out)
    }

    /// Inserts a size-1 axis at `axis` (free: shares the buffer).
    pub fn unsqueeze(&self, axis: usize) -> Self {
        self.reshape(self.shape().unsqueezed(axis))
    }

    /// Removes the size-1 axis `axis` (free: shares the buffer).
    pub fn squeeze(&self, axis: usize) -> Self {
        self.reshape(self.shape().squeezed(axis))
    }
}
