//! Per-channel statistics of NCHW tensors on the GPU (what batch normalisation needs),
//! mirroring [`crate::ops::stats`].
//!
//! One block of [`STATS_BLOCK`] threads per channel. Like the CPU it takes two passes over the
//! channel's `N * H * W` values, the mean first and then the squared deviations from it, so the
//! variance does not lose precision to cancellation. In each pass every thread sums a strided
//! share of the values (neighbouring threads read neighbouring addresses of a plane), then the
//! block adds the partial sums in a shared-memory tree: `log2(STATS_BLOCK)` halving steps, each
//! closed by a `bar.sync` that every thread reaches. The tree sums in a different order than the
//! CPU's running sum, so results agree to rounding, not bit for bit (the tree is the more
//! accurate of the two).

use super::movement::to_u32;
use crate::cuda::device_tensor::GpuTensor;
use crate::cuda::error::GpuError;
use crate::cuda::launch::LaunchConfig;
use crate::cuda::module::{PTX_HEADER, PtxModule};
use std::fmt::Write;

/// Threads per block of `channel_mean_var` (a power of two: the reduction tree halves it).
pub const STATS_BLOCK: u32 = 256;

/// The module.
pub static MODULE: PtxModule = PtxModule::new("stats", ptx);

/// One pass over the channel: each thread walks elements `tid, tid + ntid, ...` of the channel's
/// `N * plane` values (image `img`, position `p` in the plane, advanced without dividing) and
/// accumulates `sum += value` (`deviation == false`) or `sum += (value - mean)^2`.
fn channel_pass(label: &str, deviation: bool) -> String {
    let accumulate = if deviation {
        "    sub.f32 %x, %x, %mean;
    fma.rn.f32 %sum, %x, %x, %sum;      // sum += (x - mean)^2"
    } else {
        "    add.f32 %sum, %sum, %x;"
    };
    format!(
        "    // {label}: the thread starts at element tid = (img, p) of the channel
    mov.f32 %sum, 0f00000000;
    div.u32 %img, %t, %plane;
    rem.u32 %p, %t, %plane;
{label}_LOOP:
    setp.hs.u32 %end, %img, %batch;
    @%end bra {label}_DONE;
    mad.lo.u32 %at, %img, %channels, %ch;   // at = (img * C + ch) * plane + p
    mad.lo.u32 %at, %at, %plane, %p;
    mul.wide.u32 %off, %at, 4;
    add.u64 %a, %x_base, %off;
    ld.global.nc.f32 %x, [%a];
{accumulate}
    // next element: tid + ntid = (img + q, p + r), carrying p past the plane's end
    add.u32 %p, %p, %step_p;
    add.u32 %img, %img, %step_img;
    setp.hs.u32 %wrap, %p, %plane;
    @%wrap sub.u32 %p, %p, %plane;
    @%wrap add.u32 %img, %img, 1;
    bra.uni {label}_LOOP;
{label}_DONE:
"
    )
}

/// Adds the block's partial sums (each thread's `%sum`) into `partial[0]`, tree-wise.
fn block_sum() -> String {
    let mut s = String::from(
        "    // block sum: partial[t] = sum, then halve: partial[t] += partial[t + s] for t < s
    mul.wide.u32 %off, %t, 4;
    add.u64 %mine, %shared, %off;
    st.shared.f32 [%mine], %sum;
    bar.sync 0;
",
    );
    let mut half = STATS_BLOCK / 2;
    while half > 0 {
        let _ = write!(
            s,
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
    s
}

fn channel_mean_var_kernel() -> String {
    format!(
        "// Per-channel mean and biased variance: block ch reduces channel ch of an (N, C, plane)
// tensor in two passes; thread 0 writes mean[ch] and var[ch].
.visible .entry channel_mean_var(
    .param .u64 x,
    .param .u64 mean,
    .param .u64 var,
    .param .u32 batch,
    .param .u32 channels,
    .param .u32 plane)
{{
    .reg .pred %end, %wrap, %active, %first;
    .reg .u32 %t, %ch, %threads, %batch, %channels, %plane, %img, %p, %at, %step_img, %step_p;
    .reg .u64 %x_base, %off, %a, %shared, %mine;
    .reg .f32 %x, %y, %sum, %mean, %count;
    .shared .align 4 .f32 partial[{block}];
    mov.u32 %t, %tid.x;
    mov.u32 %ch, %ctaid.x;
    mov.u32 %threads, %ntid.x;
    ld.param.u32 %batch, [batch];
    ld.param.u32 %channels, [channels];
    ld.param.u32 %plane, [plane];
    ld.param.u64 %x_base, [x];
    cvta.to.global.u64 %x_base, %x_base;
    mov.u64 %shared, partial;
    // a thread's stride ntid, as (images, positions): q = ntid / plane, r = ntid % plane
    div.u32 %step_img, %threads, %plane;
    rem.u32 %step_p, %threads, %plane;
    // count = N * plane as f32, as the CPU's from_usize
    mul.lo.u32 %at, %batch, %plane;
    cvt.rn.f32.u32 %count, %at;
{pass1}{sum1}    ld.shared.f32 %mean, [%shared];
    div.rn.f32 %mean, %mean, %count;
    bar.sync 0;                          // everyone has read partial[0] before it is reused
{pass2}{sum2}    setp.eq.u32 %first, %t, 0;
    @!%first bra DONE;
    ld.shared.f32 %y, [%shared];
    div.rn.f32 %y, %y, %count;
    mul.wide.u32 %off, %ch, 4;
    ld.param.u64 %a, [mean];
    cvta.to.global.u64 %a, %a;
    add.u64 %a, %a, %off;
    st.global.f32 [%a], %mean;
    ld.param.u64 %a, [var];
    cvta.to.global.u64 %a, %a;
    add.u64 %a, %a, %off;
    st.global.f32 [%a], %y;
DONE:
    ret;
}}
",
        block = STATS_BLOCK,
        pass1 = channel_pass("MEAN", false),
        sum1 = block_sum(),
        pass2 = channel_pass("VAR", true),
        sum2 = block_sum(),
    )
}

fn ptx() -> String {
    [PTX_HEADER.to_string(), channel_mean_var_kernel()].join("\n")
}

impl GpuTensor<f32> {
    /// Mean and biased variance of each channel of an NCHW (or NC) tensor over the batch and
    /// spatial axes, each shaped `[C]`; two passes, as the CPU op.
    pub fn channel_mean_var(&self) -> Result<(Self, Self), GpuError> {
        let d = self.dims();
        assert!(
            d.len() == 2 || d.len() == 4,
            "channel_mean_var: expected NC or NCHW, got shape {:?}",
            self.shape()
        );
        let (n, c) = (d[0], d[1]);
        let plane: usize = d[2..].iter().product();
        let op = "channel_mean_var";
        to_u32(self.numel(), op); // the kernel's 32-bit offsets must reach every element
        let mean = GpuTensor::uninit(self.gpu(), [c])?;
        let var = GpuTensor::uninit(self.gpu(), [c])?;
        if c == 0 {
            return Ok((mean, var));
        }
        let config = LaunchConfig {
            grid: (to_u32(c, op), 1, 1),
            block: (STATS_BLOCK, 1, 1),
            shared_bytes: 0,
        };
        self.gpu().launch(
            &MODULE,
            "channel_mean_var",
            config,
            &[
                self.ptr().into(),
                mean.ptr().into(),
                var.ptr().into(),
                // An empty plane is an empty batch of 1-element planes (count 0: NaN, as the
                // CPU's 0 / 0), which keeps the kernel's divisions by `plane` defined.
                to_u32(if plane == 0 { 0 } else { n }, op).into(),
                to_u32(c, op).into(),
                to_u32(plane.max(1), op).into(),
            ],
        )?;
        Ok((mean, var))
    }
}
