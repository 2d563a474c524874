//! `max_pool2d(relu(conv2d(x)))` as one op, [`Tensor::conv2d_relu_max_pool`], and its input
//! gradient: SmallCNN's conv2 and conv4, each followed by a ReLU and a 2x2 max pooling. Where
//! the convolution takes Winograd's tiles of 2 and the pooling's windows are those tiles, the
//! CPU pools each tile as it is computed ([`winograd_conv_relu_max_pool`]) and the input
//! gradient reads the pooled gradient in place ([`OutputGradient::Pooled`]): the convolution's
//! output and its gradient are never written (9.4 MB each for SmallCNN's conv2 at batch 128).
//! Elsewhere, and on a GPU, the ops run in turn.

use super::route::{transposed_grad_input_shape, winograd_shape};
use super::unfold::Unfold;
use crate::backend::BackendOps;
use crate::counters::{self, CountedOp};
use crate::device::Device;
use crate::element::Element;
use crate::ops::placement::agree;
use crate::ops::weight_cache::{self, Orientation, Preparation};
use crate::ops::winograd::{
    OutputGradient, Tile, WinogradShape, WinogradWeights, winograd_conv_relu_max_pool,
    winograd_grad_input,
};
use crate::shape::Shape;
use crate::tensor::{IndexTensor, Tensor};
use tensor_spec::Pool2dGeometry;
use tensor_spec::conv::{Conv2dGeometry, check_conv_shapes};

impl<T: Element> Tensor<T> {
    /// `max_pool2d(relu(conv2d(self, weight, bias)), pool)` in one op, as `F.max_pool2d(F.relu(
    /// F.conv2d(...)))`, with the same values and indices as the three ops in turn (the
    /// indices flat in the convolution's output plane).
    pub fn conv2d_relu_max_pool(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        geom: Conv2dGeometry,
        pool: Pool2dGeometry,
    ) -> (Tensor<T>, IndexTensor) {
        let op = "conv2d_relu_max_pool";
        check_conv_shapes(op, self.dims(), weight.dims());
        let mut operands = vec![self.placed(), weight.placed()];
        operands.extend(bias.map(Tensor::placed));
        match agree(op, &operands) {
            Device::Cpu => T::Cpu::conv2d_relu_max_pool(self, weight, bias, geom, pool),
            device => {
                let (x, w) = (self.gpu_operand(op, device), weight.gpu_operand(op, device));
                let b = bias.map(|b| b.gpu_operand(op, device));
                let (values, indices) =
                    T::Gpu::conv2d_relu_max_pool(&x, &w, b.as_ref(), geom, pool);
                (
                    Tensor::from_gpu_storage(values),
                    Tensor::from_gpu_storage(indices),
                )
            }
        }
    }

    /// Gradient of [`Tensor::conv2d_relu_max_pool`] with respect to its input: `self` is the
    /// pooled output's gradient, `pooled` and `indices` the op's outputs; returns `[N, C, H,
    /// W]` for `input_shape`. The same values as `self.relu_grad(pooled).max_pool2d_backward(
    /// indices, ..).conv2d_grad_input(..)`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d_relu_max_pool_grad_input(
        &self,
        pooled: &Tensor<T>,
        indices: &IndexTensor,
        weight: &Tensor<T>,
        input_shape: &Shape,
        geom: Conv2dGeometry,
        pool: Pool2dGeometry,
    ) -> Tensor<T> {
        let op = "conv2d_relu_max_pool_grad_input";
        check_conv_shapes(op, input_shape.dims(), weight.dims());
        assert!(
            self.shape() == pooled.shape() && self.shape() == indices.shape(),
            "{op}: gradient {:?}, pooled output {:?} and indices {:?} differ",
            self.shape(),
            pooled.shape(),
            indices.shape()
        );
        counters::record(CountedOp::Conv2dGradInput);
        let operands = [
            self.placed(),
            pooled.placed(),
            indices.placed(),
            weight.placed(),
        ];
        match agree(op, &operands) {
            Device::Cpu => T::Cpu::conv2d_relu_max_pool_grad_input(
                self,
                (pooled, indices),
                weight,
                input_shape,
                (geom, pool),
            ),
            device => Tensor::from_gpu_storage(T::Gpu::conv2d_relu_max_pool_grad_input(
                &self.gpu_operand(op, device),
                (
                    &pooled.gpu_operand(op, device),
                    &indices.gpu_operand(op, device),
                ),
                &weight.gpu_operand(op, device),
                input_shape,
                (geom, pool),
            )),
        }
    }
}

/// The Winograd shape (tiles of 2) of convolution `u` with `out_ch` output channels when a
/// max pooling `pool` after it can pool its tiles as they are computed: the convolution takes
/// Winograd's route with tiles of 2 (see [`super::route::with_best_tile`]: tiles of 4 are for
/// 64 channels and up on larger images), the windows are 2x2 with stride 2 and no padding, and
/// the output's sides are even, so that each window is one tile.
fn pooled_shape<T: Element>(
    u: &Unfold,
    out_ch: usize,
    pool: Pool2dGeometry,
) -> Option<WinogradShape> {
    let shape = winograd_shape::<T>(u, out_ch)?;
    let tiles_are_windows =
        pool == Pool2dGeometry::new(2, 2, 0) && u.oh.is_multiple_of(2) && u.ow.is_multiple_of(2);
    let best = super::route::with_best_tile(shape);
    (tiles_are_windows && best.tile == Tile::Two).then_some(shape)
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn conv2d_relu_max_pool_impl(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        geom: Conv2dGeometry,
        pool: Pool2dGeometry,
    ) -> (Tensor<T>, IndexTensor) {
        let u = Unfold::new(self.dims(), weight.dims(), geom);
        let out_ch = weight.dims()[0];
        let Some(shape) = pooled_shape::<T>(&u, out_ch, pool) else {
            return self
                .conv2d_relu_impl(weight, bias, geom)
                .max_pool2d_impl(pool);
        };
        if let Some(b) = bias {
            assert_eq!(
                b.dims(),
                &[out_ch],
                "conv2d_relu_max_pool: bias {:?} for {out_ch} output channels",
                b.shape()
            );
        }
        let weights = weight_cache::prepared(
            weight,
            Preparation::Winograd(Orientation::Forward, Tile::Two),
            || WinogradWeights::new(weight.data(), out_ch, u.channels, Tile::Two),
        );
        let (n, ph, pw) = (self.dims()[0], u.oh / 2, u.ow / 2);
        let len = n * out_ch * ph * pw;
        let (mut values, mut indices) = (Vec::with_capacity(len), Vec::with_capacity(len));
        winograd_conv_relu_max_pool(
            &shape,
            &weights,
            bias.map(|b| b.data()),
            self.data(),
            (
                &mut values.spare_capacity_mut()[..len],
                &mut indices.spare_capacity_mut()[..len],
            ),
        );
        // SAFETY: `winograd_conv_relu_max_pool` wrote all `len` values and indices.
        unsafe { (values.set_len(len), indices.set_len(len)) };
        (
            Tensor::from_vec(values, [n, out_ch, ph, pw]),
            Tensor::from_vec(indices, [n, out_ch, ph, pw]),
        )
    }

    pub(crate) fn conv2d_relu_max_pool_grad_input_impl(
        &self,
        (pooled, indices): (&Tensor<T>, &IndexTensor),
        weight: &Tensor<T>,
        input_shape: &Shape,
        (geom, pool): (Conv2dGeometry, Pool2dGeometry),
    ) -> Tensor<T> {
        let u = Unfold::new(input_shape.dims(), weight.dims(), geom);
        let (n, out_ch) = (input_shape.dims()[0], weight.dims()[0]);
        let transposed = transposed_grad_input_shape::<T>(&u, out_ch)
            .filter(|_| pooled_shape::<T>(&u, out_ch, pool).is_some());
        let expected = [n, out_ch, u.oh / 2, u.ow / 2];
        let Some(shape) = transposed.filter(|_| self.dims() == expected) else {
            let output_shape = Shape::from([n, out_ch, u.oh, u.ow]);
            return self
                .relu_grad_impl(pooled)
                .max_pool2d_backward_impl(indices, &output_shape, pool)
                .conv2d_grad_input_impl(weight, input_shape, geom);
        };
        let weights = weight_cache::prepared(
            weight,
            Preparation::Winograd(Orientation::Transposed, Tile::Two),
            || WinogradWeights::transposed(weight.data(), out_ch, u.channels, Tile::Two),
        );
        let len = input_shape.numel();
        let mut dx = Vec::with_capacity(len);
        let dy = OutputGradient::Pooled {
            gradient: self.data(),
            pooled: pooled.data(),
            indices: indices.data(),
        };
        winograd_grad_input(&shape, &weights, dy, &mut dx.spare_capacity_mut()[..len]);
        // SAFETY: `winograd_grad_input` wrote all `len` elements (every input gradient).
        unsafe { dx.set_len(len) };
        Tensor::from_vec(dx, input_shape.clone())
    }
}
