//! The convolution and its two gradients on every device (`device_test!`: cpu, sim, cuda)
//! against the loops of `main.rs`: kernels 1, 3, 4 and non-square, strides 1 and 2, paddings 0
//! and 1, 1 to 17 channels, with and without bias, the 1x1 stride-1 fast path, enough images
//! that the GPU's weight gradient sums them in several groups, a batch of no images; and the
//! panics of mismatched shapes.

use super::common::device::{assert_f32, back, device_test, on};
use super::{Conv, reference};
use tensor::{Conv2dGeometry, Device, Rng, Shape, Tensor};

/// A convolution of input `[n, c, h, w]` and weight `[o, c, kh, kw]`, with stride and padding.
const fn conv(
    (n, c, h, w): (usize, usize, usize, usize),
    (o, kh, kw): (usize, usize, usize),
    (stride, padding): (usize, usize),
) -> Conv {
    Conv {
        n,
        c,
        h,
        w,
        o,
        kh,
        kw,
        stride,
        padding,
    }
}

/// Each case with or without a bias. The last has enough images that the GPU's weight gradient
/// sums two images per output (and one in the last), then adds the partial sums.
const CASES: [(Conv, bool); 9] = [
    (conv((2, 3, 8, 8), (5, 3, 3), (1, 1)), true),
    (conv((1, 1, 7, 9), (4, 3, 3), (2, 0)), false),
    (conv((3, 17, 5, 6), (7, 1, 1), (1, 0)), true),
    (conv((2, 4, 9, 9), (3, 1, 1), (2, 0)), false),
    (conv((2, 5, 10, 7), (6, 4, 4), (2, 1)), true),
    (conv((1, 2, 6, 8), (9, 2, 3), (1, 1)), false),
    (conv((1, 3, 4, 4), (2, 4, 4), (1, 0)), true),
    (conv((20, 2, 5, 5), (3, 3, 3), (1, 1)), false),
    (conv((67, 8, 3, 3), (65, 3, 3), (1, 1)), true),
];

/// Tolerance for sums of `terms` products of values in `[-1, 1)`, added in any order.
fn atol(terms: usize) -> f64 {
    1e-5 * (terms as f64 + 1.0)
}

/// Runs the three passes of `conv` on `device` with random values in `[-1, 1)` and compares
/// them with the f64 loops on the same (f32) values.
fn check_on(device: Device, rng: &mut Rng, conv: Conv, with_bias: bool) {
    let geom = Conv2dGeometry::new(conv.stride, conv.padding);
    let x: Tensor<f32> = rng.uniform(conv.input_dims(), -1.0, 1.0);
    let w: Tensor<f32> = rng.uniform(conv.weight_dims(), -1.0, 1.0);
    let b: Tensor<f32> = rng.uniform([conv.o], -1.0, 1.0);
    let dy: Tensor<f32> = rng.uniform(conv.output_dims(), -1.0, 1.0);
    let bias = with_bias.then(|| b.to_f64_vec());
    let [want_y, want_dx, want_dw] = reference(
        &conv,
        &x.to_f64_vec(),
        &w.to_f64_vec(),
        bias.as_deref(),
        &dy.to_f64_vec(),
    );
    let (gx, gw, gb, gdy) = (
        on(device, &x),
        on(device, &w),
        on(device, &b),
        on(device, &dy),
    );
    let what = format!("{conv:?} bias {with_bias} on {device}");

    let y = gx.conv2d(&gw, with_bias.then_some(&gb), geom);
    let terms = conv.c * conv.kh * conv.kw;
    let y = back(device, &y);
    assert_f32(
        &format!("{what}: conv2d"),
        &y,
        &conv.output_dims(),
        &want_y,
        atol(terms),
        1e-5,
    );

    let dx = back(device, &gdy.conv2d_grad_input(&gw, x.shape(), geom));
    let terms = conv.o * conv.kh * conv.kw;
    let dims = conv.input_dims();
    assert_f32(
        &format!("{what}: grad input"),
        &dx,
        &dims,
        &want_dx,
        atol(terms),
        1e-5,
    );

    let dw = back(device, &gdy.conv2d_grad_weight(&gx, w.shape(), geom));
    let terms = conv.n * conv.output_dims()[2] * conv.output_dims()[3];
    let dims = conv.weight_dims();
    assert_f32(
        &format!("{what}: grad weight"),
        &dw,
        &dims,
        &want_dw,
        atol(terms),
        1e-5,
    );
}

fn forward_and_gradients(device: Device) {
    let mut rng = Rng::new(20);
    for (conv, with_bias) in CASES {
        check_on(device, &mut rng, conv, with_bias);
    }
}
device_test!(forward_and_gradients);

/// A batch of no images: empty outputs and input gradient, a zero weight gradient.
fn no_images(device: Device) {
    check_on(
        device,
        &mut Rng::new(21),
        conv((0, 2, 4, 4), (3, 3, 3), (1, 1)),
        true,
    );
}
device_test!(no_images);

fn channel_mismatch_panics(device: Device) {
    let x = on(device, &Tensor::<f32>::zeros([1, 3, 5, 5]));
    let _ = x.conv2d(
        &on(device, &Tensor::zeros([2, 4, 3, 3])),
        None,
        Conv2dGeometry::new(1, 0),
    );
}
device_test!(
    #[should_panic(
        expected = "conv2d: input [1, 3, 5, 5] (NCHW) and weight [2, 4, 3, 3] (OIHW) do not match"
    )]
    channel_mismatch_panics: cpu, sim
);

fn kernel_larger_than_the_image_panics(device: Device) {
    let x = on(device, &Tensor::<f32>::zeros([1, 1, 3, 3]));
    let _ = x.conv2d(
        &on(device, &Tensor::zeros([1, 1, 5, 5])),
        None,
        Conv2dGeometry::new(1, 0),
    );
}
device_test!(
    #[should_panic(expected = "conv2d: kernel 5x5 larger than padded input 3x3")]
    kernel_larger_than_the_image_panics: cpu, sim
);

fn bias_of_the_wrong_length_panics(device: Device) {
    let zeros = |dims: &[usize]| on(device, &Tensor::<f32>::zeros(dims));
    let bias = zeros(&[3]);
    let _ = zeros(&[1, 1, 3, 3]).conv2d(
        &zeros(&[2, 1, 3, 3]),
        Some(&bias),
        Conv2dGeometry::new(1, 0),
    );
}
device_test!(
    #[should_panic(expected = "conv2d: bias [3] for 2 output channels")]
    bias_of_the_wrong_length_panics: cpu, sim
);

fn grad_input_of_the_wrong_size_panics(device: Device) {
    let dy = on(device, &Tensor::<f32>::zeros([1, 2, 4, 4]));
    let w = on(device, &Tensor::zeros([2, 3, 3, 3]));
    let _ = dy.conv2d_grad_input(&w, &Shape::new(&[1, 3, 5, 5]), Conv2dGeometry::new(1, 0));
}
device_test!(
    #[should_panic(
        expected = "conv2d_grad_input: output gradient [1, 2, 4, 4] does not fit input [1, 3, 5, 5] and weight [2, 3, 3, 3]"
    )]
    grad_input_of_the_wrong_size_panics: cpu, sim
);

fn grad_weight_of_the_wrong_size_panics(device: Device) {
    let dy = on(device, &Tensor::<f32>::zeros([1, 2, 3, 3]));
    let x = on(device, &Tensor::zeros([1, 3, 5, 5]));
    let _ = dy.conv2d_grad_weight(&x, &Shape::new(&[2, 3, 3, 3]), Conv2dGeometry::new(1, 1));
}
device_test!(
    #[should_panic(
        expected = "conv2d_grad_weight: output gradient [1, 2, 3, 3] does not fit input [1, 3, 5, 5] and weight [2, 3, 3, 3]"
    )]
    grad_weight_of_the_wrong_size_panics: cpu, sim
);
