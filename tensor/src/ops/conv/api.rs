//! The three public convolution ops on [`Tensor`]: their shape checks, the choice of backend,
//! and the CPU backend's bodies, which take the route [`super::route`] picks for them.

use super::gemm::{gemm_conv, gemm_grad_input, gemm_grad_weight};
use super::implicit::implicit_conv;
use super::packed::{packed_conv, packed_grad_input};
use super::route::{
    flipped_weights, grad_input_as_conv, grad_input_winograd_shape, grad_weight_winograd_shape,
    transposed_grad_input_shape, use_implicit, use_packed, use_packed_grad_input, winograd_shape,
    with_best_tile,
};
use super::unfold::Unfold;
use crate::backend::BackendOps;
use crate::counters::{self, CountedOp};
use crate::device::Device;
use crate::element::Element;
use crate::ops::elementwise::relu_in_place;
use crate::ops::packed_gemm::PackedLhs;
use crate::ops::placement::agree;
use crate::ops::weight_cache::{self, Orientation, Preparation};
use crate::ops::winograd::{
    OutputGradient, Tile, WinogradWeights, winograd_conv, winograd_grad_input,
};
use crate::ops::winograd_grad::winograd_grad_weight;
use crate::shape::Shape;
use crate::tensor::Tensor;
use tensor_spec::conv::{Conv2dGeometry, check_conv_shapes};

impl<T: Element> Tensor<T> {
    /// Cross-correlation of NCHW `self` with OIHW `weight`, plus an optional bias `[O]`, as
    /// `torch.nn.functional.conv2d`.
    pub fn conv2d(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        self.conv2d_on_backend(weight, bias, geom, false)
    }

    /// `relu(conv2d(self, weight, bias))` in one op, as `F.relu(F.conv2d(...))` and with the
    /// same bits: the Winograd and packed routes apply the bias and ReLU as they write each
    /// output, the `matrixmultiply` route clamps its output in place in one pass, and on a GPU
    /// the convolution kernel is followed by the ReLU kernel.
    pub fn conv2d_relu(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        self.conv2d_on_backend(weight, bias, geom, true)
    }

    /// [`Tensor::conv2d`], or [`Tensor::conv2d_relu`] when `relu` holds, on the backend that
    /// holds the operands: the two ops' one dispatch.
    fn conv2d_on_backend(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        geom: Conv2dGeometry,
        relu: bool,
    ) -> Tensor<T> {
        let op = if relu { "conv2d_relu" } else { "conv2d" };
        check_conv_shapes(op, self.dims(), weight.dims());
        let mut operands = vec![self.placed(), weight.placed()];
        operands.extend(bias.map(Tensor::placed));
        match agree(op, &operands) {
            Device::Cpu if relu => T::Cpu::conv2d_relu(self, weight, bias, geom),
            Device::Cpu => T::Cpu::conv2d(self, weight, bias, geom),
            device => {
                let (x, w) = (self.gpu_operand(op, device), weight.gpu_operand(op, device));
                let b = bias.map(|b| b.gpu_operand(op, device));
                Tensor::from_gpu_storage(if relu {
                    T::Gpu::conv2d_relu(&x, &w, b.as_ref(), geom)
                } else {
                    T::Gpu::conv2d(&x, &w, b.as_ref(), geom)
                })
            }
        }
    }

    /// Gradient of [`Tensor::conv2d`] with respect to its input: `self` is the output gradient
    /// `[N, O, OH, OW]`; returns `[N, C, H, W]` for `input_shape`.
    pub fn conv2d_grad_input(
        &self,
        weight: &Tensor<T>,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        check_conv_shapes("conv2d_grad_input", input_shape.dims(), weight.dims());
        counters::record(CountedOp::Conv2dGradInput);
        match agree("conv2d_grad_input", &[self.placed(), weight.placed()]) {
            Device::Cpu => T::Cpu::conv2d_grad_input(self, weight, input_shape, geom),
            device => Tensor::from_gpu_storage(T::Gpu::conv2d_grad_input(
                &self.gpu_operand("conv2d_grad_input", device),
                &weight.gpu_operand("conv2d_grad_input", device),
                input_shape,
                geom,
            )),
        }
    }

    /// Gradient of [`Tensor::conv2d_relu`] with respect to its input: `self` is the output
    /// gradient `[N, O, OH, OW]` and `relu_output` the op's output (the gradient flows where it
    /// is positive); returns `[N, C, H, W]` for `input_shape`. The same values as
    /// `self.relu_grad(relu_output).conv2d_grad_input(..)`, and on the CPU's Winograd and
    /// packed routes without the masked gradient's pass over memory: the mask is applied as the
    /// route copies the gradient in.
    pub fn conv2d_relu_grad_input(
        &self,
        relu_output: &Tensor<T>,
        weight: &Tensor<T>,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        let op = "conv2d_relu_grad_input";
        check_conv_shapes(op, input_shape.dims(), weight.dims());
        counters::record(CountedOp::Conv2dGradInput);
        let operands = [self.placed(), relu_output.placed(), weight.placed()];
        match agree(op, &operands) {
            Device::Cpu => {
                T::Cpu::conv2d_relu_grad_input(self, relu_output, weight, input_shape, geom)
            }
            device => Tensor::from_gpu_storage(T::Gpu::conv2d_relu_grad_input(
                &self.gpu_operand(op, device),
                &relu_output.gpu_operand(op, device),
                &weight.gpu_operand(op, device),
                input_shape,
                geom,
            )),
        }
    }

    /// Gradient of [`Tensor::conv2d`] with respect to its weight: `self` is the output gradient
    /// `[N, O, OH, OW]`; returns `weight_shape` (OIHW).
    pub fn conv2d_grad_weight(
        &self,
        input: &Tensor<T>,
        weight_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        check_conv_shapes("conv2d_grad_weight", input.dims(), weight_shape.dims());
        counters::record(CountedOp::Conv2dGradWeight);
        match agree("conv2d_grad_weight", &[self.placed(), input.placed()]) {
            Device::Cpu => T::Cpu::conv2d_grad_weight(self, input, weight_shape, geom),
            device => Tensor::from_gpu_storage(T::Gpu::conv2d_grad_weight(
                &self.gpu_operand("conv2d_grad_weight", device),
                &input.gpu_operand("conv2d_grad_weight", device),
                weight_shape,
                geom,
            )),
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn conv2d_impl(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        self.conv2d_then(weight, bias, geom, false)
    }

    pub(crate) fn conv2d_relu_impl(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        self.conv2d_then(weight, bias, geom, true)
    }

    /// The convolution plus bias, followed by ReLU when `relu` holds.
    fn conv2d_then(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        geom: Conv2dGeometry,
        relu: bool,
    ) -> Tensor<T> {
        let op = if relu { "conv2d_relu" } else { "conv2d" };
        let out_ch = weight.dims()[0];
        if let Some(b) = bias {
            assert_eq!(
                b.dims(),
                &[out_ch],
                "{op}: bias {:?} for {out_ch} output channels",
                b.shape()
            );
        }
        let u = Unfold::new(self.dims(), weight.dims(), geom);
        let n = self.dims()[0];
        let len = n * out_ch * u.positions();
        let bias = bias.map(|b| b.data());
        let winograd = winograd_shape::<T>(&u, out_ch).map(with_best_tile);
        // The Winograd and packed routes apply ReLU as they write each output; the other after.
        let out = if let Some(shape) = winograd {
            let weights = weight_cache::prepared(
                weight,
                Preparation::Winograd(Orientation::Forward, shape.tile),
                || WinogradWeights::new(weight.data(), out_ch, u.channels, shape.tile),
            );
            let mut out = Vec::with_capacity(len);
            winograd_conv(
                &shape,
                &weights,
                bias,
                relu,
                self.data(),
                None,
                &mut out.spare_capacity_mut()[..len],
            );
            // SAFETY: `winograd_conv` wrote all `len` elements (every output of every image).
            unsafe { out.set_len(len) };
            out
        } else if use_packed::<T>(&u) {
            let packed = weight_cache::prepared(weight, Preparation::Packed, || {
                PackedLhs::new(weight.data(), out_ch, u.rows(), u.rows())
            });
            let mut out = Vec::with_capacity(len);
            let y = &mut out.spare_capacity_mut()[..len];
            if use_implicit(&u) {
                implicit_conv(&u, &packed, (bias, relu), self.data(), y);
            } else {
                packed_conv(&u, &packed, (bias, relu), self.data(), y);
            }
            // SAFETY: `packed_conv` or `implicit_conv` wrote all `len` elements (every output of every image).
            unsafe { out.set_len(len) };
            out
        } else {
            let mut out = vec![T::zero(); len];
            gemm_conv(&u, weight.data(), bias, self.data(), &mut out);
            if relu {
                relu_in_place(&mut out);
            }
            out
        };
        Tensor::from_vec(out, [n, out_ch, u.oh, u.ow])
    }

    pub(crate) fn conv2d_relu_grad_input_impl(
        &self,
        relu_output: &Tensor<T>,
        weight: &Tensor<T>,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        assert_eq!(
            self.shape(),
            relu_output.shape(),
            "conv2d_relu_grad_input: output gradient {:?} and ReLU output {:?} differ",
            self.shape(),
            relu_output.shape()
        );
        self.grad_input(Some(relu_output), weight, input_shape, geom)
    }

    pub(crate) fn conv2d_grad_input_impl(
        &self,
        weight: &Tensor<T>,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        self.grad_input(None, weight, input_shape, geom)
    }

    /// The input gradient for the output gradient `self`, masked by `relu_output` when given:
    /// as the Winograd and the packed routes copy `self` in, or as a pass of its own before
    /// the other two.
    fn grad_input(
        &self,
        relu_output: Option<&Tensor<T>>,
        weight: &Tensor<T>,
        input_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        let u = Unfold::new(input_shape.dims(), weight.dims(), geom);
        let (n, out_ch, rows) = (input_shape.dims()[0], weight.dims()[0], u.rows());
        assert_eq!(
            self.dims(),
            &[n, out_ch, u.oh, u.ow],
            "conv2d_grad_input: output gradient {:?} does not fit input {input_shape:?} and weight {:?}",
            self.shape(),
            weight.shape()
        );
        let len = n * u.channels * u.h * u.w;
        if let Some(shape) = transposed_grad_input_shape::<T>(&u, out_ch) {
            let weights = weight_cache::prepared(
                weight,
                Preparation::Winograd(Orientation::Transposed, Tile::Two),
                || WinogradWeights::transposed(weight.data(), out_ch, u.channels, Tile::Two),
            );
            let mut dx = Vec::with_capacity(len);
            winograd_grad_input(
                &shape,
                &weights,
                OutputGradient::Dense(self.data(), relu_output.map(|y| y.data())),
                &mut dx.spare_capacity_mut()[..len],
            );
            // SAFETY: `winograd_grad_input` wrote all `len` elements (every input gradient).
            unsafe { dx.set_len(len) };
            return Tensor::from_vec(dx, input_shape.clone());
        }
        if let Some(shape) = grad_input_winograd_shape::<T>(&u, out_ch) {
            let shape = with_best_tile(shape);
            let weights = weight_cache::prepared(
                weight,
                Preparation::Winograd(Orientation::InputGradient, shape.tile),
                || WinogradWeights::flipped(weight.data(), out_ch, u.channels, shape.tile),
            );
            let mut dx = Vec::with_capacity(len);
            winograd_conv(
                &shape,
                &weights,
                None,
                false,
                self.data(),
                relu_output.map(|y| y.data()),
                &mut dx.spare_capacity_mut()[..len],
            );
            // SAFETY: `winograd_conv` wrote all `len` elements (every input gradient).
            unsafe { dx.set_len(len) };
            return Tensor::from_vec(dx, input_shape.clone());
        }
        let as_conv = grad_input_as_conv::<T>(&u, out_ch);
        let packed = as_conv.is_none() && use_packed_grad_input::<T>(&u, out_ch);
        if let (Some(y), false) = (relu_output, packed) {
            return self
                .relu_grad_impl(y)
                .grad_input(None, weight, input_shape, geom);
        }
        if let Some(uf) = as_conv {
            let packed = weight_cache::prepared(weight, Preparation::PackedFlipped, || {
                let flipped = flipped_weights(&u, weight.data(), out_ch);
                PackedLhs::new(&flipped, u.channels, uf.rows(), uf.rows())
            });
            let mut dx = Vec::with_capacity(len);
            implicit_conv(
                &uf,
                &packed,
                (None, false),
                self.data(),
                &mut dx.spare_capacity_mut()[..len],
            );
            // SAFETY: `implicit_conv` wrote all `len` elements (every input gradient).
            unsafe { dx.set_len(len) };
            return Tensor::from_vec(dx, input_shape.clone());
        }
        let mut dx = vec![T::zero(); len];
        if packed {
            // W^T: element (r, o) of the [C*KH*KW, O] matrix is w[o * rows + r].
            let wt = weight_cache::prepared(weight, Preparation::PackedTransposed, || {
                PackedLhs::strided(weight.data(), rows, out_ch, (1, rows))
            });
            let dy = (self.data(), relu_output.map(|y| y.data()));
            packed_grad_input(&u, &wt, dy, &mut dx);
        } else {
            gemm_grad_input(&u, weight.data(), out_ch, self.data(), &mut dx);
        }
        Tensor::from_vec(dx, input_shape.clone())
    }

    pub(crate) fn conv2d_grad_weight_impl(
        &self,
        input: &Tensor<T>,
        weight_shape: &Shape,
        geom: Conv2dGeometry,
    ) -> Tensor<T> {
        let u = Unfold::new(input.dims(), weight_shape.dims(), geom);
        let (n, out_ch) = (input.dims()[0], weight_shape.dims()[0]);
        assert_eq!(
            self.dims(),
            &[n, out_ch, u.oh, u.ow],
            "conv2d_grad_weight: output gradient {:?} does not fit input {:?} and weight {weight_shape:?}",
            self.shape(),
            input.shape()
        );
        if let Some(shape) = grad_weight_winograd_shape::<T>(&u, out_ch, n) {
            let dw = winograd_grad_weight(&shape, input.data(), self.data());
            return Tensor::from_vec(dw, weight_shape.clone());
        }
        let dw = gemm_grad_weight(&u, out_ch, n, input.data(), self.data());
        Tensor::from_vec(dw, weight_shape.clone())
    }
}
