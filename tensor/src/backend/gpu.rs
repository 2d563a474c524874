//! The GPU backend: each op calls a launcher of the `tensor-gpu` crate (`tensor_gpu::kernels`)
//! on [`GpuTensor`]s, passing the op kind through, on an NVIDIA GPU or the simulator. The float
//! ops are `f32`'s; the movement ops also move `u32` indices.

use super::{
    BackendOps, BinaryOp, Draw, GpuBackend, MovementOps, ReduceOp, ScalarOp, SoftmaxOp, UnaryOp,
};
use crate::device::Device;
use crate::ops::conv::Conv2dGeometry;
use crate::rng::Rng;
use crate::shape::Shape;
use tensor_gpu::kernels::optim::{self, AdamStep, SgdStep};
use tensor_gpu::{Gpu, GpuError, GpuScalar, GpuTensor};
use tensor_spec::Pool2dGeometry;

/// A kernel's result, or a panic naming `op` with the device's error (see [`super`]).
fn ok<R>(op: &str, result: Result<R, GpuError>) -> R {
    result.unwrap_or_else(|e| panic!("{op} on the GPU: {e}"))
}

/// The handle of the GPU `device`, or a panic naming `op` when it cannot be opened.
fn open(op: &str, device: Device) -> Gpu {
    match device.gpu() {
        Ok(Some(gpu)) => gpu,
        Ok(None) => panic!("{op}: {device} is not a GPU"),
        Err(e) => panic!("{op}({device}): {e}"),
    }
}

type Values = GpuTensor<f32>;

/// A `[C]` tensor viewed as `[1, C]` or `[1, C, 1, 1]`, to broadcast along the channel axis of
/// the NC or NCHW `x` (a free reshape).
fn along_channels(t: &Values, x: &Values) -> Values {
    let mut dims = vec![1; x.rank()];
    dims[1] = t.numel();
    t.reshape(dims)
}
type Indices = GpuTensor<u32>;

impl<T: GpuScalar> MovementOps<T> for GpuBackend {
    type Tensor = GpuTensor<T>;

    fn broadcast_to(x: &GpuTensor<T>, target: &Shape) -> GpuTensor<T> {
        ok("broadcast_to", x.broadcast_to(target.clone()))
    }

    fn permute(x: &GpuTensor<T>, perm: &[usize]) -> GpuTensor<T> {
        ok("permute", x.permute(perm))
    }

    fn transpose(x: &GpuTensor<T>, a: usize, b: usize) -> GpuTensor<T> {
        ok("transpose", x.transpose(a, b))
    }

    fn slice(x: &GpuTensor<T>, axis: usize, start: usize, end: usize) -> GpuTensor<T> {
        ok("slice", x.slice(axis, start, end))
    }

    fn concat(parts: &[&GpuTensor<T>], axis: usize) -> GpuTensor<T> {
        ok("concat", GpuTensor::concat(parts, axis))
    }

    fn pad(x: &GpuTensor<T>, pads: &[(usize, usize)], value: T) -> GpuTensor<T> {
        ok("pad", x.pad(pads, value))
    }

    fn select_rows(x: &GpuTensor<T>, rows: &[usize]) -> GpuTensor<T> {
        ok("select_rows", x.select_rows(rows))
    }
}

impl BackendOps<f32> for GpuBackend {
    type Index = Indices;

    fn full(device: Device, shape: Shape, value: f32) -> Values {
        ok(
            "full_on",
            GpuTensor::full(&open("full_on", device), shape, value),
        )
    }

    fn draw(device: Device, rng: &mut Rng, shape: Shape, draw: Draw) -> Values {
        let op = draw.on_name();
        let gpu = open(op, device);
        let start = rng.advance(shape.numel());
        ok(op, GpuTensor::draw(&gpu, rng.key(), start, shape, draw))
    }

    fn binary(op: BinaryOp, a: &Values, b: &Values) -> Values {
        ok(op.name(), a.binary(op, b))
    }

    fn unary(op: UnaryOp, x: &Values) -> Values {
        ok(op.name(), x.unary(op))
    }

    fn scalar(op: ScalarOp, x: &Values, s: f32) -> Values {
        ok(op.name(), x.scalar(op, s))
    }

    fn clamp(x: &Values, min: f32, max: f32) -> Values {
        ok("clamp", x.clamp(min, max))
    }

    fn where_(cond: &Values, on_true: &Values, on_false: &Values) -> Values {
        ok("where", cond.where_(on_true, on_false))
    }

    fn relu_grad(g: &Values, x: &Values) -> Values {
        // The mask and the product: two kernels.
        let positive =
            GpuTensor::constant(x.gpu(), 0.0).and_then(|zero| x.binary(BinaryOp::Gt, &zero));
        ok(
            "relu_grad",
            positive.and_then(|mask| g.binary(BinaryOp::Mul, &mask)),
        )
    }

    fn reduce(op: ReduceOp, x: &Values, axis: usize, keepdim: bool) -> Values {
        ok(op.axis_name(), x.reduce(op, axis, keepdim))
    }

    fn reduce_all(op: ReduceOp, x: &Values) -> Values {
        ok(op.all_name(), x.reduce_all(op))
    }

    fn sum_to(x: &Values, target: &Shape) -> Values {
        ok("sum_to", x.sum_to(target))
    }

    fn argmax_axis(x: &Values, axis: usize) -> Indices {
        ok("argmax_axis", x.argmax_axis(axis))
    }

    fn top2_axis(x: &Values, axis: usize) -> (Indices, Indices) {
        ok("top2_axis", x.top2_axis(axis))
    }

    fn sort_axis(x: &Values, axis: usize, descending: bool) -> (Values, Indices) {
        ok("sort_axis", x.sort_axis(axis, descending))
    }

    fn cumsum_axis(x: &Values, axis: usize) -> Values {
        ok("cumsum_axis", x.cumsum_axis(axis))
    }

    fn softmax(op: SoftmaxOp, x: &Values, axis: usize) -> Values {
        ok(op.name(), x.softmax(op, axis))
    }

    fn logsumexp(x: &Values, axis: usize, keepdim: bool) -> Values {
        ok("logsumexp", x.logsumexp(axis, keepdim))
    }

    fn channel_mean_var(x: &Values) -> (Values, Values) {
        ok("channel_mean_var", x.channel_mean_var())
    }

    /// A broadcast product and sum (two kernels).
    fn channel_affine(x: &Values, scale: &Values, shift: &Values) -> Values {
        let [scale, shift] = [scale, shift].map(|t| along_channels(t, x));
        ok(
            "channel_affine",
            x.binary(BinaryOp::Mul, &scale)
                .and_then(|y| y.binary(BinaryOp::Add, &shift)),
        )
    }

    /// Broadcast ops and two `sum_to`s onto the channel axis.
    fn channel_grad_sums(g: &Values, x: &Values, mean: &Values) -> (Values, Values) {
        let mean = along_channels(mean, x);
        let sums = || -> Result<(Values, Values), GpuError> {
            let dot = x.binary(BinaryOp::Sub, &mean)?.binary(BinaryOp::Mul, g)?;
            let [sum, dot] = [g.sum_to(mean.shape())?, dot.sum_to(mean.shape())?];
            let c = [mean.numel()];
            Ok((sum.reshape(c), dot.reshape(c)))
        };
        ok("channel_grad_sums", sums())
    }

    /// Broadcast products and sums (six kernels).
    fn channel_combine(
        g: &Values,
        a: &Values,
        x: &Values,
        center: &Values,
        b: &Values,
        k: &Values,
    ) -> Values {
        let [a, center, b, k] = [a, center, b, k].map(|t| along_channels(t, x));
        let combine = || -> Result<Values, GpuError> {
            let centred = x
                .binary(BinaryOp::Sub, &center)?
                .binary(BinaryOp::Mul, &b)?;
            g.binary(BinaryOp::Mul, &a)?
                .binary(BinaryOp::Add, &centred)?
                .binary(BinaryOp::Add, &k)
        };
        ok("channel_combine", combine())
    }

    fn matmul_t(a: &Values, transpose_a: bool, b: &Values, transpose_b: bool) -> Values {
        ok("matmul", a.matmul_t(transpose_a, b, transpose_b))
    }

    fn conv2d(x: &Values, weight: &Values, bias: Option<&Values>, geom: Conv2dGeometry) -> Values {
        ok("conv2d", x.conv2d(weight, bias, geom))
    }

    /// The convolution kernel, then the ReLU kernel (no fused PTX kernel).
    fn conv2d_relu(
        x: &Values,
        weight: &Values,
        bias: Option<&Values>,
        geom: Conv2dGeometry,
    ) -> Values {
        ok(
            "conv2d_relu",
            x.conv2d(weight, bias, geom)
                .and_then(|y| y.unary(UnaryOp::Relu)),
        )
    }

    fn conv2d_grad_input(
        g: &Values,
        weight: &Values,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Values {
        ok(
            "conv2d_grad_input",
            g.conv2d_grad_input(weight, input_shape, geom),
        )
    }

    fn conv2d_relu_grad_input(
        g: &Values,
        relu_output: &Values,
        weight: &Values,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Values {
        // The mask, then the input gradient: the kernels of the two ops.
        let masked = Self::relu_grad(g, relu_output);
        Self::conv2d_grad_input(&masked, weight, input_shape, geom)
    }

    fn conv2d_grad_weight(
        g: &Values,
        input: &Values,
        weight_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Values {
        ok(
            "conv2d_grad_weight",
            g.conv2d_grad_weight(input, weight_shape, geom),
        )
    }

    /// The convolution and ReLU kernels, then the max-pooling kernel (no fused PTX kernel).
    fn conv2d_relu_max_pool(
        x: &Values,
        weight: &Values,
        bias: Option<&Values>,
        geom: Conv2dGeometry,
        pool: Pool2dGeometry,
    ) -> (Values, Indices) {
        Self::max_pool2d(&Self::conv2d_relu(x, weight, bias, geom), pool)
    }

    /// The mask, the max pooling's backward, then the input gradient: the kernels of the three
    /// ops.
    fn conv2d_relu_max_pool_grad_input(
        g: &Values,
        (pooled, indices): (&Values, &Indices),
        weight: &Values,
        input_shape: &Shape,
        (geom, pool): (Conv2dGeometry, Pool2dGeometry),
    ) -> Values {
        let output_shape = Shape::from(geom.output_dims(input_shape.dims(), weight.dims()));
        let masked = Self::relu_grad(g, pooled);
        let dy = Self::max_pool2d_backward(&masked, indices, &output_shape, pool);
        Self::conv2d_grad_input(&dy, weight, input_shape, geom)
    }

    fn max_pool2d(x: &Values, geom: Pool2dGeometry) -> (Values, Indices) {
        ok("max_pool2d", x.max_pool2d(geom))
    }

    fn max_pool2d_backward(
        g: &Values,
        indices: &Indices,
        input_shape: &Shape,
        geom: Pool2dGeometry,
    ) -> Values {
        ok(
            "max_pool2d_backward",
            g.max_pool2d_backward(indices, input_shape, geom),
        )
    }

    fn avg_pool2d(x: &Values, geom: Pool2dGeometry) -> Values {
        ok("avg_pool2d", x.avg_pool2d(geom))
    }

    fn avg_pool2d_backward(g: &Values, input_shape: &Shape, geom: Pool2dGeometry) -> Values {
        ok(
            "avg_pool2d_backward",
            g.avg_pool2d_backward(input_shape, geom),
        )
    }

    fn gather(x: &Values, axis: usize, index: &Indices) -> Values {
        ok("gather", x.gather(axis, index))
    }

    fn scatter_add(x: &Values, axis: usize, index: &Indices, src: &Values) -> Values {
        ok("scatter_add", x.scatter_add(axis, index, src))
    }

    fn one_hot(labels: &Indices, classes: usize) -> Values {
        ok("one_hot", GpuTensor::one_hot(labels, classes))
    }

    fn sgd_step(
        param: &mut Values,
        grad: &Values,
        momentum_buffer: &mut Option<Values>,
        config: &SgdStep,
    ) {
        ok(
            "sgd_step",
            optim::sgd_step(param, grad, momentum_buffer, config),
        )
    }

    fn adam_step(
        param: &mut Values,
        grad: &Values,
        moments: &mut Option<(Values, Values)>,
        step: u64,
        config: &AdamStep,
    ) {
        ok(
            "adam_step",
            optim::adam_step(param, grad, moments, step, config),
        )
    }
}
