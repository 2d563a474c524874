//! `conv2d_relu_max_pool` on every device (`device_test!`: cpu, sim, cuda): the values and
//! indices of `conv2d_relu` then `max_pool2d`, bit for bit, where the CPU pools Winograd's
//! tiles as it computes them (tiles of 2, 2x2 windows, even output sides; padded or not) and
//! where the ops run in turn (odd sides, 3x3 windows, tiles of 4, few channels, no images).
//! Its input gradient, `conv2d_relu_max_pool_grad_input`, against the mask, the pooling's
//! backward and `conv2d_grad_input` in turn: the same bits, where the CPU reads the pooled
//! gradient in place (unpadded) and where it does not.

use super::Conv;
use super::common::device::{assert_bits, back, device_test, on};
use tensor::{Conv2dGeometry, Device, Pool2dGeometry, Rng, Shape, Tensor};

/// Each case: the convolution, the pooling's window and stride, and whether it has a bias.
const CASES: [(Conv, (usize, usize), bool); 8] = [
    (conv((2, 16, 10, 10), 17, 0), (2, 2), true),
    (conv((3, 16, 14, 12), 16, 0), (2, 2), false),
    (conv((2, 16, 8, 8), 16, 1), (2, 2), true),
    (conv((1, 16, 9, 9), 16, 0), (2, 2), true),
    (conv((2, 16, 10, 10), 16, 0), (3, 2), false),
    (conv((1, 64, 18, 18), 64, 0), (2, 2), true),
    (conv((2, 4, 8, 8), 5, 0), (2, 2), true),
    (conv((0, 16, 10, 10), 16, 0), (2, 2), true),
];

/// A 3x3 stride-1 convolution of input `[n, c, h, w]` to `o` channels, with padding.
const fn conv((n, c, h, w): (usize, usize, usize, usize), o: usize, padding: usize) -> Conv {
    Conv {
        n,
        c,
        h,
        w,
        o,
        kh: 3,
        kw: 3,
        stride: 1,
        padding,
    }
}

fn matches_conv_relu_then_max_pool(device: Device) {
    let mut rng = Rng::new(31);
    for (conv, (kernel, stride), with_bias) in CASES {
        let (geom, pool) = (
            Conv2dGeometry::new(1, conv.padding),
            Pool2dGeometry::new(kernel, stride, 0),
        );
        let x: Tensor<f32> = rng.uniform(conv.input_dims(), -1.0, 1.0);
        let w: Tensor<f32> = rng.uniform(conv.weight_dims(), -1.0, 1.0);
        let b: Tensor<f32> = rng.uniform([conv.o], -1.0, 1.0);
        let (gx, gw, gb) = (on(device, &x), on(device, &w), on(device, &b));
        let bias = with_bias.then_some(&gb);
        let what = format!("{conv:?} pool {kernel}/{stride} bias {with_bias} on {device}");

        let (pooled, indices) = gx.conv2d_relu_max_pool(&gw, bias, geom, pool);
        let y = gx.conv2d_relu(&gw, bias, geom);
        let (want, want_indices) = y.max_pool2d(pool);
        let dims = back(device, &want).dims().to_vec();
        let want = back(device, &want).to_f64_vec();
        assert_bits(
            &format!("{what}: values"),
            &back(device, &pooled),
            &dims,
            &want,
        );
        assert_eq!(
            back(device, &indices).to_vec(),
            back(device, &want_indices).to_vec(),
            "{what}: indices"
        );

        let dp: Tensor<f32> = rng.uniform(dims.clone(), -1.0, 1.0);
        let gdp = on(device, &dp);
        let fused =
            gdp.conv2d_relu_max_pool_grad_input(&pooled, &indices, &gw, gx.shape(), geom, pool);
        let output = Shape::from(conv.output_dims());
        let unfused = gdp
            .relu_grad(&pooled)
            .max_pool2d_backward(&indices, &output, pool)
            .conv2d_grad_input(&gw, gx.shape(), geom);
        assert_bits(
            &format!("{what}: input gradient against the three ops"),
            &back(device, &fused),
            &conv.input_dims(),
            &back(device, &unfused).to_f64_vec(),
        );
    }
}
device_test!(matches_conv_relu_then_max_pool);

fn mismatched_outputs_panic(device: Device) {
    let g = on(device, &Tensor::<f32>::zeros([1, 2, 4, 4]));
    let _ = g.conv2d_relu_max_pool_grad_input(
        &on(device, &Tensor::zeros([1, 2, 4, 4])),
        &on(device, &Tensor::<u32>::from_vec(vec![0; 24], [1, 2, 3, 4])),
        &on(device, &Tensor::zeros([2, 3, 3, 3])),
        &Shape::from([1, 3, 10, 10]),
        Conv2dGeometry::new(1, 0),
        Pool2dGeometry::new(2, 2, 0),
    );
}
device_test!(
    #[should_panic(
        expected = "conv2d_relu_max_pool_grad_input: gradient [1, 2, 4, 4], pooled output [1, 2, 4, 4] and indices [1, 2, 3, 4] differ"
    )]
    mismatched_outputs_panic: cpu, sim
);
