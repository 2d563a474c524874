//! The GPU backend of `f64`, which no GPU holds: [`NoGpu`] has no values, so each op on one is
//! `match *x {}`. Only the ops that make a tensor from nothing of its type (a fill, a random
//! draw, one-hot rows from GPU labels) can ask for one; they panic, naming the device.

use super::{BackendOps, BinaryOp, Draw, MovementOps, ReduceOp, ScalarOp, SoftmaxOp, UnaryOp};
use crate::device::Device;
use crate::ops::conv::Conv2dGeometry;
use crate::rng::Rng;
use crate::shape::Shape;
use crate::stored::NoGpu;
use tensor_gpu::GpuTensor;
use tensor_spec::Pool2dGeometry;
use tensor_spec::optim::{AdamStep, SgdStep};

/// The panic of an op asked to make a float64 tensor on `device`.
fn refuse(op: &str, device: Device) -> ! {
    panic!("{op}: float64 tensors live on the CPU only; {device} computes in f32")
}

impl MovementOps<f64> for NoGpu {
    type Tensor = NoGpu;

    fn broadcast_to(x: &NoGpu, _: &Shape) -> NoGpu {
        match *x {}
    }

    fn permute(x: &NoGpu, _: &[usize]) -> NoGpu {
        match *x {}
    }

    fn transpose(x: &NoGpu, _: usize, _: usize) -> NoGpu {
        match *x {}
    }

    fn slice(x: &NoGpu, _: usize, _: usize, _: usize) -> NoGpu {
        match *x {}
    }

    fn concat(parts: &[&NoGpu], _: usize) -> NoGpu {
        match **parts
            .first()
            .expect("concat: a GPU was chosen for no parts") {}
    }

    fn pad(x: &NoGpu, _: &[(usize, usize)], _: f64) -> NoGpu {
        match *x {}
    }

    fn select_rows(x: &NoGpu, _: &[usize]) -> NoGpu {
        match *x {}
    }
}

impl BackendOps<f64> for NoGpu {
    type Index = GpuTensor<u32>;

    fn full(device: Device, _: Shape, _: f64) -> NoGpu {
        refuse("full_on", device)
    }

    fn draw(device: Device, _: &mut Rng, _: Shape, draw: Draw) -> NoGpu {
        refuse(draw.on_name(), device)
    }

    fn binary(_: BinaryOp, a: &NoGpu, _: &NoGpu) -> NoGpu {
        match *a {}
    }

    fn unary(_: UnaryOp, x: &NoGpu) -> NoGpu {
        match *x {}
    }

    fn scalar(_: ScalarOp, x: &NoGpu, _: f64) -> NoGpu {
        match *x {}
    }

    fn clamp(x: &NoGpu, _: f64, _: f64) -> NoGpu {
        match *x {}
    }

    fn where_(cond: &NoGpu, _: &NoGpu, _: &NoGpu) -> NoGpu {
        match *cond {}
    }

    fn relu_grad(g: &NoGpu, _: &NoGpu) -> NoGpu {
        match *g {}
    }

    fn reduce(_: ReduceOp, x: &NoGpu, _: usize, _: bool) -> NoGpu {
        match *x {}
    }

    fn reduce_all(_: ReduceOp, x: &NoGpu) -> NoGpu {
        match *x {}
    }

    fn sum_to(x: &NoGpu, _: &Shape) -> NoGpu {
        match *x {}
    }

    fn argmax_axis(x: &NoGpu, _: usize) -> GpuTensor<u32> {
        match *x {}
    }

    fn top2_axis(x: &NoGpu, _: usize) -> (GpuTensor<u32>, GpuTensor<u32>) {
        match *x {}
    }

    fn sort_axis(x: &NoGpu, _: usize, _: bool) -> (NoGpu, GpuTensor<u32>) {
        match *x {}
    }

    fn cumsum_axis(x: &NoGpu, _: usize) -> NoGpu {
        match *x {}
    }

    fn softmax(_: SoftmaxOp, x: &NoGpu, _: usize) -> NoGpu {
        match *x {}
    }

    fn logsumexp(x: &NoGpu, _: usize, _: bool) -> NoGpu {
        match *x {}
    }

    fn channel_mean_var(x: &NoGpu) -> (NoGpu, NoGpu) {
        match *x {}
    }

    fn channel_affine(x: &NoGpu, _: &NoGpu, _: &NoGpu) -> NoGpu {
        match *x {}
    }

    fn channel_grad_sums(g: &NoGpu, _: &NoGpu, _: &NoGpu) -> (NoGpu, NoGpu) {
        match *g {}
    }

    fn channel_combine(g: &NoGpu, _: &NoGpu, _: &NoGpu, _: &NoGpu, _: &NoGpu, _: &NoGpu) -> NoGpu {
        match *g {}
    }

    fn matmul_t(a: &NoGpu, _: bool, _: &NoGpu, _: bool) -> NoGpu {
        match *a {}
    }

    fn conv2d(x: &NoGpu, _: &NoGpu, _: Option<&NoGpu>, _: Conv2dGeometry) -> NoGpu {
        match *x {}
    }

    fn conv2d_relu(x: &NoGpu, _: &NoGpu, _: Option<&NoGpu>, _: Conv2dGeometry) -> NoGpu {
        match *x {}
    }

    fn conv2d_relu_max_pool(
        x: &NoGpu,
        _: &NoGpu,
        _: Option<&NoGpu>,
        _: Conv2dGeometry,
        _: Pool2dGeometry,
    ) -> (NoGpu, GpuTensor<u32>) {
        match *x {}
    }

    fn conv2d_relu_max_pool_grad_input(
        g: &NoGpu,
        _: (&NoGpu, &GpuTensor<u32>),
        _: &NoGpu,
        _: &Shape,
        _: (Conv2dGeometry, Pool2dGeometry),
    ) -> NoGpu {
        match *g {}
    }

    fn conv2d_grad_input(g: &NoGpu, _: &NoGpu, _: &Shape, _: Conv2dGeometry) -> NoGpu {
        match *g {}
    }

    fn conv2d_relu_grad_input(
        g: &NoGpu,
        _: &NoGpu,
        _: &NoGpu,
        _: &Shape,
        _: Conv2dGeometry,
    ) -> NoGpu {
        match *g {}
    }

    fn conv2d_grad_weight(g: &NoGpu, _: &NoGpu, _: &Shape, _: Conv2dGeometry) -> NoGpu {
        match *g {}
    }

    fn max_pool2d(x: &NoGpu, _: Pool2dGeometry) -> (NoGpu, GpuTensor<u32>) {
        match *x {}
    }

    fn max_pool2d_backward(g: &NoGpu, _: &GpuTensor<u32>, _: &Shape, _: Pool2dGeometry) -> NoGpu {
        match *g {}
    }

    fn avg_pool2d(x: &NoGpu, _: Pool2dGeometry) -> NoGpu {
        match *x {}
    }

    fn avg_pool2d_backward(g: &NoGpu, _: &Shape, _: Pool2dGeometry) -> NoGpu {
        match *g {}
    }

    fn gather(x: &NoGpu, _: usize, _: &GpuTensor<u32>) -> NoGpu {
        match *x {}
    }

    fn scatter_add(x: &NoGpu, _: usize, _: &GpuTensor<u32>, _: &NoGpu) -> NoGpu {
        match *x {}
    }

    fn one_hot(labels: &GpuTensor<u32>, _: usize) -> NoGpu {
        refuse("one_hot", labels.gpu().device())
    }

    fn sgd_step(param: &mut NoGpu, _: &NoGpu, _: &mut Option<NoGpu>, _: &SgdStep) {
        match *param {}
    }

    fn adam_step(
        param: &mut NoGpu,
        _: &NoGpu,
        _: &mut Option<(NoGpu, NoGpu)>,
        _: u64,
        _: &AdamStep,
    ) {
        match *param {}
    }
}
