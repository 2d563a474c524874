//! The CPU routes against the f64 `matrixmultiply` route, and the bits of the packed input
//! gradient at any thread count.

use super::route::{
    grad_input_winograd_shape, grad_weight_winograd_shape, use_implicit, use_packed,
    winograd_shape, with_best_tile,
};
use super::unfold::Unfold;
use crate::ops::packed_gemm;
use crate::ops::winograd::{Tile, WinogradShape, WinogradWeights, winograd_conv};
use crate::shape::Shape;
use crate::tensor::Tensor;
use tensor_spec::Conv2dGeometry;

/// Values in `[-1, 1)` from a fixed sequence, so failures repeat.
pub(crate) fn values(len: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// The packed grad-input route (enough output channels for it) against the f64
/// `matrixmultiply` route, over strides, paddings, non-square kernels, images with fewer
/// positions than a column block and batches that do not split evenly into tasks.
#[test]
fn packed_grad_input_matches_gemm_route() {
    if !packed_gemm::available::<f32>() {
        return;
    }
    // (n, c, h, w, o, kh, kw, stride, padding)
    let cases = [
        (5, 3, 9, 11, 16, 3, 3, 1, 0),
        (7, 1, 28, 28, 32, 3, 3, 1, 0),
        (3, 4, 12, 12, 33, 3, 3, 1, 1),
        (9, 2, 4, 4, 20, 3, 3, 1, 1),
        (4, 3, 13, 10, 17, 2, 3, 2, 2),
        (3, 5, 8, 8, 24, 1, 1, 2, 0),
        (2, 40, 20, 20, 16, 3, 3, 1, 1),
    ];
    for (n, c, h, w, o, kh, kw, stride, padding) in cases {
        let geom = Conv2dGeometry::new(stride, padding);
        let (oh, ow) = geom.output_size(h, w, kh, kw);
        let wv = values(o * c * kh * kw, 1);
        let dyv = values(n * o * oh * ow, 2);
        let shape = Shape::from([n, c, h, w]);
        let got = Tensor::<f32>::from_f64s(&dyv, [n, o, oh, ow]).conv2d_grad_input(
            &Tensor::from_f64s(&wv, [o, c, kh, kw]),
            &shape,
            geom,
        );
        let want = Tensor::<f64>::from_f64s(&dyv, [n, o, oh, ow]).conv2d_grad_input(
            &Tensor::from_f64s(&wv, [o, c, kh, kw]),
            &shape,
            geom,
        );
        assert_eq!(got.dims(), want.dims());
        for (i, (g, e)) in got.to_f64_vec().iter().zip(want.to_f64_vec()).enumerate() {
            assert!(
                (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                "case {:?}: dx[{i}] = {g}, expected {e}",
                (n, c, h, w, o, kh, kw, stride, padding)
            );
        }
    }
}

/// The implicit-im2col forward route (stride 1, few wasted columns) against the f64
/// `matrixmultiply` route, with padding, bias, a non-square kernel and output channels that
/// do not fill the last row strip.
#[test]
fn implicit_conv_matches_gemm_route() {
    if !packed_gemm::available::<f32>() {
        return;
    }
    // (n, c, h, w, o, kh, kw, padding)
    let cases = [
        (3, 5, 20, 20, 13, 3, 3, 1),
        (2, 4, 26, 26, 32, 3, 3, 0),
        (2, 6, 20, 40, 9, 2, 3, 0),
    ];
    for (n, c, h, w, o, kh, kw, padding) in cases {
        let geom = Conv2dGeometry::new(1, padding);
        let u = Unfold::new(&[n, c, h, w], &[o, c, kh, kw], geom);
        assert!(use_implicit(&u) && use_packed::<f32>(&u));
        let (xv, wv, bv) = (
            values(n * c * h * w, 5),
            values(o * c * kh * kw, 6),
            values(o, 7),
        );
        let run = |x: Tensor<f64>, wt: Tensor<f64>, b: Tensor<f64>| {
            x.conv2d(&wt, Some(&b), geom).to_f64_vec()
        };
        let want = run(
            Tensor::from_f64s(&xv, [n, c, h, w]),
            Tensor::from_f64s(&wv, [o, c, kh, kw]),
            Tensor::from_f64s(&bv, [o]),
        );
        let got = Tensor::<f32>::from_f64s(&xv, [n, c, h, w])
            .conv2d(
                &Tensor::from_f64s(&wv, [o, c, kh, kw]),
                Some(&Tensor::from_f64s(&bv, [o])),
                geom,
            )
            .to_f64_vec();
        assert_eq!(got.len(), want.len());
        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                "case {:?}: y[{i}] = {g}, expected {e}",
                (n, c, h, w, o, kh, kw, padding)
            );
        }
    }
}

/// Shapes for the Winograd tests, `(n, c, h, w, o, padding)`: paddings 0 to 2, odd outputs (a
/// partial last tile), channel counts off the strip size, one image and batches that split
/// unevenly, tile rows of 14, 15 (most of one vector of the transforms) and 32 tiles (two).
const WINOGRAD_CASES: [(usize, usize, usize, usize, usize, usize); 9] = [
    (5, 16, 24, 19, 17, 1),
    (3, 16, 9, 11, 17, 1),
    (2, 20, 8, 8, 16, 0),
    (1, 17, 5, 7, 24, 2),
    (5, 32, 4, 4, 40, 1),
    (2, 16, 13, 6, 19, 1),
    (1, 16, 5, 37, 16, 1),
    (2, 16, 7, 30, 17, 0),
    (1, 16, 4, 64, 16, 1),
];

/// The Winograd route (3x3, stride 1, 16 or more channels each side), forward, input
/// gradient and weight gradient, against the f64 `matrixmultiply` route, on [`WINOGRAD_CASES`].
#[test]
fn winograd_matches_gemm_route() {
    if !packed_gemm::available::<f32>() {
        return;
    }
    for (n, c, h, w, o, padding) in WINOGRAD_CASES {
        let geom = Conv2dGeometry::new(1, padding);
        let u = Unfold::new(&[n, c, h, w], &[o, c, 3, 3], geom);
        assert!(winograd_shape::<f32>(&u, o).is_some());
        assert!(grad_input_winograd_shape::<f32>(&u, o).is_some());
        // Only the first case has the tiles for the Winograd weight gradient.
        assert_eq!(
            grad_weight_winograd_shape::<f32>(&u, o, n).is_some(),
            (n, c, h, w) == (5, 16, 24, 19)
        );
        let (xv, wv, bv) = (
            values(n * c * h * w, 8),
            values(o * c * 9, 9),
            values(o, 10),
        );
        let dyv = values(n * o * u.oh * u.ow, 11);
        let close = |got: Vec<f64>, want: Vec<f64>, what: &str| {
            assert_eq!(got.len(), want.len());
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "case {:?}: {what}[{i}] = {g}, expected {e}",
                    (n, c, h, w, o, padding)
                );
            }
        };
        let forward = |x: &[f64], wt: &[f64], b: &[f64], f32s: bool| {
            if f32s {
                Tensor::<f32>::from_f64s(x, [n, c, h, w])
                    .conv2d(
                        &Tensor::from_f64s(wt, [o, c, 3, 3]),
                        Some(&Tensor::from_f64s(b, [o])),
                        geom,
                    )
                    .to_f64_vec()
            } else {
                Tensor::<f64>::from_f64s(x, [n, c, h, w])
                    .conv2d(
                        &Tensor::from_f64s(wt, [o, c, 3, 3]),
                        Some(&Tensor::from_f64s(b, [o])),
                        geom,
                    )
                    .to_f64_vec()
            }
        };
        close(
            forward(&xv, &wv, &bv, true),
            forward(&xv, &wv, &bv, false),
            "y",
        );
        let shape = Shape::from([n, c, h, w]);
        let got = Tensor::<f32>::from_f64s(&dyv, [n, o, u.oh, u.ow])
            .conv2d_grad_input(&Tensor::from_f64s(&wv, [o, c, 3, 3]), &shape, geom)
            .to_f64_vec();
        let want = Tensor::<f64>::from_f64s(&dyv, [n, o, u.oh, u.ow])
            .conv2d_grad_input(&Tensor::from_f64s(&wv, [o, c, 3, 3]), &shape, geom)
            .to_f64_vec();
        close(got, want, "dx");
        let weight_shape = Shape::from([o, c, 3, 3]);
        let got = Tensor::<f32>::from_f64s(&dyv, [n, o, u.oh, u.ow])
            .conv2d_grad_weight(&Tensor::from_f64s(&xv, [n, c, h, w]), &weight_shape, geom)
            .to_f64_vec();
        let want = Tensor::<f64>::from_f64s(&dyv, [n, o, u.oh, u.ow])
            .conv2d_grad_weight(&Tensor::from_f64s(&xv, [n, c, h, w]), &weight_shape, geom)
            .to_f64_vec();
        close(got, want, "dw");
    }
}

/// [`winograd_conv`] with tiles of 4 forced on shapes of every kind, against the f64 route: the
/// forward pass with bias and ReLU, and the input gradient (flipped weights, padded by
/// `2 - padding`) of a convolution + ReLU (the output gradient masked), on [`WINOGRAD_CASES`]
/// (sides not multiples of 4 among them) and a 64-channel case.
#[test]
fn winograd_tiles_of_4_match_gemm_route() {
    if !packed_gemm::available::<f32>() {
        return;
    }
    // The shapes of the tiles of 2, and one with the channels that take tiles of 4 by choice.
    let cases = WINOGRAD_CASES.into_iter().chain([(2, 64, 16, 16, 64, 1)]);
    let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
    let run = |shape: &WinogradShape,
               weights: &WinogradWeights<f32>,
               bias: Option<&[f32]>,
               x: &[f32],
               relu_output: Option<&[f32]>,
               len: usize| {
        let mut y = Vec::with_capacity(len);
        let relu = bias.is_some();
        winograd_conv(
            shape,
            weights,
            bias,
            relu,
            x,
            relu_output,
            &mut y.spare_capacity_mut()[..len],
        );
        // SAFETY: `winograd_conv` wrote all `len` outputs.
        unsafe { y.set_len(len) };
        y.iter().map(|&v| v as f64).collect::<Vec<f64>>()
    };
    for (n, c, h, w, o, padding) in cases {
        let geom = Conv2dGeometry::new(1, padding);
        let u = Unfold::new(&[n, c, h, w], &[o, c, 3, 3], geom);
        let four = |s: WinogradShape| WinogradShape {
            tile: Tile::Four,
            ..s
        };
        let (xv, wv, bv) = (
            values(n * c * h * w, 12),
            values(o * c * 9, 13),
            values(o, 14),
        );
        let (dyv, yv) = (
            values(n * o * u.oh * u.ow, 15),
            values(n * o * u.oh * u.ow, 16),
        );
        // F(4x4, 3x3) rounds to up to 6e-5 of the spread of the sums (their standard deviation,
        // `sqrt(9 C) / 3` here; 2e-6 to 3e-6 in root mean square), 20 times F(2x2, 3x3)'s
        // largest and 6 times its typical error: its transforms' coefficients reach 8 and 1/24.
        let spread = (9.0 * c.max(o) as f64).sqrt() / 3.0;
        let close = |got: Vec<f64>, want: Vec<f64>, what: &str| {
            assert_eq!(got.len(), want.len());
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-4 * (1.0 + e.abs()) + 6e-5 * spread,
                    "case {:?}: {what}[{i}] = {g}, expected {e}",
                    (n, c, h, w, o, padding)
                );
            }
        };
        let shape = four(winograd_shape::<f32>(&u, o).expect("a Winograd shape"));
        let weights = WinogradWeights::new(&f32s(&wv), o, c, Tile::Four);
        let got = run(
            &shape,
            &weights,
            Some(&f32s(&bv)),
            &f32s(&xv),
            None,
            dyv.len(),
        );
        let want = Tensor::<f64>::from_f64s(&xv, [n, c, h, w])
            .conv2d(
                &Tensor::from_f64s(&wv, [o, c, 3, 3]),
                Some(&Tensor::from_f64s(&bv, [o])),
                geom,
            )
            .relu()
            .to_f64_vec();
        close(got, want, "relu(y)");
        let shape = four(grad_input_winograd_shape::<f32>(&u, o).expect("a Winograd shape"));
        let weights = WinogradWeights::flipped(&f32s(&wv), o, c, Tile::Four);
        let got = run(
            &shape,
            &weights,
            None,
            &f32s(&dyv),
            Some(&f32s(&yv)),
            xv.len(),
        );
        let masked: Vec<f64> = dyv
            .iter()
            .zip(&yv)
            .map(|(&g, &y)| if y > 0.0 { g } else { 0.0 })
            .collect();
        let want = Tensor::<f64>::from_f64s(&masked, [n, o, u.oh, u.ow])
            .conv2d_grad_input(
                &Tensor::from_f64s(&wv, [o, c, 3, 3]),
                &Shape::from([n, c, h, w]),
                geom,
            )
            .to_f64_vec();
        close(got, want, "dx");
    }
}

/// Tiles of 4 for ResNet-18's 3x3 layers from 64 channels and 8x8 up, forward and input
/// gradient; tiles of 2 for its 512-channel 4x4 layer (one tile of 4 an image) and for
/// SmallCNN's layers (32 channels, short tile rows or a 10x10 output).
#[test]
fn tiles_of_4_where_they_pay() {
    if !packed_gemm::available::<f32>() {
        return;
    }
    // (c, side, o, padding, tiles of 4 expected)
    let layers = [
        (64, 32, 64, 1, true),
        (128, 16, 128, 1, true),
        (256, 8, 256, 1, true),
        (512, 4, 512, 1, false),
        (32, 26, 32, 0, false),
        (32, 12, 64, 0, false),
        (64, 10, 64, 0, false),
    ];
    for (c, side, o, padding, four) in layers {
        let u = Unfold::new(
            &[1, c, side, side],
            &[o, c, 3, 3],
            Conv2dGeometry::new(1, padding),
        );
        let tiles = [
            winograd_shape::<f32>(&u, o).map(with_best_tile),
            grad_input_winograd_shape::<f32>(&u, o).map(with_best_tile),
        ];
        for shape in tiles {
            let tile = shape.expect("a Winograd shape").tile;
            assert_eq!(tile == Tile::Four, four, "{c}->{o} at {side}x{side}");
        }
    }
}

/// `op`'s result on a pool of `threads` threads, as f64 values.
fn on_threads(threads: usize, op: impl FnOnce() -> Tensor<f32> + Send) -> Vec<f64> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(op)
        .to_f64_vec()
}

/// The packed grad-input route gives the same bits on one thread as on several.
#[test]
fn packed_grad_input_bits_do_not_depend_on_threads() {
    let (n, c, h, w, o) = (11, 8, 12, 12, 32);
    let geom = Conv2dGeometry::new(1, 1);
    let weight = Tensor::<f32>::from_f64s(&values(o * c * 9, 3), [o, c, 3, 3]);
    let dy = Tensor::<f32>::from_f64s(&values(n * o * h * w, 4), [n, o, h, w]);
    let shape = Shape::from([n, c, h, w]);
    let run = |threads| on_threads(threads, || dy.conv2d_grad_input(&weight, &shape, geom));
    assert_eq!(run(1), run(3));
}

/// The weight gradient of small outputs with a gradient of more than 2 MB (a 3x3 stride-2
/// convolution, as ResNet-18's 256-to-512 one; two passes of several images, channels and
/// output channels shared among the threads): against f64 loops written here, and the same
/// bits on one thread as on three.
#[test]
fn small_images_large_grad_weight_matches_loops_on_any_thread_count() {
    let (n, c, side, o, out) = (70, 256, 6, 232, 3);
    let geom = Conv2dGeometry::new(2, 1);
    let (xv, dyv) = (values(n * c * side * side, 5), values(n * o * out * out, 6));
    let x = Tensor::<f32>::from_f64s(&xv, [n, c, side, side]);
    let dy = Tensor::<f32>::from_f64s(&dyv, [n, o, out, out]);
    let weight_shape = Shape::from([o, c, 3, 3]);
    let run = |threads| on_threads(threads, || dy.conv2d_grad_weight(&x, &weight_shape, geom));
    let got = run(3);
    assert_eq!(got, run(1), "bits on 3 threads and on 1");
    // The f32 values the op saw, summed in f64.
    let (xv, dyv) = (x.to_f64_vec(), dy.to_f64_vec());
    let at = |i: usize, j: usize| (2 * i + j).checked_sub(1);
    let mut want = vec![0.0; o * c * 9];
    for img in 0..n {
        for (oc, dw) in want.chunks_exact_mut(c * 9).enumerate() {
            for oy in 0..out {
                for ox in 0..out {
                    let g = dyv[((img * o + oc) * out + oy) * out + ox];
                    for ch in 0..c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (Some(iy), Some(ix)) = (at(oy, ky), at(ox, kx)) else {
                                    continue;
                                };
                                if iy < side && ix < side {
                                    let v = xv[((img * c + ch) * side + iy) * side + ix];
                                    dw[ch * 9 + ky * 3 + kx] += g * v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    // Sums of at most n * 9 products of values in [-1, 1).
    let atol = 1e-5 * (n * 9) as f64;
    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - e).abs() <= atol + 1e-5 * e.abs(),
            "dw[{i}] = {g}, expected {e}"
        );
    }
}
