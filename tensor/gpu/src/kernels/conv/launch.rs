//! Launching a convolution and its gradients: the sizes of one convolution, images unfolded in
//! chunks that fit a column buffer, the GEMMs over them, and the [`GpuTensor`] methods.

use super::ptx::MODULE;
use crate::device_tensor::GpuTensor;
use crate::error::GpuError;
use crate::gpu::Gpu;
use crate::kernels::gemm::launch::{Gemm, Operand, sgemm};
use crate::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use tensor_spec::Shape;
use tensor_spec::conv::{Conv2dGeometry, check_conv_shapes};

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
    /// `tensor::Tensor::conv2d`.
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
    /// `tensor::Tensor::conv2d_grad_input`: `self` is the output
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
    /// `tensor::Tensor::conv2d_grad_weight`: `self` is the output
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
