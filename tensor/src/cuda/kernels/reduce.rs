//! Reductions along one axis or over all elements: sum, mean, max, min, argmax, top-2, and
//! `sum_to` (the gradient of broadcasting), each the GPU twin of the CPU op of the same name.
//!
//! As on the CPU, a tensor reduced along `axis` is viewed as `[outer, len, inner]`: it has
//! `outer * inner` *lines* of `len` elements, line `(o, i)` holding `x[o, l, i]` for `l < len`,
//! `inner` apart in memory. A block of 256 threads is a `ntid.x x ntid.y` grid (see
//! `line_block`): `ntid.x` neighbouring lines, each walked by a column of `ntid.y` threads that
//! start at `l = tid.y` and step by `ntid.y`. Neighbouring lines are neighbouring in memory when
//! `inner > 1`, and for `inner = 1` a column walks a contiguous row, so loads are coalesced
//! either way. Each thread folds its elements into one value, then the column combines its
//! `ntid.y` values in shared memory, halving the active rows at each step (a tree, with a
//! `bar.sync` that every thread reaches between steps) until row 0 holds the line's result.
//!
//! Few long lines (`sum_all` of a large tensor is one line) would leave most of the GPU idle, so
//! sums, maxima and minima split each line into up to `TARGET_BLOCKS` slices, one block each,
//! and reduce the partial results in a second launch.

use super::elementwise::{count, imm};
use crate::cuda::device_tensor::GpuTensor;
use crate::cuda::error::GpuError;
use crate::cuda::launch::{KernelArg, LaunchConfig};
use crate::cuda::module::{PTX_HEADER, PtxModule};
use crate::ops::reduce::split_for_best_two;
use crate::shape::Shape;
use std::fmt::Write;

/// The module.
pub static MODULE: PtxModule = PtxModule::new("reduce", ptx);

/// Threads per block of every reduction (and softmax) kernel.
pub(crate) const BLOCK: u32 = 256;

/// Below this many blocks, long lines are split into slices reduced by separate blocks (a few
/// per streaming multiprocessor of a large GPU).
const TARGET_BLOCKS: usize = 1024;

/// The fewest elements of a line one thread folds before splitting the line is worth it.
const MIN_PER_THREAD: usize = 16;

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

/// A fold of f32 values: its name, identity and PTX instruction (`op.f32 d, a, b`).
#[derive(Clone, Copy)]
struct Fold {
    name: &'static str,
    identity: f32,
    instruction: &'static str,
}

/// Sum (0, `add.rn`), maximum (-inf, `max`: NaN is skipped, as the CPU's `b > a` fold) and
/// minimum (inf, `min`).
const FOLDS: [Fold; 3] = [
    Fold {
        name: "sum",
        identity: 0.0,
        instruction: "add.rn.f32",
    },
    Fold {
        name: "max",
        identity: f32::NEG_INFINITY,
        instruction: "max.f32",
    },
    Fold {
        name: "min",
        identity: f32::INFINITY,
        instruction: "min.f32",
    },
];

/// `reduce_<fold>(out, x, lines, len, inner, chunk, splits, scale)`: block `b` takes line group
/// `b / splits` and slice `b % splits` of its lines (elements `[slice * chunk, slice * chunk +
/// chunk)`), and writes `scale * fold` of it to `out[(o * splits + slice) * inner + i]`.
fn fold_kernel(fold: Fold) -> String {
    let ident = imm(fold.identity);
    let op = fold.instruction;
    let mut s = format!(
        ".visible .entry reduce_{name}(
    .param .u64 out,
    .param .u64 x,
    .param .u32 lines,
    .param .u32 len,
    .param .u32 inner,
    .param .u32 chunk,
    .param .u32 splits,
    .param .f32 scale
)
{{
{LINE_REGS}    .reg .u32 %splits;
    .reg .u32 %slice;
    .reg .u32 %l;
    .reg .u32 %end;
    .reg .u32 %nty3;
    .reg .u64 %a<3>;
    .reg .f32 %acc;
    .reg .f32 %v<4>;
    .shared .align 4 .f32 partial[{BLOCK}];

    // block = group * splits + slice
    mov.u32 %r0, %ctaid.x;
    ld.param.u32 %splits, [splits];
    rem.u32 %slice, %r0, %splits;
    div.u32 %group, %r0, %splits;
{setup}
    // this thread folds l = start + tid.y, + ntid.y, ... below end, from the identity
    mov.f32 %acc, {ident};
    @!%p_active bra FOLDED;
    ld.param.u32 %r2, [chunk];
    mul.lo.u32 %l, %slice, %r2;
    add.u32 %end, %l, %r2;
    min.u32 %end, %end, %len;
    add.u32 %l, %l, %ty;
    mov.u32 %r0, %l;
{address}
    // four elements per iteration while there are four, their loads in flight together
    mul.lo.u32 %nty3, %nty, 3;
FOUR:
    add.u32 %r0, %l, %nty3;
    setp.hs.u32 %p0, %r0, %end;
    @%p0 bra ONE;
    add.u64 %a0, %addr, %step;
    add.u64 %a1, %a0, %step;
    add.u64 %a2, %a1, %step;
    ld.global.nc.f32 %v0, [%addr];
    ld.global.nc.f32 %v1, [%a0];
    ld.global.nc.f32 %v2, [%a1];
    ld.global.nc.f32 %v3, [%a2];
    {op} %acc, %acc, %v0;
    {op} %acc, %acc, %v1;
    {op} %acc, %acc, %v2;
    {op} %acc, %acc, %v3;
    add.u64 %addr, %a2, %step;
    add.u32 %l, %r0, %nty;
    bra.uni FOUR;
    // then one at a time
ONE:
    setp.hs.u32 %p0, %l, %end;
    @%p0 bra FOLDED;
    ld.global.nc.f32 %v0, [%addr];
    {op} %acc, %acc, %v0;
    add.u64 %addr, %addr, %step;
    add.u32 %l, %l, %nty;
    bra.uni ONE;
FOLDED:
    // partial[tid.y][tid.x] = acc
    mov.u32 %slot, partial;
    mad.lo.u32 %r0, %ty, %ntx, %tx;
    shl.b32 %r0, %r0, 2;
    add.u32 %slot, %slot, %r0;
    st.shared.f32 [%slot], %acc;
",
        name = fold.name,
        setup = line_setup_lines(),
        address = line_address_lines(),
    );
    let combine = format!(
        "    @%p1 ld.shared.f32 %v0, [%slot];
    @%p1 ld.shared.f32 %v1, [%other];
    @%p1 {op} %v0, %v0, %v1;
    @%p1 st.shared.f32 [%slot], %v0;
"
    );
    s += &tree_lines("FOLD", &combine);
    s += "
    // row 0 writes each existing line's result, scaled
    setp.eq.u32 %p0, %ty, 0;
    and.pred %p0, %p0, %p_active;
    @!%p0 bra DONE;
    ld.shared.f32 %acc, [%slot];
    ld.param.f32 %v0, [scale];
    mul.rn.f32 %acc, %acc, %v0;
    mad.lo.u32 %r0, %o, %splits, %slice;
    mad.lo.u32 %r0, %r0, %inner, %i;
    mul.wide.u32 %rd0, %r0, 4;
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %rd0;
    st.global.f32 [%rd1], %acc;
DONE:
    ret;
}

";
    s
}

/// PTX setting `%p2` when candidate `(va, ia)` beats `(vb, ib)`: a larger value, or an equal
/// value at a lower index (the CPU's "first one on ties"). Clobbers `%p0` and `%p3`.
fn better_lines(va: &str, ia: &str, vb: &str, ib: &str) -> String {
    format!(
        "    setp.gt.f32 %p2, {va}, {vb};
    setp.eq.f32 %p3, {va}, {vb};
    setp.lo.u32 %p0, {ia}, {ib};
    and.pred %p3, %p3, %p0;
    or.pred %p2, %p2, %p3;
"
    )
}

/// PTX: `%r1` = the address of this thread's (`%slot`) or the other's (`%other`) cell of the
/// shared array `array`.
fn cell(array: &str, which: &str) -> String {
    format!("    mov.u32 %r0, {array};\n    add.u32 %r1, %r0, {which};\n")
}

/// `argmax(best, x, lines, len, inner)` or, with `second`, `top2(best, second, x, lines, len,
/// inner)`: the index of each line's largest (and second-largest) element.
///
/// Candidates are (key, index) pairs ranked by [`better_lines`]. The keys reproduce the CPU's
/// sequential scan (`best = 0; for l in 1..len: if x[l] > x[best] ...`) exactly, NaN included:
/// a NaN at index 0 is never beaten (key +inf, and index 0 wins ties); a NaN at index 1 becomes
/// second while index 0 stays best (key: index 0's key); any other NaN is never picked (no key).
fn top_kernel(second: bool) -> String {
    let (name, outs) = if second {
        ("top2", "    .param .u64 best,\n    .param .u64 second,\n")
    } else {
        ("argmax", "    .param .u64 best,\n")
    };
    let inf = imm(f32::INFINITY);
    let mut s = format!(
        ".visible .entry {name}(
{outs}    .param .u64 x,
    .param .u32 lines,
    .param .u32 len,
    .param .u32 inner
)
{{
{LINE_REGS}    .reg .u32 %l;
    .reg .u64 %first;
    .reg .f32 %v;
    .reg .f32 %bv;
    .reg .u32 %bi;
    .reg .f32 %sv;
    .reg .u32 %si;
    .reg .f32 %ov;
    .reg .u32 %oi;
    .reg .f32 %osv;
    .reg .u32 %osi;
    .shared .align 4 .f32 best_value[{BLOCK}];
    .shared .align 4 .u32 best_index[{BLOCK}];
    .shared .align 4 .f32 second_value[{BLOCK}];
    .shared .align 4 .u32 second_index[{BLOCK}];

    mov.u32 %group, %ctaid.x;
{setup}
    // the candidates start below any element: (-inf, index 2^32 - 1)
    mov.f32 %bv, {minus_inf};
    mov.u32 %bi, 0xFFFFFFFF;
    mov.f32 %sv, {minus_inf};
    mov.u32 %si, 0xFFFFFFFF;
    @!%p_active bra SCANNED;
    mov.u32 %r0, 0;
{address}    mov.u64 %first, %addr;           // x[o, 0, i]
    mov.u32 %l, %ty;
    mul.lo.u32 %r1, %ty, %inner;
    mul.wide.u32 %rd0, %r1, 4;
    add.u64 %addr, %addr, %rd0;
SCAN:
    setp.hs.u32 %p0, %l, %len;
    @%p0 bra SCANNED;
    ld.global.nc.f32 %v, [%addr];
    // the key of x[l]: itself unless NaN
    setp.num.f32 %p0, %v, %v;
    @%p0 bra KEYED;
    setp.eq.u32 %p0, %l, 0;
    @%p0 mov.f32 %v, {inf};
    @%p0 bra KEYED;
    setp.ne.u32 %p0, %l, 1;
    @%p0 bra NEXT;
    ld.global.nc.f32 %v, [%first];
    setp.nan.f32 %p0, %v, %v;
    @%p0 mov.f32 %v, {inf};
KEYED:
{better_b}",
        minus_inf = imm(f32::NEG_INFINITY),
        setup = line_setup_lines(),
        address = line_address_lines(),
        better_b = better_lines("%v", "%l", "%bv", "%bi"),
    );
    if second {
        write!(
            s,
            "    // a new best pushes the old one to second; else it may beat the second
    @%p2 mov.f32 %sv, %bv;
    @%p2 mov.u32 %si, %bi;
    @%p2 mov.f32 %bv, %v;
    @%p2 mov.u32 %bi, %l;
    @%p2 bra NEXT;
{}    @%p2 mov.f32 %sv, %v;
    @%p2 mov.u32 %si, %l;
",
            better_lines("%v", "%l", "%sv", "%si")
        )
        .unwrap();
    } else {
        s += "    @%p2 mov.f32 %bv, %v;\n    @%p2 mov.u32 %bi, %l;\n";
    }
    s += "NEXT:
    add.u32 %l, %l, %nty;
    add.u64 %addr, %addr, %step;
    bra.uni SCAN;
SCANNED:
    // this thread's candidates into its cells; slot = byte offset of row tid.y, column tid.x
    mad.lo.u32 %slot, %ty, %ntx, %tx;
    shl.b32 %slot, %slot, 2;
";
    let arrays: &[(&str, &str, &str, &str)] = if second {
        &[
            ("best_value", "f32", "%bv", "%ov"),
            ("best_index", "u32", "%bi", "%oi"),
            ("second_value", "f32", "%sv", "%osv"),
            ("second_index", "u32", "%si", "%osi"),
        ]
    } else {
        &[
            ("best_value", "f32", "%bv", "%ov"),
            ("best_index", "u32", "%bi", "%oi"),
        ]
    };
    for (array, ty, mine, _) in arrays {
        s += &cell(array, "%slot");
        writeln!(s, "    st.shared.{ty} [%r1], {mine};").unwrap();
    }
    // The tree merges candidate lists: mine (bv, bi[, sv, si]) and the other's (ov, oi[, osv, osi]).
    let mut combine = "    @!%p1 bra MERGED;\n".to_string();
    for (array, ty, mine, theirs) in arrays {
        combine += &cell(array, "%slot");
        writeln!(combine, "    ld.shared.{ty} {mine}, [%r1];").unwrap();
        combine += &cell(array, "%other");
        writeln!(combine, "    ld.shared.{ty} {theirs}, [%r1];").unwrap();
    }
    combine += &better_lines("%ov", "%oi", "%bv", "%bi");
    if second {
        // Top two of four, each pair already in order: if the other's best wins, the second is
        // the better of my best and its second; else the better of its best and my second.
        write!(
            combine,
            "    @!%p2 bra MINE_FIRST;
    mov.f32 %sv, %bv;
    mov.u32 %si, %bi;
    mov.f32 %bv, %ov;
    mov.u32 %bi, %oi;
    mov.f32 %ov, %osv;
    mov.u32 %oi, %osi;
MINE_FIRST:
    // second = the better of (ov, oi) and (sv, si)
{}    @%p2 mov.f32 %sv, %ov;
    @%p2 mov.u32 %si, %oi;
",
            better_lines("%ov", "%oi", "%sv", "%si")
        )
        .unwrap();
    } else {
        combine += "    @%p2 mov.f32 %bv, %ov;\n    @%p2 mov.u32 %bi, %oi;\n";
    }
    for (array, ty, mine, _) in arrays {
        combine += &cell(array, "%slot");
        writeln!(combine, "    st.shared.{ty} [%r1], {mine};").unwrap();
    }
    combine += "MERGED:\n";
    s += &tree_lines("TOP", &combine);
    s += "
    // row 0 writes each existing line's indices: best[line] (and second[line])
    setp.eq.u32 %p0, %ty, 0;
    and.pred %p0, %p0, %p_active;
    @!%p0 bra DONE;
    mul.wide.u32 %rd0, %line, 4;
";
    let outputs: &[(&str, &str, &str)] = if second {
        &[
            ("best", "best_index", "%bi"),
            ("second", "second_index", "%si"),
        ]
    } else {
        &[("best", "best_index", "%bi")]
    };
    for (param, array, reg) in outputs {
        s += &cell(array, "%slot");
        write!(
            s,
            "    ld.shared.u32 {reg}, [%r1];
    ld.param.u64 %rd1, [{param}];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %rd0;
    st.global.u32 [%rd1], {reg};
"
        )
        .unwrap();
    }
    s += "DONE:
    ret;
}

";
    s
}

/// The module's text: `reduce_sum`, `reduce_max`, `reduce_min`, `argmax` and `top2`.
fn ptx() -> String {
    let mut s = PTX_HEADER.to_string();
    for fold in FOLDS {
        s += &fold_kernel(fold);
    }
    s += &top_kernel(false);
    s += &top_kernel(true);
    s
}

/// Folds the lines of `x` viewed as `[outer, len, inner]`, giving `scale * fold` of each as an
/// `[outer, inner]` tensor. Splits long lines into slices when there would be too few blocks,
/// then folds the slices' partial results the same way.
fn fold_lines(
    x: &GpuTensor<f32>,
    (outer, len, inner): (usize, usize, usize),
    fold: Fold,
    scale: f32,
    op: &str,
) -> Result<GpuTensor<f32>, GpuError> {
    let gpu = x.gpu();
    let lines = outer * inner;
    let block = line_block(len, inner);
    let groups = lines.div_ceil(block.0 as usize);
    let per_slice = block.1 as usize * MIN_PER_THREAD;
    let splits = if (1..TARGET_BLOCKS).contains(&groups) && len > per_slice {
        (TARGET_BLOCKS / groups).min(len.div_ceil(per_slice))
    } else {
        1
    };
    let chunk = len.div_ceil(splits).max(1);
    let splits = len.div_ceil(chunk).max(1);
    let out = GpuTensor::uninit(gpu, [outer, splits, inner])?;
    if lines > 0 {
        let args = [
            KernelArg::U64(out.ptr()),
            KernelArg::U64(x.ptr()),
            count(lines, op).into(),
            count(len, op).into(),
            count(inner, op).into(),
            count(chunk, op).into(),
            count(splits, op).into(),
            KernelArg::F32(if splits == 1 { scale } else { 1.0 }),
        ];
        let name = format!("reduce_{}", fold.name);
        gpu.launch(&MODULE, &name, line_launch(lines, block, splits), &args)?;
    }
    if splits == 1 {
        Ok(out.reshape([outer, inner]))
    } else {
        fold_lines(&out, (outer, splits, inner), fold, scale, op)
    }
}

impl GpuTensor<f32> {
    /// Folds along `axis` (checked, naming `op`), scaled, with `axis` removed or kept as 1.
    fn fold_axis(
        &self,
        axis: usize,
        keepdim: bool,
        fold: Fold,
        scale: f32,
        op: &str,
    ) -> Result<GpuTensor<f32>, GpuError> {
        self.shape().check_axis(axis, op);
        let out = fold_lines(self, self.shape().split_at_axis(axis), fold, scale, op)?;
        Ok(out.reshape(self.shape().reduced(axis, keepdim)))
    }

    /// Folds every element into a scalar tensor.
    fn fold_all(&self, fold: Fold, scale: f32, op: &str) -> Result<GpuTensor<f32>, GpuError> {
        let out = fold_lines(self, (1, self.numel(), 1), fold, scale, op)?;
        Ok(out.reshape(Shape::scalar()))
    }

    /// Sum along `axis`.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Result<GpuTensor<f32>, GpuError> {
        self.fold_axis(axis, keepdim, FOLDS[0], 1.0, "sum_axis")
    }

    /// Mean along `axis` (the sum times `1 / len`, as the CPU op).
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Result<GpuTensor<f32>, GpuError> {
        self.shape().check_axis(axis, "mean_axis");
        let scale = 1.0 / self.dims()[axis] as f32;
        self.fold_axis(axis, keepdim, FOLDS[0], scale, "mean_axis")
    }

    /// Maximum along `axis` (NaN elements are skipped, as on the CPU; -inf for an empty axis).
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Result<GpuTensor<f32>, GpuError> {
        self.fold_axis(axis, keepdim, FOLDS[1], 1.0, "max_axis")
    }

    /// Minimum along `axis` (NaN elements are skipped, as on the CPU; inf for an empty axis).
    pub fn min_axis(&self, axis: usize, keepdim: bool) -> Result<GpuTensor<f32>, GpuError> {
        self.fold_axis(axis, keepdim, FOLDS[2], 1.0, "min_axis")
    }

    /// Sum of all elements, as a scalar tensor.
    pub fn sum_all(&self) -> Result<GpuTensor<f32>, GpuError> {
        self.fold_all(FOLDS[0], 1.0, "sum_all")
    }

    /// Mean of all elements, as a scalar tensor.
    pub fn mean_all(&self) -> Result<GpuTensor<f32>, GpuError> {
        self.fold_all(FOLDS[0], 1.0 / self.numel() as f32, "mean_all")
    }

    /// Largest element (NaN skipped), as a scalar tensor.
    pub fn max_all(&self) -> Result<GpuTensor<f32>, GpuError> {
        self.fold_all(FOLDS[1], 1.0, "max_all")
    }

    /// Smallest element (NaN skipped), as a scalar tensor.
    pub fn min_all(&self) -> Result<GpuTensor<f32>, GpuError> {
        self.fold_all(FOLDS[2], 1.0, "min_all")
    }

    /// Runs `argmax` or (`second`) `top2` along `axis`, checked as the CPU op `op` checks it.
    fn top_along(
        &self,
        axis: usize,
        second: bool,
        op: &str,
    ) -> Result<(GpuTensor<u32>, Option<GpuTensor<u32>>), GpuError> {
        let (outer, len, inner) = split_for_best_two(self.shape(), axis, op, second);
        let gpu = self.gpu();
        let shape = self.shape().reduced(axis, false);
        let best = GpuTensor::<u32>::uninit(gpu, shape.clone())?;
        let runner_up = if second {
            Some(GpuTensor::<u32>::uninit(gpu, shape)?)
        } else {
            None
        };
        let lines = outer * inner;
        if lines > 0 {
            let mut args = vec![KernelArg::U64(best.ptr())];
            args.extend(runner_up.iter().map(|t| KernelArg::U64(t.ptr())));
            args.extend([
                KernelArg::U64(self.ptr()),
                count(lines, op).into(),
                count(len, op).into(),
                count(inner, op).into(),
            ]);
            let name = if second { "top2" } else { "argmax" };
            let config = line_launch(lines, line_block(len, inner), 1);
            gpu.launch(&MODULE, name, config, &args)?;
        }
        Ok((best, runner_up))
    }

    /// Index of the maximum along `axis` (the first one on ties), with `axis` removed.
    pub fn argmax_axis(&self, axis: usize) -> Result<GpuTensor<u32>, GpuError> {
        Ok(self.top_along(axis, false, "argmax_axis")?.0)
    }

    /// Indices of the largest and second-largest elements along `axis` (lower index first on
    /// ties), each with `axis` removed.
    pub fn top2_axis(&self, axis: usize) -> Result<(GpuTensor<u32>, GpuTensor<u32>), GpuError> {
        let (best, second) = self.top_along(axis, true, "top2_axis")?;
        Ok((best, second.expect("top2 writes a second index")))
    }

    /// Sums away the axes that broadcasting added or stretched, giving `target`'s shape: the
    /// gradient of `broadcast_to`. Each run of neighbouring summed axes is one reduction.
    pub fn sum_to(&self, target: &Shape) -> Result<GpuTensor<f32>, GpuError> {
        if self.shape() == target {
            return Ok(self.clone());
        }
        let fail = || -> ! { panic!("sum_to: cannot reduce {:?} to {target:?}", self.shape()) };
        let extra = self
            .rank()
            .checked_sub(target.rank())
            .unwrap_or_else(|| fail());
        // Summed axes: the extra leading ones, and those where the target has 1 but x does not.
        let summed: Vec<bool> = (0..self.rank())
            .map(|a| a < extra || (target.dims()[a - extra] == 1 && self.dims()[a] != 1))
            .collect();
        for (a, &d) in self.dims().iter().enumerate().skip(extra) {
            if !summed[a] && d != target.dims()[a - extra] {
                fail();
            }
        }
        // Merge each run of summed axes (and of kept axes) into one axis: a free reshape.
        let mut groups: Vec<(usize, bool)> = Vec::new();
        for (&d, &s) in self.dims().iter().zip(&summed) {
            match groups.last_mut() {
                Some((size, last)) if *last == s => *size *= d,
                _ => groups.push((d, s)),
            }
        }
        let dims: Vec<usize> = groups.iter().map(|g| g.0).collect();
        let mut out = self.reshape(dims);
        for axis in (0..groups.len()).filter(|&a| groups[a].1) {
            out = out.sum_axis(axis, true)?;
        }
        Ok(out.reshape(target.clone()))
    }
}
