//! The CPU routes against the f64 `matrixmultiply` route, and the bits of the packed input
//! gradient at any thread count.

use super::route::{
    grad_input_winograd_shape, grad_weight_winograd_shape, use_implicit, use_packed, winograd_shape,
};
use super::unfold::Unfold;
use crate::ops::packed_gemm;
use crate::shape::Shape;
use crate::tensor::Tensor;
use tensor_spec::Conv2dGeometry;

/// Values in `[-1, 1)` from a fixed sequence, so failures repeat.
fn values(len: usize, seed: u64) -> Vec<f64> {
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

/// The Winograd route (3x3, stride 1, 16 or more channels each side), forward, input
/// gradient and weight gradient, against the f64 `matrixmultiply` route: paddings 0 to 2, odd outputs (a partial
/// last tile), channel counts off the strip size, one image and batches that split unevenly.
#[test]
fn winograd_matches_gemm_route() {
    if !packed_gemm::available::<f32>() {
        return;
    }
    // (n, c, h, w, o, padding)
    let cases = [
        (5, 16, 24, 19, 17, 1),
        (3, 16, 9, 11, 17, 1),
        (2, 20, 8, 8, 16, 0),
        (1, 17, 5, 7, 24, 2),
        (5, 32, 4, 4, 40, 1),
        (2, 16, 13, 6, 19, 1),
        (1, 16, 5, 37, 16, 1),
        // Tile rows of 14, 15 (most of one vector of the transforms) and 32 tiles (two).
        (2, 16, 7, 30, 17, 0),
        (1, 16, 4, 64, 16, 1),
    ];
    for (n, c, h, w, o, padding) in cases {
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

/// The packed grad-input route gives the same bits on one thread as on several.
#[test]
fn packed_grad_input_bits_do_not_depend_on_threads() {
    let (n, c, h, w, o) = (11, 8, 12, 12, 32);
    let geom = Conv2dGeometry::new(1, 1);
    let weight = Tensor::<f32>::from_f64s(&values(o * c * 9, 3), [o, c, 3, 3]);
    let dy = Tensor::<f32>::from_f64s(&values(n * o * h * w, 4), [n, o, h, w]);
    let shape = Shape::from([n, c, h, w]);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| dy.conv2d_grad_input(&weight, &shape, geom))
            .to_f64_vec()
    };
    assert_eq!(run(1), run(3));
}
