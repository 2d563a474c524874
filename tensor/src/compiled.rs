//! Compile once: the op bodies, generic over [`Element`](crate::Element), are instantiated for
//! `f32` and `f64` here, in this crate, and every other crate only calls them.
//!
//! Rust compiles a generic function again in each crate that uses it with a concrete type: were
//! the public ops on `Tensor<T>` plain generic methods, `autograd`, `nn`, `mart`, `bench` and every
//! test binary would each get their own copy of conv's routes, Winograd, the packed GEMM, pooling
//! and the vectorised elementwise loops, and LLVM would optimise each copy again. Instead each
//! public op is a one-line method that calls its entry in [`Kernels`] (`T::tensor_conv2d(..)`),
//! and the two impls of [`Kernels`] below, `#[inline(never)]` and not generic, call the op's body
//! (`Tensor::conv2d_impl`) with `T` fixed: the bodies are compiled once, in `tensor`, and
//! callers link them. The bits are those of the generic code; only the crate that compiles it
//! changes.
//!
//! Ops generic over more than the element type stay generic methods: `map` and `zip_map` take a
//! caller's closure, and the movement ops (transpose, slice, pad, concat, ...) also serve index
//! tensors of `u32`.

use crate::ops::conv::Conv2dGeometry;
use crate::ops::optim::{AdamStep, SgdStep};
use crate::ops::pool::Pool2dGeometry;
use crate::shape::Shape;
use crate::tensor::{IndexTensor, Tensor};

/// Declares [`Kernels`] from one list of `fn entry(args) -> ret = body;` and implements it for
/// each element type, every entry a non-generic `#[inline(never)]` call of `body` (a generic
/// op body) at that type.
macro_rules! kernels {
    ($(#[$meta:meta])* pub trait $name:ident for [$($ty:ident),+] $entries:tt) => {
        kernels!(@trait $(#[$meta])* $name $entries);
        $(kernels!(@impl $name $ty $entries);)+
    };
    (@trait $(#[$meta:meta])* $name:ident {
        $(
            $(#[$doc:meta])*
            fn $fn:ident($($arg:ident: $arg_ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path;
        )*
    }) => {
        $(#[$meta])*
        pub trait $name: Sized {
            $($(#[$doc])* fn $fn($($arg: $arg_ty),*) $(-> $ret)?;)*
        }
    };
    (@impl $name:ident $ty:ident {
        $(
            $(#[$doc:meta])*
            fn $fn:ident($($arg:ident: $arg_ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path;
        )*
    }) => {
        impl $name for $ty {
            $(
                #[inline(never)]
                fn $fn($($arg: $arg_ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
            )*
        }
    };
}

kernels! {
    /// The public ops on [`Tensor`] whose bodies are compiled once per element type, in this
    /// crate (see the [module docs](self)). A supertrait of [`Element`](crate::Element),
    /// implemented for `f32` and `f64`; entry `tensor_op` is [`Tensor`]'s method `op` (its
    /// receiver first), named apart from `Float`'s `exp`, `abs`, `max`, ... so that `T::exp(v)`
    /// stays unambiguous.
    pub trait Kernels for [f32, f64] {
        // ops/compare.rs
        /// [`Tensor::gt`].
        fn tensor_gt(x: &Tensor<Self>, other: &Tensor<Self>) -> Tensor<Self> = Tensor::gt_impl;
        /// [`Tensor::relu_grad`].
        fn tensor_relu_grad(
            g: &Tensor<Self>,
            x: &Tensor<Self>,
        ) -> Tensor<Self> = Tensor::relu_grad_impl;
        /// [`Tensor::ge`].
        fn tensor_ge(x: &Tensor<Self>, other: &Tensor<Self>) -> Tensor<Self> = Tensor::ge_impl;
        /// [`Tensor::lt`].
        fn tensor_lt(x: &Tensor<Self>, other: &Tensor<Self>) -> Tensor<Self> = Tensor::lt_impl;
        /// [`Tensor::le`].
        fn tensor_le(x: &Tensor<Self>, other: &Tensor<Self>) -> Tensor<Self> = Tensor::le_impl;
        /// [`Tensor::eq_mask`].
        fn tensor_eq_mask(
            x: &Tensor<Self>,
            other: &Tensor<Self>,
        ) -> Tensor<Self> = Tensor::eq_mask_impl;
        /// [`Tensor::where_`].
        fn tensor_where_(
            x: &Tensor<Self>,
            on_true: &Tensor<Self>,
            on_false: &Tensor<Self>,
        ) -> Tensor<Self> = Tensor::where_impl;
        // ops/elementwise.rs
        /// [`Tensor::add`].
        fn tensor_add(x: &Tensor<Self>, other: &Tensor<Self>) -> Tensor<Self> = Tensor::add_impl;
        /// [`Tensor::sub`].
        fn tensor_sub(x: &Tensor<Self>, other: &Tensor<Self>) -> Tensor<Self> = Tensor::sub_impl;
        /// [`Tensor::mul`].
        fn tensor_mul(x: &Tensor<Self>, other: &Tensor<Self>) -> Tensor<Self> = Tensor::mul_impl;
        /// [`Tensor::div`].
        fn tensor_div(x: &Tensor<Self>, other: &Tensor<Self>) -> Tensor<Self> = Tensor::div_impl;
        /// [`Tensor::maximum`].
        fn tensor_maximum(
            x: &Tensor<Self>,
            other: &Tensor<Self>,
        ) -> Tensor<Self> = Tensor::maximum_impl;
        /// [`Tensor::minimum`].
        fn tensor_minimum(
            x: &Tensor<Self>,
            other: &Tensor<Self>,
        ) -> Tensor<Self> = Tensor::minimum_impl;
        /// [`Tensor::add_scalar`].
        fn tensor_add_scalar(x: &Tensor<Self>, s: Self) -> Tensor<Self> = Tensor::add_scalar_impl;
        /// [`Tensor::mul_scalar`].
        fn tensor_mul_scalar(x: &Tensor<Self>, s: Self) -> Tensor<Self> = Tensor::mul_scalar_impl;
        /// [`Tensor::neg`].
        fn tensor_neg(x: &Tensor<Self>) -> Tensor<Self> = Tensor::neg_impl;
        /// [`Tensor::exp`].
        fn tensor_exp(x: &Tensor<Self>) -> Tensor<Self> = Tensor::exp_impl;
        /// [`Tensor::log`].
        fn tensor_log(x: &Tensor<Self>) -> Tensor<Self> = Tensor::log_impl;
        /// [`Tensor::sqrt`].
        fn tensor_sqrt(x: &Tensor<Self>) -> Tensor<Self> = Tensor::sqrt_impl;
        /// [`Tensor::abs`].
        fn tensor_abs(x: &Tensor<Self>) -> Tensor<Self> = Tensor::abs_impl;
        /// [`Tensor::sign`].
        fn tensor_sign(x: &Tensor<Self>) -> Tensor<Self> = Tensor::sign_impl;
        /// [`Tensor::relu`].
        fn tensor_relu(x: &Tensor<Self>) -> Tensor<Self> = Tensor::relu_impl;
        /// [`Tensor::square`].
        fn tensor_square(x: &Tensor<Self>) -> Tensor<Self> = Tensor::square_impl;
        /// [`Tensor::powf`].
        fn tensor_powf(x: &Tensor<Self>, p: Self) -> Tensor<Self> = Tensor::powf_impl;
        /// [`Tensor::clamp`].
        fn tensor_clamp(
            x: &Tensor<Self>,
            min: Self,
            max: Self,
        ) -> Tensor<Self> = Tensor::clamp_impl;
        // ops/index.rs
        /// [`Tensor::gather`].
        fn tensor_gather(
            x: &Tensor<Self>,
            axis: usize,
            index: &IndexTensor,
        ) -> Tensor<Self> = Tensor::gather_impl;
        /// [`Tensor::scatter_add`].
        fn tensor_scatter_add(
            x: &Tensor<Self>,
            axis: usize,
            index: &IndexTensor,
            src: &Tensor<Self>,
        ) -> Tensor<Self> = Tensor::scatter_add_impl;
        /// [`Tensor::one_hot`].
        fn tensor_one_hot(
            labels: &IndexTensor,
            classes: usize,
        ) -> Tensor<Self> = Tensor::one_hot_impl;
        // ops/matmul.rs
        /// [`Tensor::matmul_t`].
        fn tensor_matmul_t(
            x: &Tensor<Self>,
            transpose_self: bool,
            other: &Tensor<Self>,
            transpose_other: bool,
        ) -> Tensor<Self> = Tensor::matmul_t_impl;
        // ops/optim.rs
        /// [`Tensor::sgd_step`].
        fn tensor_sgd_step(
            x: &mut Tensor<Self>,
            grad: &Tensor<Self>,
            momentum_buffer: &mut Option<Tensor<Self>>,
            config: &SgdStep,
        ) = Tensor::sgd_step_impl;
        /// [`Tensor::adam_step`].
        fn tensor_adam_step(
            x: &mut Tensor<Self>,
            grad: &Tensor<Self>,
            moments: &mut Option<(Tensor<Self>, Tensor<Self>)>,
            step: u64,
            config: &AdamStep,
        ) = Tensor::adam_step_impl;
        // ops/pool.rs
        /// [`Tensor::max_pool2d`].
        fn tensor_max_pool2d(
            x: &Tensor<Self>,
            geom: Pool2dGeometry) -> (Tensor<Self>, IndexTensor,
        ) = Tensor::max_pool2d_impl;
        /// [`Tensor::max_pool2d_backward`].
        fn tensor_max_pool2d_backward(
            x: &Tensor<Self>,
            indices: &IndexTensor,
            input_shape: &Shape,
            geom: Pool2dGeometry,
        ) -> Tensor<Self> = Tensor::max_pool2d_backward_impl;
        /// [`Tensor::avg_pool2d`].
        fn tensor_avg_pool2d(
            x: &Tensor<Self>,
            geom: Pool2dGeometry,
        ) -> Tensor<Self> = Tensor::avg_pool2d_impl;
        /// [`Tensor::avg_pool2d_backward`].
        fn tensor_avg_pool2d_backward(
            x: &Tensor<Self>,
            input_shape: &Shape,
            geom: Pool2dGeometry,
        ) -> Tensor<Self> = Tensor::avg_pool2d_backward_impl;
        // ops/reduce.rs
        /// [`Tensor::sum_axis`].
        fn tensor_sum_axis(
            x: &Tensor<Self>,
            axis: usize,
            keepdim: bool,
        ) -> Tensor<Self> = Tensor::sum_axis_impl;
        /// [`Tensor::mean_axis`].
        fn tensor_mean_axis(
            x: &Tensor<Self>,
            axis: usize,
            keepdim: bool,
        ) -> Tensor<Self> = Tensor::mean_axis_impl;
        /// [`Tensor::max_axis`].
        fn tensor_max_axis(
            x: &Tensor<Self>,
            axis: usize,
            keepdim: bool,
        ) -> Tensor<Self> = Tensor::max_axis_impl;
        /// [`Tensor::min_axis`].
        fn tensor_min_axis(
            x: &Tensor<Self>,
            axis: usize,
            keepdim: bool,
        ) -> Tensor<Self> = Tensor::min_axis_impl;
        /// [`Tensor::argmax_axis`].
        fn tensor_argmax_axis(
            x: &Tensor<Self>,
            axis: usize,
        ) -> IndexTensor = Tensor::argmax_axis_impl;
        /// [`Tensor::top2_axis`].
        fn tensor_top2_axis(
            x: &Tensor<Self>,
            axis: usize) -> (IndexTensor, IndexTensor,
        ) = Tensor::top2_axis_impl;
        /// [`Tensor::sum_all`].
        fn tensor_sum_all(x: &Tensor<Self>) -> Tensor<Self> = Tensor::sum_all_impl;
        /// [`Tensor::mean_all`].
        fn tensor_mean_all(x: &Tensor<Self>) -> Tensor<Self> = Tensor::mean_all_impl;
        /// [`Tensor::max_all`].
        fn tensor_max_all(x: &Tensor<Self>) -> Tensor<Self> = Tensor::max_all_impl;
        /// [`Tensor::min_all`].
        fn tensor_min_all(x: &Tensor<Self>) -> Tensor<Self> = Tensor::min_all_impl;
        /// [`Tensor::sum_to`].
        fn tensor_sum_to(x: &Tensor<Self>, target: &Shape) -> Tensor<Self> = Tensor::sum_to_impl;
        // ops/scan.rs
        /// [`Tensor::sort_axis`].
        fn tensor_sort_axis(
            x: &Tensor<Self>,
            axis: usize,
            descending: bool) -> (Tensor<Self>, IndexTensor,
        ) = Tensor::sort_axis_impl;
        /// [`Tensor::cumsum_axis`].
        fn tensor_cumsum_axis(
            x: &Tensor<Self>,
            axis: usize,
        ) -> Tensor<Self> = Tensor::cumsum_axis_impl;
        // ops/softmax.rs
        /// [`Tensor::softmax`].
        fn tensor_softmax(x: &Tensor<Self>, axis: usize) -> Tensor<Self> = Tensor::softmax_impl;
        /// [`Tensor::log_softmax`].
        fn tensor_log_softmax(
            x: &Tensor<Self>,
            axis: usize,
        ) -> Tensor<Self> = Tensor::log_softmax_impl;
        /// [`Tensor::logsumexp`].
        fn tensor_logsumexp(
            x: &Tensor<Self>,
            axis: usize,
            keepdim: bool,
        ) -> Tensor<Self> = Tensor::logsumexp_impl;
        // ops/stats.rs
        /// [`Tensor::channel_mean_var`].
        fn tensor_channel_mean_var(
            x: &Tensor<Self>) -> (Tensor<Self>, Tensor<Self>,
        ) = Tensor::channel_mean_var_impl;
        // ops/conv/api.rs
        /// [`Tensor::conv2d`].
        fn tensor_conv2d(
            x: &Tensor<Self>,
            weight: &Tensor<Self>,
            bias: Option<&Tensor<Self>>,
            geom: Conv2dGeometry,
        ) -> Tensor<Self> = Tensor::conv2d_impl;
        /// [`Tensor::conv2d_relu`].
        fn tensor_conv2d_relu(
            x: &Tensor<Self>,
            weight: &Tensor<Self>,
            bias: Option<&Tensor<Self>>,
            geom: Conv2dGeometry,
        ) -> Tensor<Self> = Tensor::conv2d_relu_impl;
        /// [`Tensor::conv2d_grad_input`].
        fn tensor_conv2d_grad_input(
            x: &Tensor<Self>,
            weight: &Tensor<Self>,
            input_shape: &Shape,
            geom: Conv2dGeometry,
        ) -> Tensor<Self> = Tensor::conv2d_grad_input_impl;
        /// [`Tensor::conv2d_grad_weight`].
        fn tensor_conv2d_grad_weight(
            x: &Tensor<Self>,
            input: &Tensor<Self>,
            weight_shape: &Shape,
            geom: Conv2dGeometry,
        ) -> Tensor<Self> = Tensor::conv2d_grad_weight_impl;
    }
}
