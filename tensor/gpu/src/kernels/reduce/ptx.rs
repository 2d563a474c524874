//! The reduction module's PTX text: `reduce_sum`, `reduce_max`, `reduce_min` over a slice of
//! each line, and `argmax` and `top2` with their ties broken as on the CPU.

use super::lines::{BLOCK, LINE_REGS, line_address_lines, line_setup_lines, tree_lines};
use crate::kernels::elementwise::math::imm;
use crate::module::{PTX_HEADER, PtxModule};
use std::fmt::Write;

/// The module.
pub static MODULE: PtxModule = PtxModule::new("reduce", ptx);

/// A fold of f32 values: its name, identity and PTX instruction (`op.f32 d, a, b`).
#[derive(Clone, Copy)]
pub(super) struct Fold {
    pub(super) name: &'static str,
    identity: f32,
    instruction: &'static str,
}

/// Sum (0, `add.rn`), maximum (-inf, `max`: NaN is skipped, as the CPU's `b > a` fold) and
/// minimum (inf, `min`).
pub(super) const FOLDS: [Fold; 3] = [
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
