//! 2-D convolution over NCHW [`GpuTensor`]s (OIHW weights) and its two gradients, by im2col and
//! the batched SGEMM of [`super::gemm`]: the GPU twins of the CPU ops in [`crate::ops::conv`].
//!
//! For a chunk of images at a time, `im2col` unfolds every image into its column matrix
//! `[C*KH*KW, OH*OW]` (zeros where the kernel hangs over the padding), then:
//! - forward: `y_n = W col_n + bias`, one GEMM batched over the images (`W` shared);
//! - input gradient: `col_n = W^T dy_n` (one batched GEMM), then `col2im` *gathers* for each
//!   input pixel the column entries that came from it: no atomics, deterministic;
//! - weight gradient: `dW = sum_n dy_n col_n^T`, as a GEMM whose outputs each sum a group of
//!   images, followed by an in-order sum of the groups' partials (deterministic again).
//!
//! A 1x1 kernel with stride 1 and no padding needs no unfolding: the image is its own column
//! matrix, and the input gradient comes straight out of the GEMM.

use super::gemm::{Gemm, Operand, sgemm};
use super::pool::covering_outputs;
use crate::cuda::device_tensor::GpuTensor;
use crate::cuda::error::GpuError;
use crate::cuda::gpu::Gpu;
use crate::cuda::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use crate::cuda::module::{PTX_HEADER, PtxModule};
use crate::ops::conv::Conv2dGeometry;
use crate::shape::Shape;

/// The module: `im2col`, `col2im`, `sum_partials`.
pub static MODULE: PtxModule = PtxModule::new("conv", ptx);

/// Largest column-matrix buffer one chunk of images unfolds into (at least one image, or one
/// group of the weight gradient, is unfolded whatever its size).
const COL_BYTES: usize = 256 << 20;

/// Blocks the weight-gradient GEMM aims for, splitting the images into groups when the weight
/// matrix alone makes fewer (one SM of an H100 per block at least).
const GRAD_WEIGHT_BLOCKS: usize = 256;

/// Largest grid dimension y or z of a launch.
const MAX_GRID_YZ: usize = 65_535;

/// Output tile side of the small SGEMM tile, to count the weight-gradient GEMM's blocks.
const GEMM_TILE: usize = 64;

/// Parameters shared by `im2col` and `col2im`: the image, kernel and output sizes.
const GEOMETRY_PARAMS: &str = ".param .u32 p_c, .param .u32 p_h, .param .u32 p_w,
    .param .u32 p_kh, .param .u32 p_kw, .param .u32 p_oh, .param .u32 p_ow,
    .param .u32 p_s, .param .u32 p_pad";

/// Loads the geometry parameters into registers of the same names.
const LOAD_GEOMETRY: &str = "    .reg .b32 %c, %h, %w, %kh, %kw, %oh, %ow, %s, %pad;
    ld.param.u32 %c, [p_c];
    ld.param.u32 %h, [p_h];
    ld.param.u32 %w, [p_w];
    ld.param.u32 %kh, [p_kh];
    ld.param.u32 %kw, [p_kw];
    ld.param.u32 %oh, [p_oh];
    ld.param.u32 %ow, [p_ow];
    ld.param.u32 %s, [p_s];
    ld.param.u32 %pad, [p_pad];";

/// Unfolds images into column matrices: `col[n][r][p]` with `r = (c KH + ki) KW + kj` and
/// `p = oy OW + ox` is input pixel `(c, oy s + ki - pad, ox s + kj - pad)` of image `n`, or 0 in
/// the padding. Grid: x over positions `p`, y over channels `c`, z over images; each thread
/// writes the `KH * KW` rows of its channel at its position (consecutive threads, consecutive
/// addresses), with no division inside the loop.
fn im2col() -> String {
    format!(
        "// col[n][(c*kh + ki)*kw + kj][p] = x[n][c][oy*s + ki - pad][ox*s + kj - pad], or 0 outside the image.
.visible .entry im2col(.param .u64 p_x, .param .u64 p_col, {GEOMETRY_PARAMS})
{{
    .reg .pred %p, %q;
    .reg .b32 %pos, %cc, %n, %positions, %iy0, %ix0, %ki, %kj, %iy, %ix, %t<3>;
    .reg .b64 %rd0, %plane, %colp, %rowstep;
    .reg .f32 %v;
{LOAD_GEOMETRY}
    // position p, channel c, image n of this thread
    mov.u32 %t0, %ctaid.x;
    mov.u32 %t1, %ntid.x;
    mov.u32 %t2, %tid.x;
    mad.lo.u32 %pos, %t0, %t1, %t2;
    mov.u32 %cc, %ctaid.y;
    mov.u32 %n, %ctaid.z;
    mul.lo.u32 %positions, %oh, %ow;
    setp.ge.u32 %p, %pos, %positions;
    @%p bra DONE;
    // top-left input pixel of the window at p = (oy, ox), signed: iy0 = oy*s - pad, ix0 = ox*s - pad
    div.u32 %t0, %pos, %ow;
    rem.u32 %t1, %pos, %ow;
    mul.lo.u32 %iy0, %t0, %s;
    sub.s32 %iy0, %iy0, %pad;
    mul.lo.u32 %ix0, %t1, %s;
    sub.s32 %ix0, %ix0, %pad;
    // the input plane x[n][c]
    mad.lo.u32 %t0, %n, %c, %cc;
    mul.lo.u32 %t1, %h, %w;
    mul.wide.u32 %plane, %t0, %t1;
    shl.b64 %plane, %plane, 2;
    ld.param.u64 %rd0, [p_x];
    cvta.to.global.u64 %rd0, %rd0;
    add.u64 %plane, %plane, %rd0;
    // col[n][(n*c + cc)*kh*kw rows in][p], then one row (positions floats) per kernel cell
    mul.lo.u32 %t0, %t0, %kh;
    mul.lo.u32 %t0, %t0, %kw;
    mul.wide.u32 %colp, %t0, %positions;
    cvt.u64.u32 %rd0, %pos;
    add.u64 %colp, %colp, %rd0;
    shl.b64 %colp, %colp, 2;
    ld.param.u64 %rd0, [p_col];
    cvta.to.global.u64 %rd0, %rd0;
    add.u64 %colp, %colp, %rd0;
    mul.wide.u32 %rowstep, %positions, 4;
    mov.u32 %ki, 0;
ROW:
    add.u32 %iy, %iy0, %ki;
    // inside the image? (as unsigned, a negative coordinate is huge)
    setp.lt.u32 %q, %iy, %h;
    mov.u32 %kj, 0;
COL:
    add.u32 %ix, %ix0, %kj;
    setp.lt.u32 %p, %ix, %w;
    and.pred %p, %p, %q;
    // v = x[n][c][iy][ix], read only inside the image
    mov.f32 %v, 0f00000000;
    mad.lo.u32 %t0, %iy, %w, %ix;
    mul.wide.u32 %rd0, %t0, 4;
    add.u64 %rd0, %plane, %rd0;
    @%p ld.global.nc.f32 %v, [%rd0];
    st.global.f32 [%colp], %v;
    add.u64 %colp, %colp, %rowstep;
    add.u32 %kj, %kj, 1;
    setp.lt.u32 %p, %kj, %kw;
    @%p bra COL;
    add.u32 %ki, %ki, 1;
    setp.lt.u32 %p, %ki, %kh;
    @%p bra ROW;
DONE:
    ret;
}}
"
    )
}

/// Folds column matrices back into image gradients, the adjoint of [`im2col`]: input pixel
/// `(c, iy, ix)` of image `n` sums `col[n][(c KH + ki) KW + kj][oy OW + ox]` over the outputs
/// `(oy, ox)` whose window covers it, `ki = iy + pad - oy s`, `kj = ix + pad - ox s`. Output row
/// `oy` covers `iy` when `(iy + pad + 1 - KH) / s <= oy <= (iy + pad) / s` (the first rounded up,
/// at least 0), so the loops visit only those. Grid: x over pixels, y over channels, z over images.
fn col2im() -> String {
    format!(
        "// dx[n][c][iy][ix] = sum over the outputs (oy, ox) covering it of col[n][(c*kh + ki)*kw + kj][oy*ow + ox].
.visible .entry col2im(.param .u64 p_col, .param .u64 p_dx, {GEOMETRY_PARAMS})
{{
    .reg .pred %p;
    .reg .b32 %pix, %cc, %n, %iy, %ix, %ki, %oy, %ox, %oy1, %ox0, %ox1, %positions, %t<3>;
    .reg .b64 %rd<2>, %plane;
    .reg .f32 %v, %acc;
{LOAD_GEOMETRY}
    // pixel, channel, image of this thread
    mov.u32 %t0, %ctaid.x;
    mov.u32 %t1, %ntid.x;
    mov.u32 %t2, %tid.x;
    mad.lo.u32 %pix, %t0, %t1, %t2;
    mov.u32 %cc, %ctaid.y;
    mov.u32 %n, %ctaid.z;
    mul.lo.u32 %t0, %h, %w;
    setp.ge.u32 %p, %pix, %t0;
    @%p bra DONE;
    div.u32 %iy, %pix, %w;
    rem.u32 %ix, %pix, %w;
    // output rows covering iy: oy = ceil(max(iy + pad + 1 - kh, 0) / s) .. oy1 = min((iy + pad) / s + 1, oh)
{rows}    // output columns covering ix, likewise
{columns}    // the first column-matrix row of this channel of this image: (n*c + cc) * kh * kw
    mul.lo.u32 %positions, %oh, %ow;
    mad.lo.u32 %t0, %n, %c, %cc;
    mul.lo.u32 %t0, %t0, %kh;
    mul.lo.u32 %t0, %t0, %kw;
    mul.wide.u32 %plane, %t0, %positions;
    shl.b64 %plane, %plane, 2;
    ld.param.u64 %rd0, [p_col];
    cvta.to.global.u64 %rd0, %rd0;
    add.u64 %plane, %plane, %rd0;
    mov.f32 %acc, 0f00000000;
ROW:
    setp.ge.u32 %p, %oy, %oy1;
    @%p bra END;
    // kernel row ki = iy + pad - oy*s
    mul.lo.u32 %t0, %oy, %s;
    sub.u32 %ki, %iy, %t0;
    mov.u32 %ox, %ox0;
COL:
    setp.ge.u32 %p, %ox, %ox1;
    @%p bra NEXT_ROW;
    // acc += col[row ki*kw + kj of this channel][oy*ow + ox], kj = ix + pad - ox*s
    mul.lo.u32 %t0, %ox, %s;
    sub.u32 %t0, %ix, %t0;
    mad.lo.u32 %t0, %ki, %kw, %t0;
    mul.wide.u32 %rd0, %t0, %positions;
    mad.lo.u32 %t1, %oy, %ow, %ox;
    cvt.u64.u32 %rd1, %t1;
    add.u64 %rd0, %rd0, %rd1;
    shl.b64 %rd0, %rd0, 2;
    add.u64 %rd0, %plane, %rd0;
    ld.global.nc.f32 %v, [%rd0];
    add.f32 %acc, %acc, %v;
    add.u32 %ox, %ox, 1;
    bra COL;
NEXT_ROW:
    add.u32 %oy, %oy, 1;
    bra ROW;
END:
    // dx[n][cc][pix]
    mad.lo.u32 %t0, %n, %c, %cc;
    mul.lo.u32 %t1, %h, %w;
    mul.wide.u32 %rd0, %t0, %t1;
    cvt.u64.u32 %rd1, %pix;
    add.u64 %rd0, %rd0, %rd1;
    shl.b64 %rd0, %rd0, 2;
    ld.param.u64 %rd1, [p_dx];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %rd0;
    st.global.f32 [%rd1], %acc;
DONE:
    ret;
}}
",
        rows = covering_outputs(["%iy", "%iy", "%t0"], "%kh", "%oh", ["%oy", "%oy1"]),
        columns = covering_outputs(["%ix", "%ix", "%t0"], "%kw", "%ow", ["%ox0", "%ox1"]),
    )
}

/// `out[i] = sum over g < groups of partials[g][i]`, in order of `g`.
fn sum_partials() -> String {
    "// out[i] = partials[0][i] + partials[1][i] + ... (groups of size elements each, in order).
.visible .entry sum_partials(.param .u64 p_partials, .param .u64 p_out, .param .u32 p_groups,
    .param .u32 p_size)
{
    .reg .pred %p;
    .reg .b32 %i, %g, %groups, %size, %t<3>;
    .reg .b64 %rd<3>, %step;
    .reg .f32 %v, %acc;
    ld.param.u32 %groups, [p_groups];
    ld.param.u32 %size, [p_size];
    mov.u32 %t0, %ctaid.x;
    mov.u32 %t1, %ntid.x;
    mov.u32 %t2, %tid.x;
    mad.lo.u32 %i, %t0, %t1, %t2;
    setp.ge.u32 %p, %i, %size;
    @%p bra DONE;
    // walk partials[g][i] for g = 0.., size * 4 bytes apart
    ld.param.u64 %rd0, [p_partials];
    cvta.to.global.u64 %rd0, %rd0;
    mul.wide.u32 %rd1, %i, 4;
    add.u64 %rd0, %rd0, %rd1;
    mul.wide.u32 %step, %size, 4;
    mov.f32 %acc, 0f00000000;
    mov.u32 %g, 0;
GROUP:
    ld.global.nc.f32 %v, [%rd0];
    add.f32 %acc, %acc, %v;
    add.u64 %rd0, %rd0, %step;
    add.u32 %g, %g, 1;
    setp.lt.u32 %p, %g, %groups;
    @%p bra GROUP;
    ld.param.u64 %rd2, [p_out];
    cvta.to.global.u64 %rd2, %rd2;
    add.u64 %rd2, %rd2, %rd1;
    st.global.f32 [%rd2], %acc;
DONE:
    ret;
}
"
    .to_string()
}

/// The module's text.
fn ptx() -> String {
    [im2col(), col2im(), sum_partials()]
        .iter()
        .fold(PTX_HEADER.to_string(), |text, kernel| text + kernel + "\n")
}

/// Checks that `input` is NCHW and `weight` OIHW with matching channels (as the CPU op).
fn check_conv_shapes(op: &str, input: &[usize], weight: &[usize]) {
    assert!(
        input.len() == 4 && weight.len() == 4 && input[1] == weight[1],
        "{op}: input {input:?} (NCHW) and weight {weight:?} (OIHW) do not match"
    );
}

/// Converts a size to a kernel's `u32` parameter, naming the op.
fn to_u32(op: &str, v: usize) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| panic!("{op}: size {v} does not fit in 32 bits"))
}

/// The sizes of one convolution.
#[derive(Clone, Copy)]
struct Conv {
    images: usize,
    channels: usize,
    h: usize,
    w: usize,
    out_ch: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    geom: Conv2dGeometry,
}

impl Conv {
    fn new(input: &[usize], weight: &[usize], geom: Conv2dGeometry) -> Self {
        let (oh, ow) = geom.output_size(input[2], input[3], weight[2], weight[3]);
        Conv {
            images: input[0],
            channels: input[1],
            h: input[2],
            w: input[3],
            out_ch: weight[0],
            kh: weight[2],
            kw: weight[3],
            oh,
            ow,
            geom,
        }
    }

    /// Rows of a column matrix: C * KH * KW.
    fn rows(&self) -> usize {
        self.channels * self.kh * self.kw
    }

    /// Output positions per image: OH * OW.
    fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Elements of one input image.
    fn image(&self) -> usize {
        self.channels * self.h * self.w
    }

    /// True when the image itself is the column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.geom.stride == 1 && self.geom.padding == 0
    }

    /// Images unfolded at once: as many as fit [`COL_BYTES`] and the grid's z dimension, a
    /// multiple of `multiple`.
    fn chunk(&self, multiple: usize) -> usize {
        let fit = (COL_BYTES / (self.rows() * self.positions() * 4).max(1)).min(MAX_GRID_YZ);
        (fit / multiple).max(1) * multiple
    }

    /// A column-matrix buffer for `images` images (none for a pointwise convolution).
    fn col_buffer(&self, gpu: &Gpu, images: usize) -> Result<Option<GpuTensor<f32>>, GpuError> {
        if self.is_pointwise() {
            return Ok(None);
        }
        let len = images.min(self.images) * self.rows() * self.positions();
        Ok(Some(GpuTensor::uninit(gpu, [len])?))
    }

    /// The geometry parameters of `im2col`/`col2im`, after their two pointers.
    fn args(&self, op: &str, first: u64, second: u64) -> Vec<KernelArg> {
        let mut args = vec![KernelArg::U64(first), KernelArg::U64(second)];
        for v in [
            self.channels,
            self.h,
            self.w,
            self.kh,
            self.kw,
            self.oh,
            self.ow,
            self.geom.stride,
            self.geom.padding,
        ] {
            args.push(KernelArg::U32(to_u32(op, v)));
        }
        args
    }

    /// Unfolds `images` images starting at address `x` into `col`.
    fn im2col(&self, gpu: &Gpu, x: u64, col: u64, images: usize) -> Result<(), GpuError> {
        let config = LaunchConfig {
            grid: (
                to_u32("im2col", self.positions().div_ceil(BLOCK_1D as usize)),
                to_u32("im2col", self.channels),
                to_u32("im2col", images),
            ),
            block: (BLOCK_1D, 1, 1),
            shared_bytes: 0,
        };
        if config.grid.1 == 0 {
            return Ok(());
        }
        gpu.launch(&MODULE, "im2col", config, &self.args("im2col", x, col))
    }

    /// Folds `images` column matrices at `col` into image gradients at `dx`.
    fn col2im(&self, gpu: &Gpu, col: u64, dx: u64, images: usize) -> Result<(), GpuError> {
        let config = LaunchConfig {
            grid: (
                to_u32("col2im", (self.h * self.w).div_ceil(BLOCK_1D as usize)),
                to_u32("col2im", self.channels),
                to_u32("col2im", images),
            ),
            block: (BLOCK_1D, 1, 1),
            shared_bytes: 0,
        };
        if config.grid.1 == 0 {
            return Ok(());
        }
        gpu.launch(&MODULE, "col2im", config, &self.args("col2im", col, dx))
    }

    /// Panics unless the channels fit the launch grid's y dimension.
    fn check_grid(&self, op: &str) {
        assert!(
            self.channels <= MAX_GRID_YZ,
            "{op}: {} channels exceed the launch grid",
            self.channels
        );
    }
}

/// An operand of the column matrices (or, pointwise, the images themselves) at `ptr`.
fn columns(ptr: u64, u: &Conv, transposed: bool) -> Operand {
    let stride = if u.is_pointwise() {
        u.image()
    } else {
        u.rows() * u.positions()
    };
    Operand {
        ptr,
        ld: to_u32("conv2d", u.positions()),
        batch_stride: to_u32("conv2d", stride),
        transposed,
    }
}

/// Bytes of `elements` f32s, as an address offset.
fn bytes(elements: usize) -> u64 {
    elements as u64 * 4
}

impl GpuTensor<f32> {
    /// Cross-correlation of NCHW `self` with OIHW `weight`, plus an optional bias `[O]`, as
    /// [`Tensor::conv2d`](crate::Tensor::conv2d).
    pub fn conv2d(
        &self,
        weight: &GpuTensor<f32>,
        bias: Option<&GpuTensor<f32>>,
        geom: Conv2dGeometry,
    ) -> Result<GpuTensor<f32>, GpuError> {
        check_conv_shapes("conv2d", self.dims(), weight.dims());
        let u = Conv::new(self.dims(), weight.dims(), geom);
        if let Some(b) = bias {
            assert_eq!(
                b.dims(),
                &[u.out_ch],
                "conv2d: bias {:?} for {} output channels",
                b.shape(),
                u.out_ch
            );
        }
        u.check_grid("conv2d");
        let gpu = self.gpu();
        let y = GpuTensor::uninit(gpu, [u.images, u.out_ch, u.oh, u.ow])?;
        let chunk = u.chunk(1);
        let col = u.col_buffer(gpu, chunk)?;
        for n0 in (0..u.images).step_by(chunk) {
            let images = chunk.min(u.images - n0);
            let x = self.ptr() + bytes(n0 * u.image());
            let b = match &col {
                Some(col) => {
                    u.im2col(gpu, x, col.ptr(), images)?;
                    col.ptr()
                }
                None => x,
            };
            // y_n [O, P] = W [O, R] col_n [R, P] + bias
            sgemm(
                gpu,
                &Gemm {
                    m: u.out_ch,
                    n: u.positions(),
                    k: u.rows(),
                    a: Operand {
                        ptr: weight.ptr(),
                        ld: to_u32("conv2d", u.rows()),
                        batch_stride: 0,
                        transposed: false,
                    },
                    b: columns(b, &u, false),
                    c: Operand {
                        ptr: y.ptr() + bytes(n0 * u.out_ch * u.positions()),
                        ld: to_u32("conv2d", u.positions()),
                        batch_stride: to_u32("conv2d", u.out_ch * u.positions()),
                        transposed: false,
                    },
                    bias: bias.map(|b| b.ptr()),
                    outputs: images,
                    sum: 1,
                    count: images,
                },
            )?;
        }
        Ok(y)
    }

    /// Gradient of [`GpuTensor::conv2d`] with respect to its input, as
    /// [`Tensor::conv2d_grad_input`](crate::Tensor::conv2d_grad_input): `self` is the output
    /// gradient `[N, O, OH, OW]`; returns `[N, C, H, W]` for `input_shape`.
    pub fn conv2d_grad_input(
        &self,
        weight: &GpuTensor<f32>,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Result<GpuTensor<f32>, GpuError> {
        check_conv_shapes("conv2d_grad_input", input_shape.dims(), weight.dims());
        let u = Conv::new(input_shape.dims(), weight.dims(), geom);
        assert_eq!(
            self.dims(),
            &[u.images, u.out_ch, u.oh, u.ow],
            "conv2d_grad_input: output gradient {:?} does not fit input {input_shape:?} and weight {:?}",
            self.shape(),
            weight.shape()
        );
        u.check_grid("conv2d_grad_input");
        let gpu = self.gpu();
        let dx = GpuTensor::uninit(gpu, input_shape.clone())?;
        let chunk = u.chunk(1);
        let col = u.col_buffer(gpu, chunk)?;
        for n0 in (0..u.images).step_by(chunk) {
            let images = chunk.min(u.images - n0);
            let dx_at = dx.ptr() + bytes(n0 * u.image());
            // col_n [R, P] = W^T [R, O] dy_n [O, P]; pointwise, col_n is dx_n itself
            let c = col.as_ref().map_or(dx_at, |col| col.ptr());
            sgemm(
                gpu,
                &Gemm {
                    m: u.rows(),
                    n: u.positions(),
                    k: u.out_ch,
                    a: Operand {
                        ptr: weight.ptr(),
                        ld: to_u32("conv2d_grad_input", u.rows()),
                        batch_stride: 0,
                        transposed: true,
                    },
                    b: Operand {
                        ptr: self.ptr() + bytes(n0 * u.out_ch * u.positions()),
                        ld: to_u32("conv2d_grad_input", u.positions()),
                        batch_stride: to_u32("conv2d_grad_input", u.out_ch * u.positions()),
                        transposed: false,
                    },
                    c: columns(c, &u, false),
                    bias: None,
                    outputs: images,
                    sum: 1,
                    count: images,
                },
            )?;
            if let Some(col) = &col {
                u.col2im(gpu, col.ptr(), dx_at, images)?;
            }
        }
        Ok(dx)
    }

    /// Gradient of [`GpuTensor::conv2d`] with respect to its weight, as
    /// [`Tensor::conv2d_grad_weight`](crate::Tensor::conv2d_grad_weight): `self` is the output
    /// gradient `[N, O, OH, OW]`; returns `weight_shape` (OIHW).
    pub fn conv2d_grad_weight(
        &self,
        input: &GpuTensor<f32>,
        weight_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Result<GpuTensor<f32>, GpuError> {
        check_conv_shapes("conv2d_grad_weight", input.dims(), weight_shape.dims());
        let u = Conv::new(input.dims(), weight_shape.dims(), geom);
        assert_eq!(
            self.dims(),
            &[u.images, u.out_ch, u.oh, u.ow],
            "conv2d_grad_weight: output gradient {:?} does not fit input {:?} and weight {weight_shape:?}",
            self.shape(),
            input.shape()
        );
        u.check_grid("conv2d_grad_weight");
        let gpu = self.gpu();
        let dw = GpuTensor::uninit(gpu, weight_shape.clone())?;
        let size = u.out_ch * u.rows();
        if size == 0 {
            return Ok(dw);
        }
        if u.images == 0 {
            // The sum over no images: a GEMM with an empty inner dimension writes the zeros.
            let nothing = Operand {
                ptr: dw.ptr(),
                ld: 1,
                batch_stride: 0,
                transposed: false,
            };
            let c = Operand {
                ld: to_u32("conv2d_grad_weight", u.rows()),
                ..nothing
            };
            let zeros = Gemm {
                m: u.out_ch,
                n: u.rows(),
                k: 0,
                a: nothing,
                b: nothing,
                c,
                bias: None,
                outputs: 1,
                sum: 1,
                count: 1,
            };
            sgemm(gpu, &zeros)?;
            return Ok(dw);
        }
        // Split the images into groups, each summed by one GEMM output, when the weight matrix
        // alone gives too few blocks; then add the groups' partial sums in order.
        let tiles = u.out_ch.div_ceil(GEMM_TILE) * u.rows().div_ceil(GEMM_TILE);
        let wanted = GRAD_WEIGHT_BLOCKS.div_ceil(tiles).min(u.images);
        let per_group = u.images.div_ceil(wanted);
        let groups = u.images.div_ceil(per_group);
        let partials = if groups > 1 {
            Some(GpuTensor::<f32>::uninit(gpu, [groups * size])?)
        } else {
            None
        };
        let out = partials.as_ref().map_or(dw.ptr(), |p| p.ptr());
        let chunk = u.chunk(per_group);
        let col = u.col_buffer(gpu, chunk)?;
        for n0 in (0..u.images).step_by(chunk) {
            let images = chunk.min(u.images - n0);
            let x = input.ptr() + bytes(n0 * u.image());
            let b = match &col {
                Some(col) => {
                    u.im2col(gpu, x, col.ptr(), images)?;
                    col.ptr()
                }
                None => x,
            };
            // dW [O, R] = sum over the group's n of dy_n [O, P] col_n^T [P, R]
            sgemm(
                gpu,
                &Gemm {
                    m: u.out_ch,
                    n: u.rows(),
                    k: u.positions(),
                    a: Operand {
                        ptr: self.ptr() + bytes(n0 * u.out_ch * u.positions()),
                        ld: to_u32("conv2d_grad_weight", u.positions()),
                        batch_stride: to_u32("conv2d_grad_weight", u.out_ch * u.positions()),
                        transposed: false,
                    },
                    b: columns(b, &u, true),
                    c: Operand {
                        ptr: out + bytes(n0 / per_group * size),
                        ld: to_u32("conv2d_grad_weight", u.rows()),
                        batch_stride: to_u32("conv2d_grad_weight", size),
                        transposed: false,
                    },
                    bias: None,
                    outputs: images.div_ceil(per_group),
                    sum: per_group,
                    count: images,
                },
            )?;
        }
        if let Some(partials) = &partials {
            let args = [
                KernelArg::U64(partials.ptr()),
                KernelArg::U64(dw.ptr()),
                KernelArg::U32(to_u32("conv2d_grad_weight", groups)),
                KernelArg::U32(to_u32("conv2d_grad_weight", size)),
            ];
            gpu.launch(
                &MODULE,
                "sum_partials",
                LaunchConfig::linear(size, BLOCK_1D),
                &args,
            )?;
        }
        Ok(dw)
    }
}
