//! 2-D max and average pooling over NCHW [`GpuTensor`]s and their gradients, the GPU twins of
//! the CPU ops in `tensor::ops::pool` (same window clipping, tie and NaN rules, same sums).
//!
//! The forward kernels run one thread per output and walk its window clipped to the image. The
//! backward kernels run one thread per *input* pixel and gather from the outputs whose windows
//! cover it, in the order the CPU's scatter adds them: no atomics, the same bits on every run
//! and the same bits as the CPU, even where windows overlap (kernel 3, stride 2).

use crate::device_tensor::GpuTensor;
use crate::error::GpuError;
use crate::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use crate::module::{PTX_HEADER, PtxModule};
use tensor_spec::Shape;
use tensor_spec::pool::{
    Pool2dGeometry, check_max_pool_indices, check_nchw, check_pooled_gradient,
};

/// The module: `max_pool2d_forward`, `max_pool2d_backward`, `avg_pool2d_forward`,
/// `avg_pool2d_backward`.
pub static MODULE: PtxModule = PtxModule::new("pool", ptx);

/// The parameters every pooling kernel takes after its pointers: the element count it runs
/// one thread per, the input and output plane sizes, and the geometry.
const GEOMETRY_PARAMS: &str = ".param .u32 p_total, .param .u32 p_h, .param .u32 p_w,
    .param .u32 p_oh, .param .u32 p_ow, .param .u32 p_k, .param .u32 p_s, .param .u32 p_pad";

/// Declarations and code shared by every kernel: loads the geometry, computes the thread's
/// element `%i` and leaves if it is past `p_total`.
const PROLOGUE: &str = "    .reg .pred %p, %q;
    .reg .b32 %i, %total, %h, %w, %oh, %ow, %k, %s, %pad, %t<4>;
    .reg .b32 %plane, %at, %y, %x, %y0, %y1, %x0, %x1, %rowat, %cell;
    .reg .b64 %rd<4>, %base;
    .reg .f32 %v, %acc, %scale;
    ld.param.u32 %total, [p_total];
    ld.param.u32 %h, [p_h];
    ld.param.u32 %w, [p_w];
    ld.param.u32 %oh, [p_oh];
    ld.param.u32 %ow, [p_ow];
    ld.param.u32 %k, [p_k];
    ld.param.u32 %s, [p_s];
    ld.param.u32 %pad, [p_pad];
    // one thread per element: i = ctaid.x * ntid.x + tid.x
    mov.u32 %t0, %ctaid.x;
    mov.u32 %t1, %ntid.x;
    mov.u32 %t2, %tid.x;
    mad.lo.u32 %i, %t0, %t1, %t2;
    setp.ge.u32 %p, %i, %total;
    @%p bra DONE;";

/// Code shared by the forward kernels: the output `(plane, oy, ox)` of thread `%i`, its window
/// rows `y0..y1` and columns `x0..x1` clipped to the image (signed: the padding makes the start
/// negative), and `%base`, the address of the plane in the input `p_x`.
const FORWARD_WINDOW: &str = "    // which output: plane, oy = %y, ox = %x
    mul.lo.u32 %t0, %oh, %ow;
    div.u32 %plane, %i, %t0;
    rem.u32 %t1, %i, %t0;
    div.u32 %y, %t1, %ow;
    rem.u32 %x, %t1, %ow;
    // its window, clipped to the image
    mul.lo.u32 %y0, %y, %s;
    sub.s32 %y0, %y0, %pad;
    add.s32 %y1, %y0, %k;
    max.s32 %y0, %y0, 0;
    min.s32 %y1, %y1, %h;
    mul.lo.u32 %x0, %x, %s;
    sub.s32 %x0, %x0, %pad;
    add.s32 %x1, %x0, %k;
    max.s32 %x0, %x0, 0;
    min.s32 %x1, %x1, %w;
    // the input plane
    ld.param.u64 %base, [p_x];
    cvta.to.global.u64 %base, %base;
    mul.lo.u32 %t0, %h, %w;
    mul.wide.u32 %rd0, %plane, %t0;
    shl.b64 %rd0, %rd0, 2;
    add.u64 %base, %base, %rd0;";

/// PTX for the outputs along one axis whose windows cover input coordinate `coord`: output `o`
/// covers input rows `o s - pad .. o s - pad + k`, so it covers `coord` when
/// `(coord + pad + 1 - k) / s <= o <= (coord + pad) / s` (the first rounded up, at least 0).
/// Sets `first` and `last` to that range, `first..last`, clipped to `count` outputs; `shifted`
/// (which may be `coord` itself) is left holding `coord + pad`, and `tmp` is scratch. Reads the
/// stride and padding from `%s` and `%pad`. Shared with the convolution's `col2im`.
pub(super) fn covering_outputs(
    [coord, shifted, tmp]: [&str; 3],
    k: &str,
    count: &str,
    [first, last]: [&str; 2],
) -> String {
    format!(
        "    add.u32 {shifted}, {coord}, %pad;
    add.u32 {tmp}, {shifted}, 1;
    sub.s32 {tmp}, {tmp}, {k};
    max.s32 {tmp}, {tmp}, 0;
    add.u32 {tmp}, {tmp}, %s;
    sub.u32 {tmp}, {tmp}, 1;
    div.u32 {first}, {tmp}, %s;
    div.u32 {last}, {shifted}, %s;
    add.u32 {last}, {last}, 1;
    min.u32 {last}, {last}, {count};
"
    )
}

/// Code shared by the backward kernels: the input pixel `(plane, iy, ix)` of thread `%i`
/// (`%cell = iy * w + ix`), the outputs whose windows cover it (see [`covering_outputs`]), rows
/// `y0..y1` and columns `x0..x1`, and `%base`, the address of the plane in the output gradient
/// `p_dy`.
fn backward_windows() -> String {
    format!(
        "    // which input pixel: plane, iy = %y, ix = %x, cell = iy * w + ix
    mul.lo.u32 %t0, %h, %w;
    div.u32 %plane, %i, %t0;
    rem.u32 %cell, %i, %t0;
    div.u32 %y, %cell, %w;
    rem.u32 %x, %cell, %w;
    // output rows covering it: y0 = ceil(max(iy + pad + 1 - k, 0) / s), y1 = min((iy + pad) / s + 1, oh)
{rows}    // output columns covering it, likewise
{columns}    // the output-gradient plane
    ld.param.u64 %base, [p_dy];
    cvta.to.global.u64 %base, %base;
    mul.lo.u32 %t0, %oh, %ow;
    mul.wide.u32 %rd0, %plane, %t0;
    shl.b64 %rd0, %rd0, 2;
    add.u64 %base, %base, %rd0;",
        rows = covering_outputs(["%y", "%t0", "%t1"], "%k", "%oh", ["%y0", "%y1"]),
        columns = covering_outputs(["%x", "%t0", "%t1"], "%k", "%ow", ["%x0", "%x1"]),
    )
}

/// Stores `%acc` at element `%i` of the tensor at parameter `param`.
fn store_acc(param: &str) -> String {
    format!(
        "    ld.param.u64 %rd1, [{param}];
    cvta.to.global.u64 %rd1, %rd1;
    mul.wide.u32 %rd0, %i, 4;
    add.u64 %rd1, %rd1, %rd0;
    st.global.f32 [%rd1], %acc;"
    )
}

/// A loop over rows `y0..y1` and columns `x0..x1` (in `%y`, `%x`, with `%rowat = y * width`)
/// around `body`; `width` is the row length of the plane the body reads.
fn window_loop(width: &str, body: &str) -> String {
    format!(
        "    mov.u32 %y, %y0;
ROW:
    setp.ge.s32 %p, %y, %y1;
    @%p bra END;
    mul.lo.u32 %rowat, %y, {width};
    mov.u32 %x, %x0;
COL:
    setp.ge.s32 %p, %x, %x1;
    @%p bra NEXT_ROW;
{body}
    add.u32 %x, %x, 1;
    bra COL;
NEXT_ROW:
    add.u32 %y, %y, 1;
    bra ROW;
END:"
    )
}

/// Max pooling: for each output, the first maximum of its clipped window in scan order (a NaN
/// wins over any number, a later NaN over an earlier one), and its index `y * w + x`.
fn max_forward() -> String {
    let body = "    add.u32 %cell, %rowat, %x;
    mul.wide.u32 %rd1, %cell, 4;
    add.u64 %rd1, %base, %rd1;
    ld.global.nc.f32 %v, [%rd1];
    // take v if it is the first cell, larger than the best so far, or NaN
    setp.gt.f32 %p, %v, %acc;
    setp.nan.f32 %q, %v, %v;
    or.pred %p, %p, %q;
    setp.eq.u32 %q, %at, -1;
    or.pred %p, %p, %q;
    @%p mov.f32 %acc, %v;
    @%p mov.u32 %at, %cell;";
    format!(
        "// y[i], idx[i] = the maximum of output i's window and where it is.
.visible .entry max_pool2d_forward(.param .u64 p_x, .param .u64 p_y, .param .u64 p_idx,
    {GEOMETRY_PARAMS})
{{
{PROLOGUE}
{FORWARD_WINDOW}
    mov.f32 %acc, 0fFF800000;
    mov.u32 %at, -1;
{loop_}
{store}
    ld.param.u64 %rd1, [p_idx];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %rd0;
    st.global.u32 [%rd1], %at;
DONE:
    ret;
}}
",
        loop_ = window_loop("%w", body),
        store = store_acc("p_y"),
    )
}

/// Max-pooling gradient: each input pixel sums, in output order, the gradients of the outputs
/// whose recorded index is this pixel (only outputs whose windows cover it can be).
fn max_backward() -> String {
    let body = "    add.u32 %t2, %rowat, %x;
    mul.wide.u32 %rd1, %t2, 4;
    add.u64 %rd2, %rd3, %rd1;
    ld.global.nc.u32 %at, [%rd2];
    setp.eq.u32 %p, %at, %cell;
    add.u64 %rd2, %base, %rd1;
    @%p ld.global.nc.f32 %v, [%rd2];
    @%p add.f32 %acc, %acc, %v;";
    format!(
        "// dx[i] = sum of dy[o] over the outputs o whose window's maximum was input i.
.visible .entry max_pool2d_backward(.param .u64 p_dy, .param .u64 p_idx, .param .u64 p_dx,
    {GEOMETRY_PARAMS})
{{
{PROLOGUE}
{windows}
    // the same plane of the indices
    ld.param.u64 %rd3, [p_idx];
    cvta.to.global.u64 %rd3, %rd3;
    add.u64 %rd3, %rd3, %rd0;
    mov.f32 %acc, 0f00000000;
{loop_}
{store}
DONE:
    ret;
}}
",
        loop_ = window_loop("%ow", body),
        store = store_acc("p_dx"),
        windows = backward_windows(),
    )
}

/// Average pooling: the sum of the clipped window in scan order, times `1 / k^2` (padding
/// counts as zeros).
fn avg_forward() -> String {
    let body = "    add.u32 %cell, %rowat, %x;
    mul.wide.u32 %rd1, %cell, 4;
    add.u64 %rd1, %base, %rd1;
    ld.global.nc.f32 %v, [%rd1];
    add.f32 %acc, %acc, %v;";
    format!(
        "// y[i] = scale * the sum of output i's window.
.visible .entry avg_pool2d_forward(.param .u64 p_x, .param .u64 p_y, .param .f32 p_scale,
    {GEOMETRY_PARAMS})
{{
{PROLOGUE}
{FORWARD_WINDOW}
    mov.f32 %acc, 0f00000000;
{loop_}
    ld.param.f32 %v, [p_scale];
    mul.f32 %acc, %acc, %v;
{store}
DONE:
    ret;
}}
",
        loop_ = window_loop("%w", body),
        store = store_acc("p_y"),
    )
}

/// Average-pooling gradient: each input pixel sums `dy[o] / k^2` over the outputs whose windows
/// cover it, in output order.
fn avg_backward() -> String {
    let body = "    add.u32 %t2, %rowat, %x;
    mul.wide.u32 %rd1, %t2, 4;
    add.u64 %rd1, %base, %rd1;
    ld.global.nc.f32 %v, [%rd1];
    // .rn on both: no fused multiply-add, the same roundings as the CPU's share-then-add
    mul.rn.f32 %v, %v, %scale;
    add.rn.f32 %acc, %acc, %v;";
    format!(
        "// dx[i] = sum of scale * dy[o] over the outputs o whose window covers input i.
.visible .entry avg_pool2d_backward(.param .u64 p_dy, .param .u64 p_dx, .param .f32 p_scale,
    {GEOMETRY_PARAMS})
{{
{PROLOGUE}
{windows}
    ld.param.f32 %scale, [p_scale];
    mov.f32 %acc, 0f00000000;
{loop_}
{store}
DONE:
    ret;
}}
",
        loop_ = window_loop("%ow", body),
        store = store_acc("p_dx"),
        windows = backward_windows(),
    )
}

/// The module's text.
fn ptx() -> String {
    [max_forward(), max_backward(), avg_forward(), avg_backward()]
        .iter()
        .fold(PTX_HEADER.to_string(), |text, kernel| text + kernel + "\n")
}

/// The launch of one thread per element of a `total`-element tensor, and the geometry
/// parameters every kernel takes.
fn launch_args(
    op: &str,
    total: usize,
    (h, w, oh, ow): (usize, usize, usize, usize),
    geom: Pool2dGeometry,
) -> (LaunchConfig, Vec<KernelArg>) {
    let u = |v: usize| {
        KernelArg::U32(
            u32::try_from(v).unwrap_or_else(|_| panic!("{op}: size {v} does not fit in 32 bits")),
        )
    };
    let args = vec![
        u(total),
        u(h),
        u(w),
        u(oh),
        u(ow),
        u(geom.kernel),
        u(geom.stride),
        u(geom.padding),
    ];
    (LaunchConfig::linear(total, BLOCK_1D), args)
}

/// `1 / k^2` computed as the CPU op computes it.
fn avg_scale(geom: Pool2dGeometry) -> f32 {
    1.0 / (geom.kernel * geom.kernel) as f32
}

impl GpuTensor<f32> {
    /// Max pooling, as `tensor::Tensor::max_pool2d`: the values, and for
    /// each the flat index `y * W + x` of the chosen input inside its plane.
    pub fn max_pool2d(
        &self,
        geom: Pool2dGeometry,
    ) -> Result<(GpuTensor<f32>, GpuTensor<u32>), GpuError> {
        let (n, c, h, w) = check_nchw("max_pool2d", self.shape());
        let (oh, ow) = geom.output_size(h, w);
        let gpu = self.gpu();
        let values = GpuTensor::uninit(gpu, [n, c, oh, ow])?;
        let indices = GpuTensor::<u32>::uninit(gpu, [n, c, oh, ow])?;
        if values.numel() == 0 {
            return Ok((values, indices));
        }
        let (config, geometry) = launch_args("max_pool2d", values.numel(), (h, w, oh, ow), geom);
        let mut args = vec![
            KernelArg::U64(self.ptr()),
            KernelArg::U64(values.ptr()),
            KernelArg::U64(indices.ptr()),
        ];
        args.extend(geometry);
        gpu.launch(&MODULE, "max_pool2d_forward", config, &args)?;
        Ok((values, indices))
    }

    /// Gradient of [`GpuTensor::max_pool2d`]: `self` is the output gradient, `indices` the
    /// forward's indices. Each input pixel gathers the gradients of the outputs that chose it,
    /// so unlike the CPU's `tensor::Tensor::max_pool2d_backward`
    /// this needs the forward's `geom` (to know which outputs can have chosen a pixel): the
    /// result is deterministic without atomics.
    pub fn max_pool2d_backward(
        &self,
        indices: &GpuTensor<u32>,
        input_shape: &Shape,
        geom: Pool2dGeometry,
    ) -> Result<GpuTensor<f32>, GpuError> {
        check_max_pool_indices(self.shape(), indices.shape());
        let (h, w, oh, ow) =
            check_pooled_gradient("max_pool2d_backward", self.shape(), input_shape, geom);
        let dx = GpuTensor::uninit(self.gpu(), input_shape.clone())?;
        if dx.numel() == 0 {
            return Ok(dx);
        }
        let (config, geometry) =
            launch_args("max_pool2d_backward", dx.numel(), (h, w, oh, ow), geom);
        let mut args = vec![
            KernelArg::U64(self.ptr()),
            KernelArg::U64(indices.ptr()),
            KernelArg::U64(dx.ptr()),
        ];
        args.extend(geometry);
        self.gpu()
            .launch(&MODULE, "max_pool2d_backward", config, &args)?;
        Ok(dx)
    }

    /// Average pooling, as `tensor::Tensor::avg_pool2d`: padding counts
    /// as zeros in the mean.
    pub fn avg_pool2d(&self, geom: Pool2dGeometry) -> Result<GpuTensor<f32>, GpuError> {
        let (n, c, h, w) = check_nchw("avg_pool2d", self.shape());
        let (oh, ow) = geom.output_size(h, w);
        let out = GpuTensor::uninit(self.gpu(), [n, c, oh, ow])?;
        if out.numel() == 0 {
            return Ok(out);
        }
        let (config, geometry) = launch_args("avg_pool2d", out.numel(), (h, w, oh, ow), geom);
        let mut args = vec![
            KernelArg::U64(self.ptr()),
            KernelArg::U64(out.ptr()),
            KernelArg::F32(avg_scale(geom)),
        ];
        args.extend(geometry);
        self.gpu()
            .launch(&MODULE, "avg_pool2d_forward", config, &args)?;
        Ok(out)
    }

    /// Gradient of [`GpuTensor::avg_pool2d`], as
    /// `tensor::Tensor::avg_pool2d_backward`: `self` is the
    /// output gradient, spread evenly over each window.
    pub fn avg_pool2d_backward(
        &self,
        input_shape: &Shape,
        geom: Pool2dGeometry,
    ) -> Result<GpuTensor<f32>, GpuError> {
        let (h, w, oh, ow) =
            check_pooled_gradient("avg_pool2d_backward", self.shape(), input_shape, geom);
        let dx = GpuTensor::uninit(self.gpu(), input_shape.clone())?;
        if dx.numel() == 0 {
            return Ok(dx);
        }
        let (config, geometry) =
            launch_args("avg_pool2d_backward", dx.numel(), (h, w, oh, ow), geom);
        let mut args = vec![
            KernelArg::U64(self.ptr()),
            KernelArg::U64(dx.ptr()),
            KernelArg::F32(avg_scale(geom)),
        ];
        args.extend(geometry);
        self.gpu()
            .launch(&MODULE, "avg_pool2d_backward", config, &args)?;
        Ok(dx)
    }
}
