//! The GPU backend: each op launches our PTX kernels on [`GpuTensor`]s (`crate::cuda::kernels`),
//! on an NVIDIA GPU or the simulator. The float ops are `f32`'s; the movement ops also move
//! `u32` indices.

use super::UnaryOp;
use super::{BackendOps, BinaryOp, Draw, GpuBackend, MovementOps, ReduceOp, ScalarOp, SoftmaxOp};
use crate::cuda::kernels::optim::{self, AdamStep, SgdStep};
use crate::cuda::{Gpu, GpuError, GpuScalar, GpuTensor};
use crate::device::Device;
use crate::ops::conv::Conv2dGeometry;
use crate::rng::Rng;
use crate::shape::Shape;
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
        let drawn = match draw {
            Draw::Uniform { low, high } => GpuTensor::uniform(&gpu, rng, shape, low, high),
            Draw::Normal { mean, std } => GpuTensor::normal(&gpu, rng, shape, mean, std),
            Draw::Rademacher => GpuTensor::rademacher(&gpu, rng, shape),
            Draw::Bernoulli { p } => GpuTensor::bernoulli(&gpu, rng, shape, p),
        };
        ok(op, drawn)
    }

    fn binary(op: BinaryOp, a: &Values, b: &Values) -> Values {
        let out = match op {
            BinaryOp::Add => a.add(b),
            BinaryOp::Sub => a.sub(b),
            BinaryOp::Mul => a.mul(b),
            BinaryOp::Div => a.div(b),
            BinaryOp::Maximum => a.maximum(b),
            BinaryOp::Minimum => a.minimum(b),
            BinaryOp::Gt => a.gt(b),
            BinaryOp::Ge => a.ge(b),
            BinaryOp::Lt => a.lt(b),
            BinaryOp::Le => a.le(b),
            BinaryOp::Eq => a.eq_mask(b),
        };
        ok(op.name(), out)
    }

    fn unary(op: UnaryOp, x: &Values) -> Values {
        let out = match op {
            UnaryOp::Neg => x.neg(),
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.log(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Sign => x.sign(),
            UnaryOp::Relu => x.relu(),
            UnaryOp::Square => x.square(),
        };
        ok(op.name(), out)
    }

    fn scalar(op: ScalarOp, x: &Values, s: f32) -> Values {
        match op {
            ScalarOp::Add => ok("add_scalar", x.add_scalar(s)),
            ScalarOp::Mul => ok("mul_scalar", x.mul_scalar(s)),
            ScalarOp::Pow => ok("powf", x.powf(s)),
        }
    }

    fn clamp(x: &Values, min: f32, max: f32) -> Values {
        ok("clamp", x.clamp(min, max))
    }

    fn where_(cond: &Values, on_true: &Values, on_false: &Values) -> Values {
        ok("where", cond.where_(on_true, on_false))
    }

    fn relu_grad(g: &Values, x: &Values) -> Values {
        // The mask and the product: two kernels.
        let positive = GpuTensor::constant(x.gpu(), 0.0).and_then(|zero| x.gt(&zero));
        ok("relu_grad", positive.and_then(|mask| g.mul(&mask)))
    }

    fn reduce(op: ReduceOp, x: &Values, axis: usize, keepdim: bool) -> Values {
        match op {
            ReduceOp::Sum => ok("sum_axis", x.sum_axis(axis, keepdim)),
            ReduceOp::Mean => ok("mean_axis", x.mean_axis(axis, keepdim)),
            ReduceOp::Max => ok("max_axis", x.max_axis(axis, keepdim)),
            ReduceOp::Min => ok("min_axis", x.min_axis(axis, keepdim)),
        }
    }

    fn reduce_all(op: ReduceOp, x: &Values) -> Values {
        match op {
            ReduceOp::Sum => ok("sum_all", x.sum_all()),
            ReduceOp::Mean => ok("mean_all", x.mean_all()),
            ReduceOp::Max => ok("max_all", x.max_all()),
            ReduceOp::Min => ok("min_all", x.min_all()),
        }
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
        match op {
            SoftmaxOp::Softmax => ok("softmax", x.softmax(axis)),
            SoftmaxOp::LogSoftmax => ok("log_softmax", x.log_softmax(axis)),
        }
    }

    fn logsumexp(x: &Values, axis: usize, keepdim: bool) -> Values {
        ok("logsumexp", x.logsumexp(axis, keepdim))
    }

    fn channel_mean_var(x: &Values) -> (Values, Values) {
        ok("channel_mean_var", x.channel_mean_var())
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
            x.conv2d(weight, bias, geom).and_then(|y| y.relu()),
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
