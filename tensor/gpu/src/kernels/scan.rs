//! Ops that look along a whole axis at once, on the GPU: a stable sort (values and the indices
//! that sort them) and a cumulative sum, the twins of `tensor::ops::scan`, bit for bit.
//!
//! As on the CPU, a tensor is viewed as `[outer, len, inner]` along the axis: line `(o, c)`
//! holds `x[o, l, c]` for `l < len`, `inner` apart in memory.
//!
//! `sort_by_rank` sorts by counting, one thread per element: element `l` of a line goes to
//! position `rank(l)`, the number of elements of the line that come before it in the order.
//! Each thread walks its whole line in global memory, so a line costs `len^2` comparisons, all
//! in parallel; there is no shared state, no atomic and no data-dependent schedule, so the
//! result is deterministic, and the ranks of a line are distinct (the order is total, ties
//! broken by index), so every output slot is written exactly once. The order compares integer
//! keys: the f32 bits mapped to an unsigned integer whose order is the float order (negative
//! values' bits flipped, positive ones' sign bit set), with `-0` keyed as `+0`, every NaN keyed
//! above `+inf` (NaN counts as the largest value, as PyTorch sorts), and all bits flipped for a
//! descending sort. Equal keys keep index order, in both directions: a stable sort.
//!
//! `cumsum`, one thread per line, adds the line's elements in order from `+0`: the CPU's loop,
//! hence the CPU's rounding, exactly.

use super::movement::launch::to_u32;
use super::movement::snippets::{element_addr, load_base, thread_index};
use crate::device_tensor::GpuTensor;
use crate::error::GpuError;
use crate::launch::{BLOCK_1D, LaunchConfig};
use crate::module::{PTX_HEADER, PtxModule};

/// The module.
pub static MODULE: PtxModule = PtxModule::new("scan", ptx);

/// PTX setting `.u32 key` to the sort key of the f32 bits in `.u32 bits` (see the module
/// docs), xor `%flip`. Uses `.u32 %mag, %sign` and `.pred %nan, %zero`.
fn key_lines(key: &str, bits: &str) -> String {
    format!(
        "    // {key} = the order of {bits} as an unsigned integer: negative values' bits flipped,
    // positive ones' sign bit set; -0 as +0; any NaN above +inf; then xor flip
    and.b32 %mag, {bits}, 0x7FFFFFFF;
    setp.hi.u32 %nan, %mag, 0x7F800000;
    setp.eq.u32 %zero, %mag, 0;
    shr.s32 %sign, {bits}, 31;           // all ones for a negative value, else 0
    or.b32 %sign, %sign, 0x80000000;
    xor.b32 {key}, {bits}, %sign;
    @%zero mov.u32 {key}, 0x80000000;
    @%nan mov.u32 {key}, 0xFFFFFFFF;
    xor.b32 {key}, {key}, %flip;
"
    )
}

/// `sort_by_rank(x, values, indices, n, len, inner, flip)`: thread `i < n` (one per element,
/// `n = outer * len * inner`) takes element `l` of its line, counts the elements `m` of the
/// line with a smaller key, or an equal key and `m < l`, and writes the element and `l` at
/// that position of its line in `values` and `indices`. `flip` is 0 (ascending) or all ones
/// (descending).
fn sort_kernel() -> String {
    format!(
        "// Stable sort along an axis by counting: x[o, l, c] goes to values[o, rank, c] (and l to
// indices[o, rank, c]), rank = #{{m : key(x[o, m, c]) < key(x[o, l, c]), or equal and m < l}}.
.visible .entry sort_by_rank(
    .param .u64 x,
    .param .u64 values,
    .param .u64 indices,
    .param .u32 n,
    .param .u32 len,
    .param .u32 inner,
    .param .u32 flip)
{{
{index}    .reg .pred %nan, %zero, %before, %tie, %earlier, %more;
    .reg .u32 %len, %inner, %flip, %l, %first, %m, %rank, %own, %mine, %bits, %key, %mag, %sign;
    .reg .u64 %x, %a, %step, %out;
    ld.param.u32 %len, [len];
    ld.param.u32 %inner, [inner];
    ld.param.u32 %flip, [flip];
    // l = (i / inner) % len; the line's first element is i - l * inner
    div.u32 %first, %i, %inner;
    rem.u32 %l, %first, %len;
    mul.lo.u32 %first, %l, %inner;
    sub.u32 %first, %i, %first;
{x}{a_own}    ld.global.nc.u32 %own, [%a];
{key_own}    // rank = the elements m of the line before this one (len >= 1: this thread exists)
{a_first}    mul.wide.u32 %step, %inner, 4;
    mov.u32 %m, 0;
    mov.u32 %rank, 0;
LOOP:
    ld.global.nc.u32 %bits, [%a];
{key_m}    setp.lo.u32 %before, %key, %mine;
    setp.eq.u32 %tie, %key, %mine;
    setp.lo.u32 %earlier, %m, %l;
    and.pred %tie, %tie, %earlier;
    or.pred %before, %before, %tie;
    @%before add.u32 %rank, %rank, 1;
    add.u64 %a, %a, %step;
    add.u32 %m, %m, 1;
    setp.lo.u32 %more, %m, %len;
    @%more bra LOOP;
    // values[first + rank * inner] = x[i]; indices[first + rank * inner] = l
    mad.lo.u32 %first, %rank, %inner, %first;
{values}{a_values}    st.global.b32 [%a], %own;
{indices}{a_indices}    st.global.u32 [%a], %l;
DONE:
    ret;
}}
",
        index = thread_index(),
        x = load_base("%x", "x"),
        a_own = element_addr("%a", "%x", "%i"),
        key_own = key_lines("%mine", "%own"),
        a_first = element_addr("%a", "%x", "%first"),
        key_m = key_lines("%key", "%bits"),
        values = load_base("%out", "values"),
        a_values = element_addr("%a", "%out", "%first"),
        indices = load_base("%out", "indices"),
        a_indices = element_addr("%a", "%out", "%first"),
    )
}

/// `cumsum(x, out, n, len, inner)`: thread `i < n` (one per line, `n = outer * inner`) runs
/// `acc = +0; for l: acc += x[o, l, c]; out[o, l, c] = acc`.
fn cumsum_kernel() -> String {
    format!(
        "// Running sums along an axis, one thread per line (o, c) = (i / inner, i % inner), added in
// order from +0 as the CPU does: out[o, l, c] = x[o, 0, c] + ... + x[o, l, c].
.visible .entry cumsum(
    .param .u64 x,
    .param .u64 out,
    .param .u32 n,
    .param .u32 len,
    .param .u32 inner)
{{
{index}    .reg .pred %more;
    .reg .u32 %len, %inner, %first, %c, %l;
    .reg .u64 %x, %out, %a, %b, %step;
    .reg .f32 %v, %acc;
    ld.param.u32 %len, [len];
    ld.param.u32 %inner, [inner];
    // the line's first element: (o len) inner + c
    div.u32 %first, %i, %inner;
    rem.u32 %c, %i, %inner;
    mul.lo.u32 %first, %first, %len;
    mad.lo.u32 %first, %first, %inner, %c;
{x}{a_x}{out}{b_out}    mul.wide.u32 %step, %inner, 4;
    mov.f32 %acc, 0f00000000;
    mov.u32 %l, 0;
    // len >= 1: the host launches nothing for an empty tensor
LOOP:
    ld.global.nc.f32 %v, [%a];
    add.rn.f32 %acc, %acc, %v;
    st.global.f32 [%b], %acc;
    add.u64 %a, %a, %step;
    add.u64 %b, %b, %step;
    add.u32 %l, %l, 1;
    setp.lo.u32 %more, %l, %len;
    @%more bra LOOP;
DONE:
    ret;
}}
",
        index = thread_index(),
        x = load_base("%x", "x"),
        a_x = element_addr("%a", "%x", "%first"),
        out = load_base("%out", "out"),
        b_out = element_addr("%b", "%out", "%first"),
    )
}

/// The module's text: `sort_by_rank` and `cumsum`.
fn ptx() -> String {
    [PTX_HEADER.to_string(), sort_kernel(), cumsum_kernel()].join("\n")
}

impl GpuTensor<f32> {
    /// Sorted values along `axis` and, for each, the index it came from; equal values keep
    /// their order (a stable sort), NaN counts as the largest value; `descending` sorts from
    /// the largest. Bit for bit the CPU's `tensor::Tensor::sort_axis`.
    pub fn sort_axis(
        &self,
        axis: usize,
        descending: bool,
    ) -> Result<(GpuTensor<f32>, GpuTensor<u32>), GpuError> {
        let op = "sort_axis";
        self.shape().check_axis(axis, op);
        let (_, len, inner) = self.shape().split_at_axis(axis);
        let gpu = self.gpu();
        let values = GpuTensor::uninit(gpu, self.shape().clone())?;
        let indices = GpuTensor::uninit(gpu, self.shape().clone())?;
        let n = self.numel();
        if n > 0 {
            gpu.launch(
                &MODULE,
                "sort_by_rank",
                LaunchConfig::linear(n, BLOCK_1D),
                &[
                    self.ptr().into(),
                    values.ptr().into(),
                    indices.ptr().into(),
                    to_u32(n, op).into(),
                    to_u32(len, op).into(),
                    to_u32(inner, op).into(),
                    (if descending { u32::MAX } else { 0 }).into(),
                ],
            )?;
        }
        Ok((values, indices))
    }

    /// Running sums along `axis`, added in order from the first element: bit for bit the CPU's
    /// `tensor::Tensor::cumsum_axis`.
    pub fn cumsum_axis(&self, axis: usize) -> Result<GpuTensor<f32>, GpuError> {
        let op = "cumsum_axis";
        self.shape().check_axis(axis, op);
        let (outer, len, inner) = self.shape().split_at_axis(axis);
        let gpu = self.gpu();
        let out = GpuTensor::uninit(gpu, self.shape().clone())?;
        to_u32(self.numel(), op); // the kernel's 32-bit offsets must reach every element
        if out.numel() > 0 {
            let lines = outer * inner;
            gpu.launch(
                &MODULE,
                "cumsum",
                LaunchConfig::linear(lines, BLOCK_1D),
                &[
                    self.ptr().into(),
                    out.ptr().into(),
                    to_u32(lines, op).into(),
                    to_u32(len, op).into(),
                    to_u32(inner, op).into(),
                ],
            )?;
        }
        Ok(out)
    }
}
