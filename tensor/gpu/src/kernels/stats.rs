//! Per-channel statistics of NCHW tensors on the GPU (what batch normalisation needs),
//! mirroring `tensor::ops::stats`.
//!
//! Like the CPU it takes two passes over each channel's `N * H * W` values, the mean first and
//! then the squared deviations from it, so the variance does not lose precision to
//! cancellation. Each pass is two kernels:
//! - `channel_sums` / `channel_square_deviations` run a grid of `C x S` blocks of
//!   [`STATS_BLOCK`] threads: block `(c, s)` sums its share (every `S`-th run of `STATS_BLOCK`
//!   elements) of channel `c`, each thread striding through the channel so that neighbouring
//!   threads read neighbouring addresses, then adds the threads' sums in a shared-memory tree
//!   (`log2(STATS_BLOCK)` halving steps, each closed by a `bar.sync` that every thread reaches)
//!   and writes one partial sum. `S` grows with the channel's size, so a large batch fills the
//!   GPU rather than `C` blocks of it.
//! - `channel_finish`: one thread per channel adds its `S` partial sums in order and divides by
//!   the count.
//!
//! Everything is deterministic. The sums are taken in another order than the CPU's running sum,
//! so results agree to rounding, not bit for bit (the tree is the more accurate of the two).

use super::movement::launch::to_u32;
use super::movement::snippets::{element_addr, load_base, thread_index};
use crate::device_tensor::GpuTensor;
use crate::error::GpuError;
use crate::launch::{BLOCK_1D, LaunchConfig};
use crate::module::{PTX_HEADER, PtxModule};
use std::fmt::Write;
use tensor_spec::checks::channel_layout;

/// Threads per block of the partial-sum kernels (a power of two: the reduction tree halves it).
pub const STATS_BLOCK: u32 = 256;

/// Elements each thread of a partial-sum kernel should at least sum before more blocks per
/// channel are worth their extra partial sums.
const PER_THREAD: usize = 16;

/// The most blocks one channel is split over.
const MAX_SPLITS: usize = 256;

/// The module.
pub static MODULE: PtxModule = PtxModule::new("stats", ptx);

/// The partial sums of block `(ch, s)` of a `C x S` grid: thread `tid` starts at element
/// `s * ntid + tid` of the channel's `N * plane` values and strides by `S * ntid`, walking
/// (image `img`, position `p` in the plane) without dividing; it accumulates `sum += value`, or
/// `sum += (value - mean[ch])^2` when `deviation`. The block's total goes to
/// `partials[ch * S + s]`.
fn partial_sums_kernel(name: &str, deviation: bool) -> String {
    let (comment, mean, accumulate) = if deviation {
        (
            "sum of (x - mean[c])^2",
            "    ld.param.u64 %a, [mean];
    cvta.to.global.u64 %a, %a;
    mul.wide.u32 %off, %ch, 4;
    add.u64 %a, %a, %off;
    ld.global.nc.f32 %mean, [%a];
",
            "    sub.f32 %x, %x, %mean;
    fma.rn.f32 %sum, %x, %x, %sum;       // sum += (x - mean)^2",
        )
    } else {
        ("sum of x", "", "    add.f32 %sum, %sum, %x;")
    };
    let mut tree = String::new();
    let mut half = STATS_BLOCK / 2;
    while half > 0 {
        let _ = write!(
            tree,
            "    setp.lo.u32 %active, %t, {half};
    @%active ld.shared.f32 %x, [%mine+{bytes}];
    @%active ld.shared.f32 %y, [%mine];
    @%active add.f32 %y, %y, %x;
    @%active st.shared.f32 [%mine], %y;
    bar.sync 0;
",
            bytes = half * 4
        );
        half /= 2;
    }
    format!(
        "// Partial {comment} of channel c = ctaid.x over the share s = ctaid.y of an (N, C, plane)
// tensor: partials[c * nctaid.y + s].
.visible .entry {name}(
    .param .u64 x,
    .param .u64 mean,
    .param .u64 partials,
    .param .u32 batch,
    .param .u32 channels,
    .param .u32 plane)
{{
    .reg .pred %end, %wrap, %active, %first;
    .reg .u32 %t, %ch, %split, %splits, %stride, %batch, %channels, %plane;
    .reg .u32 %img, %p, %at, %step_img, %step_p;
    .reg .u64 %x_base, %off, %a, %shared, %mine;
    .reg .f32 %x, %y, %sum, %mean;
    .shared .align 4 .f32 partial[{block}];
    mov.u32 %t, %tid.x;
    mov.u32 %ch, %ctaid.x;
    mov.u32 %split, %ctaid.y;
    mov.u32 %splits, %nctaid.y;
    mov.u32 %stride, %ntid.x;
    ld.param.u32 %batch, [batch];
    ld.param.u32 %channels, [channels];
    ld.param.u32 %plane, [plane];
    ld.param.u64 %x_base, [x];
    cvta.to.global.u64 %x_base, %x_base;
{mean}    // the thread's first element e = split * ntid + t as (img, p), and its stride
    // S * ntid as (step_img images, step_p positions)
    mad.lo.u32 %at, %split, %stride, %t;
    div.u32 %img, %at, %plane;
    rem.u32 %p, %at, %plane;
    mul.lo.u32 %stride, %stride, %splits;
    div.u32 %step_img, %stride, %plane;
    rem.u32 %step_p, %stride, %plane;
    mov.f32 %sum, 0f00000000;
LOOP:
    setp.hs.u32 %end, %img, %batch;
    @%end bra REDUCE;
    mad.lo.u32 %at, %img, %channels, %ch;   // at = (img * C + ch) * plane + p
    mad.lo.u32 %at, %at, %plane, %p;
    mul.wide.u32 %off, %at, 4;
    add.u64 %a, %x_base, %off;
    ld.global.nc.f32 %x, [%a];
{accumulate}
    add.u32 %p, %p, %step_p;             // next element, carrying p past the plane's end
    add.u32 %img, %img, %step_img;
    setp.hs.u32 %wrap, %p, %plane;
    @%wrap sub.u32 %p, %p, %plane;
    @%wrap add.u32 %img, %img, 1;
    bra.uni LOOP;
REDUCE:
    // block sum: partial[t] = sum, then halve: partial[t] += partial[t + h] for t < h
    mov.u64 %shared, partial;
    mul.wide.u32 %off, %t, 4;
    add.u64 %mine, %shared, %off;
    st.shared.f32 [%mine], %sum;
    bar.sync 0;
{tree}    setp.eq.u32 %first, %t, 0;
    @!%first bra DONE;
    ld.shared.f32 %y, [%shared];
    mad.lo.u32 %at, %ch, %splits, %split;
    ld.param.u64 %a, [partials];
    cvta.to.global.u64 %a, %a;
    mul.wide.u32 %off, %at, 4;
    add.u64 %a, %a, %off;
    st.global.f32 [%a], %y;
DONE:
    ret;
}}
",
        block = STATS_BLOCK,
    )
}

/// `out[c] = (partials[c * splits] + ... + partials[c * splits + splits - 1]) / count`.
fn finish_kernel() -> String {
    format!(
        "// One thread per channel: out[c] = the sum of its `splits` partial sums, in order, / count.
.visible .entry channel_finish(
    .param .u64 partials,
    .param .u64 out,
    .param .u32 n,
    .param .u32 splits,
    .param .f32 count)
{{
{index}    .reg .pred %more;
    .reg .u32 %splits, %j, %end;
    .reg .u64 %partials, %out, %a;
    .reg .f32 %sum, %x, %count;
    ld.param.u32 %splits, [splits];
    mul.lo.u32 %j, %i, %splits;
    add.u32 %end, %j, %splits;
{partials}    mov.f32 %sum, 0f00000000;
LOOP:
{a_j}    ld.global.nc.f32 %x, [%a];
    add.f32 %sum, %sum, %x;
    add.u32 %j, %j, 1;
    setp.lo.u32 %more, %j, %end;
    @%more bra LOOP;
    ld.param.f32 %count, [count];
    div.rn.f32 %sum, %sum, %count;
{out}{a_out}    st.global.f32 [%a], %sum;
DONE:
    ret;
}}
",
        index = thread_index(),
        partials = load_base("%partials", "partials"),
        a_j = element_addr("%a", "%partials", "%j"),
        out = load_base("%out", "out"),
        a_out = element_addr("%a", "%out", "%i"),
    )
}

fn ptx() -> String {
    [
        PTX_HEADER.to_string(),
        partial_sums_kernel("channel_sums", false),
        partial_sums_kernel("channel_square_deviations", true),
        finish_kernel(),
    ]
    .join("\n")
}

impl GpuTensor<f32> {
    /// Mean and biased variance of each channel of an NCHW (or NC) tensor over the batch and
    /// spatial axes, each shaped `[C]`; two passes, as the CPU op.
    pub fn channel_mean_var(&self) -> Result<(Self, Self), GpuError> {
        let (n, c, plane) = channel_layout("channel_mean_var", self.shape());
        let op = "channel_mean_var";
        to_u32(self.numel(), op); // the kernels' 32-bit offsets must reach every element
        let gpu = self.gpu();
        let mean = GpuTensor::uninit(gpu, [c])?;
        let var = GpuTensor::uninit(gpu, [c])?;
        if c == 0 {
            return Ok((mean, var));
        }
        let per_channel = n * plane;
        let splits = per_channel
            .div_ceil(STATS_BLOCK as usize * PER_THREAD)
            .clamp(1, MAX_SPLITS);
        let partials = GpuTensor::<f32>::uninit(gpu, [c * splits])?;
        let grid = LaunchConfig {
            grid: (to_u32(c, op), splits as u32, 1),
            block: (STATS_BLOCK, 1, 1),
            shared_bytes: 0,
        };
        // An empty plane is an empty batch of 1-element planes (count 0: NaN, as the CPU's
        // 0 / 0), which keeps the kernels' divisions by `plane` defined.
        let (batch, plane) = if plane == 0 { (0, 1) } else { (n, plane) };
        // The count as the CPU's `from_usize`: rounded to the nearest f32.
        let count = per_channel as f32;
        for (sums, out) in [("channel_sums", &mean), ("channel_square_deviations", &var)] {
            gpu.launch(
                &MODULE,
                sums,
                grid,
                &[
                    self.ptr().into(),
                    mean.ptr().into(),
                    partials.ptr().into(),
                    to_u32(batch, op).into(),
                    to_u32(c, op).into(),
                    to_u32(plane, op).into(),
                ],
            )?;
            gpu.launch(
                &MODULE,
                "channel_finish",
                LaunchConfig::linear(c, BLOCK_1D),
                &[
                    partials.ptr().into(),
                    out.ptr().into(),
                    to_u32(c, op).into(),
                    (splits as u32).into(),
                    count.into(),
                ],
            )?;
        }
        Ok((mean, var))
    }
}
