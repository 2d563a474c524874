//! `conv2d_relu` on every device (`device_test!`: cpu, sim, cuda): the same bits as `conv2d`
//! followed by `relu`, and within rounding of the f64 loops of `main.rs` clamped at 0, on every
//! CPU route (Winograd with and without padding, the implicit and packed column matrices, the
//! shallow `matrixmultiply` one) and a batch of no images; in f64 on the CPU too. Its input
//! gradient, `conv2d_relu_grad_input`, against the mask and the gradient as two ops.

use super::common::device::{assert_bits, assert_f32, back, device_test, on};
use super::{Conv, reference};
use tensor::{Conv2dGeometry, Device, Rng, Tensor};

/// Each case with or without a bias: 16 or more channels on both sides with a 3x3 stride-1
/// kernel (Winograd on CPUs with the packed kernel), padding 0 then 1; 36 rows of the column
/// matrix at stride 1 (implicit) and 2 (packed); 9 rows on a single input channel (implicit,
/// shallow); 4 rows, a 2x2 kernel on one channel (`matrixmultiply`); three input channels to
/// 16 (ResNet's stem: the packed input gradient, which masks the gradient as it copies it).
const CASES: [(Conv, bool); 8] = [
    (conv((2, 16, 9, 10), (17, 3), (1, 0)), true),
    (conv((1, 16, 6, 7), (16, 3), (1, 1)), false),
    (conv((2, 4, 8, 8), (5, 3), (1, 1)), true),
    (conv((1, 4, 9, 9), (6, 3), (2, 0)), false),
    (conv((2, 1, 7, 7), (8, 3), (1, 0)), true),
    (conv((0, 16, 6, 6), (16, 3), (1, 0)), true),
    (conv((2, 1, 7, 7), (8, 2), (1, 0)), false),
    (conv((2, 3, 8, 8), (16, 3), (1, 1)), true),
];

/// A convolution of input `[n, c, h, w]` and weight `[o, c, k, k]`, with stride and padding.
const fn conv(
    (n, c, h, w): (usize, usize, usize, usize),
    (o, k): (usize, usize),
    (stride, padding): (usize, usize),
) -> Conv {
    Conv {
        n,
        c,
        h,
        w,
        o,
        kh: k,
        kw: k,
        stride,
        padding,
    }
}

/// Random input, weight and bias in `[-1, 1)` for `conv` (about half the outputs negative).
fn operands<T: tensor::Element>(rng: &mut Rng, conv: &Conv) -> [Tensor<T>; 3] {
    [
        rng.uniform(conv.input_dims(), -1.0, 1.0),
        rng.uniform(conv.weight_dims(), -1.0, 1.0),
        rng.uniform([conv.o], -1.0, 1.0),
    ]
}

fn matches_conv_then_relu(device: Device) {
    let mut rng = Rng::new(22);
    for (conv, with_bias) in CASES {
        let geom = Conv2dGeometry::new(conv.stride, conv.padding);
        let [x, w, b] = operands::<f32>(&mut rng, &conv);
        let (gx, gw, gb) = (on(device, &x), on(device, &w), on(device, &b));
        let bias = with_bias.then_some(&gb);
        let what = format!("{conv:?} bias {with_bias} on {device}");

        let fused = back(device, &gx.conv2d_relu(&gw, bias, geom));
        let unfused = back(device, &gx.conv2d(&gw, bias, geom).relu()).to_f64_vec();
        let dims = conv.output_dims();
        assert_bits(
            &format!("{what}: against conv2d, relu"),
            &fused,
            &dims,
            &unfused,
        );

        let dy = vec![0.0; fused.numel()];
        let b64 = with_bias.then(|| b.to_f64_vec());
        let [want, _, _] = reference(&conv, &x.to_f64_vec(), &w.to_f64_vec(), b64.as_deref(), &dy);
        let want: Vec<f64> = want.iter().map(|&v| v.max(0.0)).collect();
        let atol = 1e-5 * (conv.c * conv.kh * conv.kw + 1) as f64;
        assert_f32(
            &format!("{what}: against the loops"),
            &fused,
            &dims,
            &want,
            atol,
            1e-5,
        );
    }
}
device_test!(matches_conv_then_relu);

/// `conv2d_relu_grad_input` against `relu_grad` then `conv2d_grad_input` (the same bits: the
/// same masked values reach the same route) and against the f64 loops fed the masked gradient.
fn relu_grad_input_matches_mask_then_grad_input(device: Device) {
    let mut rng = Rng::new(24);
    for (conv, with_bias) in CASES {
        let geom = Conv2dGeometry::new(conv.stride, conv.padding);
        let [x, w, b] = operands::<f32>(&mut rng, &conv);
        let dy: Tensor<f32> = rng.uniform(conv.output_dims(), -1.0, 1.0);
        let (gx, gw, gb, gdy) = (
            on(device, &x),
            on(device, &w),
            on(device, &b),
            on(device, &dy),
        );
        let y = gx.conv2d_relu(&gw, with_bias.then_some(&gb), geom);
        let what = format!("{conv:?} bias {with_bias} on {device}");

        let fused = back(
            device,
            &gdy.conv2d_relu_grad_input(&y, &gw, gx.shape(), geom),
        );
        let unfused = gdy.relu_grad(&y).conv2d_grad_input(&gw, gx.shape(), geom);
        let dims = conv.input_dims();
        let unfused = back(device, &unfused).to_f64_vec();
        assert_bits(
            &format!("{what}: against the mask, then the gradient"),
            &fused,
            &dims,
            &unfused,
        );

        let masked: Vec<f64> = (dy.to_f64_vec().iter())
            .zip(back(device, &y).to_f64_vec())
            .map(|(&g, y)| if y > 0.0 { g } else { 0.0 })
            .collect();
        let [_, want, _] = reference(&conv, &x.to_f64_vec(), &w.to_f64_vec(), None, &masked);
        let atol = 1e-5 * (conv.o * conv.kh * conv.kw + 1) as f64;
        assert_f32(
            &format!("{what}: against the loops"),
            &fused,
            &dims,
            &want,
            atol,
            1e-5,
        );
    }
}
device_test!(relu_grad_input_matches_mask_then_grad_input);

#[test]
fn matches_conv_then_relu_in_f64() {
    let mut rng = Rng::new(23);
    for (conv, with_bias) in CASES {
        let geom = Conv2dGeometry::new(conv.stride, conv.padding);
        let [x, w, b] = operands::<f64>(&mut rng, &conv);
        let bias = with_bias.then_some(&b);
        let fused = x.conv2d_relu(&w, bias, geom);
        let unfused = x.conv2d(&w, bias, geom).relu();
        assert_eq!(fused.dims(), unfused.dims(), "{conv:?}");
        for (i, (f, u)) in fused.data().iter().zip(unfused.data()).enumerate() {
            assert_eq!(f.to_bits(), u.to_bits(), "{conv:?} element {i}: {f} vs {u}");
        }
    }
}

fn channel_mismatch_panics(device: Device) {
    let x = on(device, &Tensor::<f32>::zeros([1, 3, 5, 5]));
    let _ = x.conv2d_relu(
        &on(device, &Tensor::zeros([2, 4, 3, 3])),
        None,
        Conv2dGeometry::new(1, 0),
    );
}
device_test!(
    #[should_panic(
        expected = "conv2d_relu: input [1, 3, 5, 5] (NCHW) and weight [2, 4, 3, 3] (OIHW) do not match"
    )]
    channel_mismatch_panics: cpu, sim
);
