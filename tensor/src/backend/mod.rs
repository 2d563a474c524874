//! The closed op set, as two traits that every backend implements: [`MovementOps`] for any
//! stored element type (values and indices) and [`BackendOps`] for the float types.
//!
//! A backend is a marker type whose associated `Tensor` is its own tensor (elements plus shape):
//! [`CpuBackend`] works on host tensors (`cpu.rs`: the bodies in `crate::ops`, compiled once for
//! `f32` and `f64` in this crate), [`GpuBackend`] on [`GpuTensor`]s (`gpu.rs`: our PTX kernels
//! in `tensor_gpu::kernels`), and [`NoGpu`](crate::stored::NoGpu), a backend with no tensors,
//! stands for the GPU of `f64` (`no_gpu.rs`). Each element type names its backends
//! ([`crate::Stored`], [`crate::Element`]), and `Tensor` runs each op on the backend that holds
//! its operands, in one `match` per op (`crate::ops`), after checking that they agree on a
//! device (`crate::ops::placement`). Leaving an op out of a backend is a compile error.
//!
//! Ops take and return tensors; a GPU failure inside one (out of memory, a faulted kernel)
//! panics with the device's message, since ops return tensors, not `Result`s.
//!
//! [`GpuTensor`]: tensor_gpu::GpuTensor

mod cpu;
mod gpu;
mod no_gpu;

use crate::device::Device;
use crate::ops::conv::Conv2dGeometry;
use crate::rng::Rng;
use crate::shape::Shape;
use tensor_spec::Pool2dGeometry;
pub use tensor_spec::op::{BinaryOp, Draw, ReduceOp, ScalarOp, SoftmaxOp, UnaryOp};
use tensor_spec::optim::{AdamStep, SgdStep};

/// The CPU backend: host tensors, rayon, SIMD and our GEMMs.
pub struct CpuBackend;

/// The GPU backend: [`GpuTensor`](tensor_gpu::GpuTensor)s and our PTX kernels, on an NVIDIA
/// GPU or the simulator.
pub struct GpuBackend;

/// The movement ops, for every stored element type: each copies into a fresh contiguous tensor.
pub trait MovementOps<T> {
    /// This backend's tensor of `T`.
    type Tensor;
    /// Repeats size-1 (or missing leading) axes to reach `target`.
    fn broadcast_to(x: &Self::Tensor, target: &Shape) -> Self::Tensor;
    /// Reorders the axes: output axis `i` is input axis `perm[i]`.
    fn permute(x: &Self::Tensor, perm: &[usize]) -> Self::Tensor;
    /// Swaps two axes.
    fn transpose(x: &Self::Tensor, a: usize, b: usize) -> Self::Tensor;
    /// Elements `start..end` along `axis`.
    fn slice(x: &Self::Tensor, axis: usize, start: usize, end: usize) -> Self::Tensor;
    /// Joins `parts` (at least one) along `axis`.
    fn concat(parts: &[&Self::Tensor], axis: usize) -> Self::Tensor;
    /// Pads each axis with `pads[axis] = (before, after)` copies of `value`.
    fn pad(x: &Self::Tensor, pads: &[(usize, usize)], value: T) -> Self::Tensor;
    /// The rows `rows` of axis 0, in that order.
    fn select_rows(x: &Self::Tensor, rows: &[usize]) -> Self::Tensor;
}

/// The float op set (see the [module docs](self)); `Index` is the same backend's tensor of
/// `u32` indices. Each op's meaning is documented on its `Tensor` method.
pub trait BackendOps<T>: MovementOps<T> {
    /// This backend's tensor of `u32` indices.
    type Index;

    /// A tensor of `shape` filled with `value` on `device`.
    fn full(device: Device, shape: Shape, value: T) -> Self::Tensor;
    /// A seeded random tensor of `shape` on `device`; advances `rng` past it.
    fn draw(device: Device, rng: &mut Rng, shape: Shape, draw: Draw) -> Self::Tensor;

    /// [`crate::Tensor::add`] and the other broadcasting binary ops and comparisons.
    fn binary(op: BinaryOp, a: &Self::Tensor, b: &Self::Tensor) -> Self::Tensor;
    /// [`crate::Tensor::exp`] and the other unary ops.
    fn unary(op: UnaryOp, x: &Self::Tensor) -> Self::Tensor;
    /// [`crate::Tensor::add_scalar`], [`crate::Tensor::mul_scalar`], [`crate::Tensor::powf`].
    fn scalar(op: ScalarOp, x: &Self::Tensor, s: T) -> Self::Tensor;
    /// [`crate::Tensor::clamp`] (`min <= max`, checked by the caller).
    fn clamp(x: &Self::Tensor, min: T, max: T) -> Self::Tensor;
    /// [`crate::Tensor::where_`].
    fn where_(cond: &Self::Tensor, on_true: &Self::Tensor, on_false: &Self::Tensor)
    -> Self::Tensor;
    /// [`crate::Tensor::relu_grad`] (same shapes, checked by the caller).
    fn relu_grad(g: &Self::Tensor, x: &Self::Tensor) -> Self::Tensor;

    /// [`crate::Tensor::sum_axis`] and the other reductions along an axis.
    fn reduce(op: ReduceOp, x: &Self::Tensor, axis: usize, keepdim: bool) -> Self::Tensor;
    /// [`crate::Tensor::sum_all`] and the other reductions to a rank-0 tensor.
    fn reduce_all(op: ReduceOp, x: &Self::Tensor) -> Self::Tensor;
    /// [`crate::Tensor::sum_to`].
    fn sum_to(x: &Self::Tensor, target: &Shape) -> Self::Tensor;
    /// [`crate::Tensor::argmax_axis`].
    fn argmax_axis(x: &Self::Tensor, axis: usize) -> Self::Index;
    /// [`crate::Tensor::top2_axis`].
    fn top2_axis(x: &Self::Tensor, axis: usize) -> (Self::Index, Self::Index);
    /// [`crate::Tensor::sort_axis`].
    fn sort_axis(x: &Self::Tensor, axis: usize, descending: bool) -> (Self::Tensor, Self::Index);
    /// [`crate::Tensor::cumsum_axis`].
    fn cumsum_axis(x: &Self::Tensor, axis: usize) -> Self::Tensor;
    /// [`crate::Tensor::softmax`] and [`crate::Tensor::log_softmax`].
    fn softmax(op: SoftmaxOp, x: &Self::Tensor, axis: usize) -> Self::Tensor;
    /// [`crate::Tensor::logsumexp`].
    fn logsumexp(x: &Self::Tensor, axis: usize, keepdim: bool) -> Self::Tensor;
    /// [`crate::Tensor::channel_mean_var`].
    fn channel_mean_var(x: &Self::Tensor) -> (Self::Tensor, Self::Tensor);
    /// [`crate::Tensor::channel_affine`] (shapes checked by the caller).
    fn channel_affine(x: &Self::Tensor, scale: &Self::Tensor, shift: &Self::Tensor)
    -> Self::Tensor;
    /// [`crate::Tensor::channel_grad_sums`] (shapes checked by the caller).
    fn channel_grad_sums(
        g: &Self::Tensor,
        x: &Self::Tensor,
        mean: &Self::Tensor,
    ) -> (Self::Tensor, Self::Tensor);
    /// [`crate::Tensor::channel_combine`] (shapes checked by the caller).
    fn channel_combine(
        g: &Self::Tensor,
        a: &Self::Tensor,
        x: &Self::Tensor,
        center: &Self::Tensor,
        b: &Self::Tensor,
        k: &Self::Tensor,
    ) -> Self::Tensor;

    /// [`crate::Tensor::matmul_t`].
    fn matmul_t(
        a: &Self::Tensor,
        transpose_a: bool,
        b: &Self::Tensor,
        transpose_b: bool,
    ) -> Self::Tensor;
    /// [`crate::Tensor::conv2d`] (shapes checked by the caller).
    fn conv2d(
        x: &Self::Tensor,
        weight: &Self::Tensor,
        bias: Option<&Self::Tensor>,
        geom: Conv2dGeometry,
    ) -> Self::Tensor;
    /// [`crate::Tensor::conv2d_relu`] (shapes checked by the caller).
    fn conv2d_relu(
        x: &Self::Tensor,
        weight: &Self::Tensor,
        bias: Option<&Self::Tensor>,
        geom: Conv2dGeometry,
    ) -> Self::Tensor;
    /// [`crate::Tensor::conv2d_grad_input`] (shapes checked by the caller).
    fn conv2d_grad_input(
        g: &Self::Tensor,
        weight: &Self::Tensor,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Self::Tensor;
    /// [`crate::Tensor::conv2d_relu_grad_input`] (shapes checked by the caller).
    fn conv2d_relu_grad_input(
        g: &Self::Tensor,
        relu_output: &Self::Tensor,
        weight: &Self::Tensor,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Self::Tensor;
    /// [`crate::Tensor::conv2d_grad_weight`] (shapes checked by the caller).
    fn conv2d_grad_weight(
        g: &Self::Tensor,
        input: &Self::Tensor,
        weight_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Self::Tensor;
    /// [`crate::Tensor::conv2d_relu_max_pool`] (shapes checked by the caller).
    fn conv2d_relu_max_pool(
        x: &Self::Tensor,
        weight: &Self::Tensor,
        bias: Option<&Self::Tensor>,
        geom: Conv2dGeometry,
        pool: Pool2dGeometry,
    ) -> (Self::Tensor, Self::Index);
    /// [`crate::Tensor::conv2d_relu_max_pool_grad_input`] (shapes checked by the caller).
    fn conv2d_relu_max_pool_grad_input(
        g: &Self::Tensor,
        outputs: (&Self::Tensor, &Self::Index),
        weight: &Self::Tensor,
        input_shape: &Shape,
        geometries: (Conv2dGeometry, Pool2dGeometry),
    ) -> Self::Tensor;
    /// [`crate::Tensor::max_pool2d`].
    fn max_pool2d(x: &Self::Tensor, geom: Pool2dGeometry) -> (Self::Tensor, Self::Index);
    /// [`crate::Tensor::max_pool2d_backward`] (shapes checked by the caller).
    fn max_pool2d_backward(
        g: &Self::Tensor,
        indices: &Self::Index,
        input_shape: &Shape,
        geom: Pool2dGeometry,
    ) -> Self::Tensor;
    /// [`crate::Tensor::avg_pool2d`].
    fn avg_pool2d(x: &Self::Tensor, geom: Pool2dGeometry) -> Self::Tensor;
    /// [`crate::Tensor::avg_pool2d_backward`].
    fn avg_pool2d_backward(
        g: &Self::Tensor,
        input_shape: &Shape,
        geom: Pool2dGeometry,
    ) -> Self::Tensor;

    /// [`crate::Tensor::gather`].
    fn gather(x: &Self::Tensor, axis: usize, index: &Self::Index) -> Self::Tensor;
    /// [`crate::Tensor::scatter_add`].
    fn scatter_add(
        x: &Self::Tensor,
        axis: usize,
        index: &Self::Index,
        src: &Self::Tensor,
    ) -> Self::Tensor;
    /// [`crate::Tensor::one_hot`].
    fn one_hot(labels: &Self::Index, classes: usize) -> Self::Tensor;

    /// [`crate::Tensor::sgd_step`] (shapes checked by the caller).
    fn sgd_step(
        param: &mut Self::Tensor,
        grad: &Self::Tensor,
        momentum_buffer: &mut Option<Self::Tensor>,
        config: &SgdStep,
    );
    /// [`crate::Tensor::adam_step`] (shapes checked by the caller).
    fn adam_step(
        param: &mut Self::Tensor,
        grad: &Self::Tensor,
        moments: &mut Option<(Self::Tensor, Self::Tensor)>,
        step: u64,
        config: &AdamStep,
    );
}
