//! The CPU backend: each op's body is a method of [`Tensor`] in `crate::ops` (`Tensor::add_impl`
//! and so on), on host tensors.
//!
//! Compile once: the bodies are generic over [`Element`](crate::Element), and Rust compiles a
//! generic function again in each crate that uses it with a concrete type. Were the public ops
//! plain generic methods, `autograd`, `nn`, `mart`, `bench` and every test binary would each get
//! their own copy of conv's routes, Winograd, the packed GEMM, pooling and the vectorised
//! elementwise loops, and LLVM would optimise each copy again. Instead [`BackendOps`] is
//! implemented here for `f32` and `f64` separately, each entry `#[inline(never)]` and not
//! generic: the bodies are compiled once, in `tensor`, and callers link them. The movement ops,
//! which also serve `u32` index tensors, stay generic.

use super::UnaryOp;
use super::{BackendOps, BinaryOp, CpuBackend, Draw, MovementOps, ReduceOp, ScalarOp, SoftmaxOp};
use crate::device::Device;
use crate::ops::conv::Conv2dGeometry;
use crate::rng::Rng;
use crate::shape::Shape;
use crate::stored::Stored;
use crate::tensor::{IndexTensor, Tensor};
use tensor_spec::Pool2dGeometry;
use tensor_spec::optim::{AdamStep, SgdStep};

impl<T: Stored> MovementOps<T> for CpuBackend {
    type Tensor = Tensor<T>;

    fn broadcast_to(x: &Tensor<T>, target: &Shape) -> Tensor<T> {
        x.broadcast_to_impl(target)
    }

    fn permute(x: &Tensor<T>, perm: &[usize]) -> Tensor<T> {
        x.permute_impl(perm)
    }

    fn transpose(x: &Tensor<T>, a: usize, b: usize) -> Tensor<T> {
        x.transpose_impl(a, b)
    }

    fn slice(x: &Tensor<T>, axis: usize, start: usize, end: usize) -> Tensor<T> {
        x.slice_impl(axis, start, end)
    }

    fn concat(parts: &[&Tensor<T>], axis: usize) -> Tensor<T> {
        Tensor::concat_impl(parts, axis)
    }

    fn pad(x: &Tensor<T>, pads: &[(usize, usize)], value: T) -> Tensor<T> {
        x.pad_impl(pads, value)
    }

    fn select_rows(x: &Tensor<T>, rows: &[usize]) -> Tensor<T> {
        x.select_rows_impl(rows)
    }
}

/// Implements [`BackendOps`] for [`CpuBackend`] at each listed element type, every entry a
/// non-generic `#[inline(never)]` call of the generic body at that type.
macro_rules! cpu_ops {
    ($($ty:ty),+) => {$(
        impl BackendOps<$ty> for CpuBackend {
            type Index = IndexTensor;

            #[inline(never)]
            fn full(_: Device, shape: Shape, value: $ty) -> Tensor<$ty> {
                Tensor::full(shape, value)
            }

            #[inline(never)]
            fn draw(_: Device, rng: &mut Rng, shape: Shape, draw: Draw) -> Tensor<$ty> {
                rng.draw_impl(shape, draw)
            }

            #[inline(never)]
            fn binary(op: BinaryOp, a: &Tensor<$ty>, b: &Tensor<$ty>) -> Tensor<$ty> {
                match op {
                    BinaryOp::Add => a.add_impl(b),
                    BinaryOp::AddRelu => a.add_relu_impl(b),
                    BinaryOp::Sub => a.sub_impl(b),
                    BinaryOp::Mul => a.mul_impl(b),
                    BinaryOp::Div => a.div_impl(b),
                    BinaryOp::Maximum => a.maximum_impl(b),
                    BinaryOp::Minimum => a.minimum_impl(b),
                    BinaryOp::Gt => a.gt_impl(b),
                    BinaryOp::Ge => a.ge_impl(b),
                    BinaryOp::Lt => a.lt_impl(b),
                    BinaryOp::Le => a.le_impl(b),
                    BinaryOp::Eq => a.eq_mask_impl(b),
                }
            }

            #[inline(never)]
            fn unary(op: UnaryOp, x: &Tensor<$ty>) -> Tensor<$ty> {
                match op {
                    UnaryOp::Neg => x.neg_impl(),
                    UnaryOp::Exp => x.exp_impl(),
                    UnaryOp::Log => x.log_impl(),
                    UnaryOp::Sqrt => x.sqrt_impl(),
                    UnaryOp::Abs => x.abs_impl(),
                    UnaryOp::Sign => x.sign_impl(),
                    UnaryOp::Relu => x.relu_impl(),
                    UnaryOp::Square => x.square_impl(),
                }
            }

            #[inline(never)]
            fn scalar(op: ScalarOp, x: &Tensor<$ty>, s: $ty) -> Tensor<$ty> {
                match op {
                    ScalarOp::Add => x.add_scalar_impl(s),
                    ScalarOp::Mul => x.mul_scalar_impl(s),
                    ScalarOp::Pow => x.powf_impl(s),
                }
            }

            #[inline(never)]
            fn clamp(x: &Tensor<$ty>, min: $ty, max: $ty) -> Tensor<$ty> {
                x.clamp_impl(min, max)
            }

            #[inline(never)]
            fn where_(
                cond: &Tensor<$ty>,
                on_true: &Tensor<$ty>,
                on_false: &Tensor<$ty>,
            ) -> Tensor<$ty> {
                cond.where_impl(on_true, on_false)
            }

            #[inline(never)]
            fn relu_grad(g: &Tensor<$ty>, x: &Tensor<$ty>) -> Tensor<$ty> {
                g.relu_grad_impl(x)
            }

            #[inline(never)]
            fn reduce(op: ReduceOp, x: &Tensor<$ty>, axis: usize, keepdim: bool) -> Tensor<$ty> {
                match op {
                    ReduceOp::Sum => x.sum_axis_impl(axis, keepdim),
                    ReduceOp::Mean => x.mean_axis_impl(axis, keepdim),
                    ReduceOp::Max => x.max_axis_impl(axis, keepdim),
                    ReduceOp::Min => x.min_axis_impl(axis, keepdim),
                }
            }

            #[inline(never)]
            fn reduce_all(op: ReduceOp, x: &Tensor<$ty>) -> Tensor<$ty> {
                match op {
                    ReduceOp::Sum => x.sum_all_impl(),
                    ReduceOp::Mean => x.mean_all_impl(),
                    ReduceOp::Max => x.max_all_impl(),
                    ReduceOp::Min => x.min_all_impl(),
                }
            }

            #[inline(never)]
            fn sum_to(x: &Tensor<$ty>, target: &Shape) -> Tensor<$ty> {
                x.sum_to_impl(target)
            }

            #[inline(never)]
            fn argmax_axis(x: &Tensor<$ty>, axis: usize) -> IndexTensor {
                x.argmax_axis_impl(axis)
            }

            #[inline(never)]
            fn top2_axis(x: &Tensor<$ty>, axis: usize) -> (IndexTensor, IndexTensor) {
                x.top2_axis_impl(axis)
            }

            #[inline(never)]
            fn sort_axis(
                x: &Tensor<$ty>,
                axis: usize,
                descending: bool,
            ) -> (Tensor<$ty>, IndexTensor) {
                x.sort_axis_impl(axis, descending)
            }

            #[inline(never)]
            fn cumsum_axis(x: &Tensor<$ty>, axis: usize) -> Tensor<$ty> {
                x.cumsum_axis_impl(axis)
            }

            #[inline(never)]
            fn softmax(op: SoftmaxOp, x: &Tensor<$ty>, axis: usize) -> Tensor<$ty> {
                match op {
                    SoftmaxOp::Softmax => x.softmax_impl(axis),
                    SoftmaxOp::LogSoftmax => x.log_softmax_impl(axis),
                }
            }

            #[inline(never)]
            fn logsumexp(x: &Tensor<$ty>, axis: usize, keepdim: bool) -> Tensor<$ty> {
                x.logsumexp_impl(axis, keepdim)
            }

            #[inline(never)]
            fn channel_mean_var(x: &Tensor<$ty>) -> (Tensor<$ty>, Tensor<$ty>) {
                x.channel_mean_var_impl()
            }

            #[inline(never)]
            fn channel_affine(
                x: &Tensor<$ty>,
                scale: &Tensor<$ty>,
                shift: &Tensor<$ty>,
            ) -> Tensor<$ty> {
                x.channel_affine_impl(scale, shift)
            }

            #[inline(never)]
            fn channel_grad_sums(
                g: &Tensor<$ty>,
                x: &Tensor<$ty>,
                mean: &Tensor<$ty>,
            ) -> (Tensor<$ty>, Tensor<$ty>) {
                g.channel_grad_sums_impl(x, mean)
            }

            #[inline(never)]
            fn channel_combine(
                g: &Tensor<$ty>,
                a: &Tensor<$ty>,
                x: &Tensor<$ty>,
                center: &Tensor<$ty>,
                b: &Tensor<$ty>,
                k: &Tensor<$ty>,
            ) -> Tensor<$ty> {
                g.channel_combine_impl(a, x, center, b, k)
            }

            #[inline(never)]
            fn matmul_t(
                a: &Tensor<$ty>,
                transpose_a: bool,
                b: &Tensor<$ty>,
                transpose_b: bool,
            ) -> Tensor<$ty> {
                a.matmul_t_impl(transpose_a, b, transpose_b)
            }

            #[inline(never)]
            fn conv2d(
                x: &Tensor<$ty>,
                weight: &Tensor<$ty>,
                bias: Option<&Tensor<$ty>>,
                geom: Conv2dGeometry,
            ) -> Tensor<$ty> {
                x.conv2d_impl(weight, bias, geom)
            }

            #[inline(never)]
            fn conv2d_relu(
                x: &Tensor<$ty>,
                weight: &Tensor<$ty>,
                bias: Option<&Tensor<$ty>>,
                geom: Conv2dGeometry,
            ) -> Tensor<$ty> {
                x.conv2d_relu_impl(weight, bias, geom)
            }

            #[inline(never)]
            fn conv2d_grad_input(
                g: &Tensor<$ty>,
                weight: &Tensor<$ty>,
                input_shape: &Shape,
                geom: Conv2dGeometry,
            ) -> Tensor<$ty> {
                g.conv2d_grad_input_impl(weight, input_shape, geom)
            }

            #[inline(never)]
            fn conv2d_relu_grad_input(
                g: &Tensor<$ty>,
                relu_output: &Tensor<$ty>,
                weight: &Tensor<$ty>,
                input_shape: &Shape,
                geom: Conv2dGeometry,
            ) -> Tensor<$ty> {
                g.conv2d_relu_grad_input_impl(relu_output, weight, input_shape, geom)
            }

            #[inline(never)]
            fn conv2d_grad_weight(
                g: &Tensor<$ty>,
                input: &Tensor<$ty>,
                weight_shape: &Shape,
                geom: Conv2dGeometry,
            ) -> Tensor<$ty> {
                g.conv2d_grad_weight_impl(input, weight_shape, geom)
            }

            #[inline(never)]
            fn conv2d_relu_max_pool(
                x: &Tensor<$ty>,
                weight: &Tensor<$ty>,
                bias: Option<&Tensor<$ty>>,
                geom: Conv2dGeometry,
                pool: Pool2dGeometry,
            ) -> (Tensor<$ty>, IndexTensor) {
                x.conv2d_relu_max_pool_impl(weight, bias, geom, pool)
            }

            #[inline(never)]
            fn conv2d_relu_max_pool_grad_input(
                g: &Tensor<$ty>,
                outputs: (&Tensor<$ty>, &IndexTensor),
                weight: &Tensor<$ty>,
                input_shape: &Shape,
                geometries: (Conv2dGeometry, Pool2dGeometry),
            ) -> Tensor<$ty> {
                g.conv2d_relu_max_pool_grad_input_impl(outputs, weight, input_shape, geometries)
            }

            #[inline(never)]
            fn max_pool2d(x: &Tensor<$ty>, geom: Pool2dGeometry) -> (Tensor<$ty>, IndexTensor) {
                x.max_pool2d_impl(geom)
            }

            #[inline(never)]
            fn max_pool2d_backward(
                g: &Tensor<$ty>,
                indices: &IndexTensor,
                input_shape: &Shape,
                geom: Pool2dGeometry,
            ) -> Tensor<$ty> {
                g.max_pool2d_backward_impl(indices, input_shape, geom)
            }

            #[inline(never)]
            fn avg_pool2d(x: &Tensor<$ty>, geom: Pool2dGeometry) -> Tensor<$ty> {
                x.avg_pool2d_impl(geom)
            }

            #[inline(never)]
            fn avg_pool2d_backward(
                g: &Tensor<$ty>,
                input_shape: &Shape,
                geom: Pool2dGeometry,
            ) -> Tensor<$ty> {
                g.avg_pool2d_backward_impl(input_shape, geom)
            }

            #[inline(never)]
            fn gather(x: &Tensor<$ty>, axis: usize, index: &IndexTensor) -> Tensor<$ty> {
                x.gather_impl(axis, index)
            }

            #[inline(never)]
            fn scatter_add(
                x: &Tensor<$ty>,
                axis: usize,
                index: &IndexTensor,
                src: &Tensor<$ty>,
            ) -> Tensor<$ty> {
                x.scatter_add_impl(axis, index, src)
            }

            #[inline(never)]
            fn one_hot(labels: &IndexTensor, classes: usize) -> Tensor<$ty> {
                Tensor::one_hot_impl(labels, classes)
            }

            #[inline(never)]
            fn sgd_step(
                param: &mut Tensor<$ty>,
                grad: &Tensor<$ty>,
                momentum_buffer: &mut Option<Tensor<$ty>>,
                config: &SgdStep,
            ) {
                param.sgd_step_impl(grad, momentum_buffer, config)
            }

            #[inline(never)]
            fn adam_step(
                param: &mut Tensor<$ty>,
                grad: &Tensor<$ty>,
                moments: &mut Option<(Tensor<$ty>, Tensor<$ty>)>,
                step: u64,
                config: &AdamStep,
            ) {
                param.adam_step_impl(grad, moments, step, config)
            }
        }
    )+};
}

cpu_ops!(f32, f64);
