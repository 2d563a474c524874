//! The GPU convolution and its two gradients against the CPU's, on the simulator (and cuda:0 when
//! present): kernels 1, 3, 4 and non-square, strides 1 and 2, paddings 0 and 1, 1 to 17 channels,
//! with and without bias, the 1x1 stride-1 fast path, and enough images that the weight gradient
//! sums them in several groups.

mod gpu_common;

use gpu_common::{assert_close, devices, down, up};
use tensor::{Conv2dGeometry, Rng, Tensor};

/// One convolution: input `[n, c, h, w]`, weight `[o, c, kh, kw]`, stride, padding, bias.
#[derive(Clone, Copy, Debug)]
struct Case {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
    bias: bool,
}

const fn case(
    (n, c, h, w): (usize, usize, usize, usize),
    (o, kh, kw): (usize, usize, usize),
    (stride, padding, bias): (usize, usize, bool),
) -> Case {
    Case {
        n,
        c,
        h,
        w,
        o,
        kh,
        kw,
        stride,
        padding,
        bias,
    }
}

/// The last case has enough images that the weight gradient's GEMM sums two images per output
/// (and one in the last), then the partial sums are added.
const CASES: [Case; 9] = [
    case((2, 3, 8, 8), (5, 3, 3), (1, 1, true)),
    case((1, 1, 7, 9), (4, 3, 3), (2, 0, false)),
    case((3, 17, 5, 6), (7, 1, 1), (1, 0, true)),
    case((2, 4, 9, 9), (3, 1, 1), (2, 0, false)),
    case((2, 5, 10, 7), (6, 4, 4), (2, 1, true)),
    case((1, 2, 6, 8), (9, 2, 3), (1, 1, false)),
    case((1, 3, 4, 4), (2, 4, 4), (1, 0, true)),
    case((20, 2, 5, 5), (3, 3, 3), (1, 1, false)),
    case((67, 8, 3, 3), (65, 3, 3), (1, 1, true)),
];

/// Tolerance for sums of `terms` products of values in `[-1, 1)`.
fn atol(terms: usize) -> f32 {
    1e-5 * (terms as f32 + 1.0)
}

#[test]
fn sim_conv2d_forward_and_gradients() {
    let mut rng = Rng::new(20);
    for gpu in devices() {
        for u in CASES {
            let geom = Conv2dGeometry::new(u.stride, u.padding);
            let x: Tensor<f32> = rng.uniform([u.n, u.c, u.h, u.w], -1.0, 1.0);
            let w: Tensor<f32> = rng.uniform([u.o, u.c, u.kh, u.kw], -1.0, 1.0);
            let b: Tensor<f32> = rng.uniform([u.o], -1.0, 1.0);
            let bias = u.bias.then_some(&b);
            let (gx, gw, gb) = (up(&gpu, &x), up(&gpu, &w), up(&gpu, &b));
            let what = format!("{} {u:?}", gpu.name());

            let want = x.conv2d(&w, bias, geom);
            let got = gx.conv2d(&gw, u.bias.then_some(&gb), geom).unwrap();
            let rows = u.c * u.kh * u.kw;
            assert_close(
                &format!("{what} conv2d"),
                &down(&got),
                &want,
                atol(rows),
                1e-5,
            );

            let dy: Tensor<f32> = rng.uniform(want.dims(), -1.0, 1.0);
            let gdy = up(&gpu, &dy);
            let want_dx = dy.conv2d_grad_input(&w, x.shape(), geom);
            let got_dx = gdy.conv2d_grad_input(&gw, x.shape(), geom).unwrap();
            let terms = u.o * u.kh * u.kw;
            assert_close(
                &format!("{what} grad input"),
                &down(&got_dx),
                &want_dx,
                atol(terms),
                1e-5,
            );

            let want_dw = dy.conv2d_grad_weight(&x, w.shape(), geom);
            let got_dw = gdy.conv2d_grad_weight(&gx, w.shape(), geom).unwrap();
            let terms = u.n * want.dims()[2] * want.dims()[3];
            assert_close(
                &format!("{what} grad weight"),
                &down(&got_dw),
                &want_dw,
                atol(terms),
                1e-5,
            );
        }
    }
}

#[test]
#[should_panic(
    expected = "conv2d: input [1, 2, 5, 5] (NCHW) and weight [3, 4, 3, 3] (OIHW) do not match"
)]
fn sim_conv2d_rejects_mismatched_channels() {
    let gpu = tensor::cuda::Gpu::sim();
    let x = up(&gpu, &Tensor::<f32>::zeros([1, 2, 5, 5]));
    let w = up(&gpu, &Tensor::<f32>::zeros([3, 4, 3, 3]));
    let _ = x.conv2d(&w, None, Conv2dGeometry::new(1, 0));
}

/// A batch of no images: empty outputs and input gradient, a zero weight gradient.
#[test]
fn sim_conv2d_no_images() {
    let geom = Conv2dGeometry::new(1, 1);
    for gpu in devices() {
        let x = Tensor::<f32>::zeros([0, 2, 4, 4]);
        let w: Tensor<f32> = Rng::new(21).uniform([3, 2, 3, 3], -1.0, 1.0);
        let dy = Tensor::<f32>::zeros([0, 3, 4, 4]);
        let (gx, gw, gdy) = (up(&gpu, &x), up(&gpu, &w), up(&gpu, &dy));
        assert_eq!(gx.conv2d(&gw, None, geom).unwrap().dims(), &[0, 3, 4, 4]);
        let dx = gdy.conv2d_grad_input(&gw, x.shape(), geom).unwrap();
        assert_eq!(dx.dims(), &[0, 2, 4, 4]);
        let dw = gdy.conv2d_grad_weight(&gx, w.shape(), geom).unwrap();
        let want = dy.conv2d_grad_weight(&x, w.shape(), geom);
        assert_close("grad weight of no images", &down(&dw), &want, 0.0, 0.0);
    }
}
