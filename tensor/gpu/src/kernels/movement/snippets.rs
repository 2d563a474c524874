//! PTX snippets shared by the movement kernels and the other one-thread-per-element kernel files
//! (index, stats, rng, optim, scan): parameter slots, the thread-index prologue, element
//! addressing, and the strided walk over up to [`MAX_RANK`] axes.

use std::fmt::Write;

/// The most axes a strided kernel walks (after merging contiguous axes and dropping size-1 ones).
pub const MAX_RANK: usize = 6;

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
