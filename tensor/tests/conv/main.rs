//! `conv2d` (with and without bias), `conv2d_grad_input` and `conv2d_grad_weight` against naive
//! loops of their definitions, in f64 and f32: strides 1 to 3, padding 0 to 2, square and
//! non-square kernels, the 1x1 stride-1 unpadded fast path, and images with more output
//! positions than one im2col tile (so tiles end mid-row and the last tile is partial).

#[path = "../common/mod.rs"]
mod common;
mod devices;
mod fused;
mod pooled;

use common::{F32_TOL, F64_TOL, assert_tensor, config, wave};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::scratch::Scratch;
use tensor::{Conv2dGeometry, Element, Tensor};

/// The sizes of one convolution: input `[n, c, h, w]`, weight `[o, c, kh, kw]`.
#[derive(Clone, Copy, Debug)]
struct Conv {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
}

impl Conv {
    /// Output height and width.
    fn out_size(&self) -> (usize, usize) {
        let out = |size: usize, k: usize| (size + 2 * self.padding - k) / self.stride + 1;
        (out(self.h, self.kh), out(self.w, self.kw))
    }

    fn input_dims(&self) -> Vec<usize> {
        vec![self.n, self.c, self.h, self.w]
    }

    fn weight_dims(&self) -> Vec<usize> {
        vec![self.o, self.c, self.kh, self.kw]
    }

    fn output_dims(&self) -> Vec<usize> {
        let (oh, ow) = self.out_size();
        vec![self.n, self.o, oh, ow]
    }

    /// The input row (or column) that output row `out` meets with kernel row `k`, unless it
    /// falls in the zero padding.
    fn input_pos(&self, out: usize, k: usize, size: usize) -> Option<usize> {
        (out * self.stride + k)
            .checked_sub(self.padding)
            .filter(|&i| i < size)
    }
}

/// Calls `tap(x_at, w_at, y_at)` for every multiply of the convolution, naming the input,
/// weight and output elements by flat row-major position. The forward pass and both gradients
/// below are written with these same seven loops, which makes them adjoint by construction.
fn for_each_tap(conv: &Conv, mut tap: impl FnMut(usize, usize, usize)) {
    let Conv {
        n,
        c,
        h,
        w,
        o,
        kh,
        kw,
        ..
    } = *conv;
    let (oh, ow) = conv.out_size();
    for img in 0..n {
        for out_ch in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..c {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy = conv.input_pos(oy, ki, h);
                                let ix = conv.input_pos(ox, kj, w);
                                if let (Some(iy), Some(ix)) = (iy, ix) {
                                    tap(
                                        ((img * c + ch) * h + iy) * w + ix,
                                        ((out_ch * c + ch) * kh + ki) * kw + kj,
                                        ((img * o + out_ch) * oh + oy) * ow + ox,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The data of one check: input, weight, optional bias and output gradient, as f64.
#[derive(Clone, Debug)]
struct Operands {
    x: Vec<f64>,
    weight: Vec<f64>,
    bias: Option<Vec<f64>>,
    dy: Vec<f64>,
}

/// The three passes by the loops of [`for_each_tap`] (and the bias added per output channel),
/// in f64: output, input gradient, weight gradient.
fn reference(conv: &Conv, x: &[f64], w: &[f64], bias: Option<&[f64]>, dy: &[f64]) -> [Vec<f64>; 3] {
    let mut y = vec![0.0; dy.len()];
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    for_each_tap(conv, |xi, wi, yi| {
        y[yi] += x[xi] * w[wi];
        dx[xi] += w[wi] * dy[yi];
        dw[wi] += x[xi] * dy[yi];
    });
    if let Some(b) = bias {
        let plane = y.len() / (conv.n * conv.o).max(1);
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[(i / plane) % conv.o];
        }
    }
    [y, dx, dw]
}

/// Runs the three ops in element type `T` and compares each with its loop reference computed
/// on the same (rounded) values.
fn check<T: Element>(conv: Conv, data: &Operands, tol: f64) {
    let x = Tensor::<T>::from_f64s(&data.x, conv.input_dims());
    let weight = Tensor::<T>::from_f64s(&data.weight, conv.weight_dims());
    let bias = data
        .bias
        .as_ref()
        .map(|b| Tensor::<T>::from_f64s(b, [conv.o]));
    let dy = Tensor::<T>::from_f64s(&data.dy, conv.output_dims());
    let bias_values = bias.as_ref().map(Tensor::to_f64_vec);
    let [y, dx, dw] = reference(
        &conv,
        &x.to_f64_vec(),
        &weight.to_f64_vec(),
        bias_values.as_deref(),
        &dy.to_f64_vec(),
    );

    let geom = Conv2dGeometry::new(conv.stride, conv.padding);
    let got = x.conv2d(&weight, bias.as_ref(), geom);
    assert_tensor(&got, &conv.output_dims(), &y, tol);
    let got = dy.conv2d_grad_input(&weight, x.shape(), geom);
    assert_tensor(&got, &conv.input_dims(), &dx, tol);
    let got = dy.conv2d_grad_weight(&x, weight.shape(), geom);
    assert_tensor(&got, &conv.weight_dims(), &dw, tol);
}

/// Sizes up to 7x7 images with 1 to 3 channels; kernels 1 to 3 on each side (so square and
/// non-square), a fifth of them the 1x1 stride-1 unpadded fast path.
fn small_conv() -> impl Strategy<Value = Conv> {
    let kernel_and_geometry = prop_oneof![
        1 => Just((1, 1, 1, 0)),
        4 => (1..=3usize, 1..=3usize, 1..=3usize, 0..=2usize),
    ];
    (1..=3usize, 1..=3usize, 1..=3usize, kernel_and_geometry).prop_flat_map(
        |(n, c, o, (kh, kw, stride, padding))| {
            // The smallest image the kernel fits once padded.
            let least = |k: usize| k.saturating_sub(2 * padding).max(1);
            (least(kh)..=7, least(kw)..=7).prop_map(move |(h, w)| Conv {
                n,
                c,
                h,
                w,
                o,
                kh,
                kw,
                stride,
                padding,
            })
        },
    )
}

/// A convolution and its operands, values in `[-1, 1)`.
fn conv_and_operands() -> impl Strategy<Value = (Conv, Operands)> {
    small_conv().prop_flat_map(|conv| {
        let values = |dims: Vec<usize>| vec(-1.0..1.0f64, dims.iter().product::<usize>());
        let bias = prop::option::of(vec(-1.0..1.0f64, conv.o));
        let operands = (
            values(conv.input_dims()),
            values(conv.weight_dims()),
            bias,
            values(conv.output_dims()),
        )
            .prop_map(|(x, weight, bias, dy)| Operands {
                x,
                weight,
                bias,
                dy,
            });
        (Just(conv), operands)
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn small_convolutions((conv, data) in conv_and_operands()) {
        check::<f64>(conv, &data, F64_TOL);
        check::<f32>(conv, &data, F32_TOL);
    }
}

/// Checks a fixed convolution, with a bias, in f64 and f32 on deterministic values, on all of
/// rayon's threads and on one (where every image adds into the same weight gradient).
fn check_fixed(conv: Conv) {
    let values = |dims: Vec<usize>, scale: f64| -> Vec<f64> {
        wave(dims.iter().product())
            .iter()
            .map(|v| v * scale)
            .collect()
    };
    let data = Operands {
        x: values(conv.input_dims(), 0.3),
        weight: values(conv.weight_dims(), 0.1),
        bias: Some(values(vec![conv.o], 0.3)),
        dy: values(conv.output_dims(), 0.3),
    };
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for run_on_one_thread in [false, true] {
        let run = || {
            check::<f64>(conv, &data, F64_TOL);
            check::<f32>(conv, &data, F32_TOL);
        };
        if run_on_one_thread {
            one_thread.install(run);
        } else {
            run();
        }
    }
}

/// A 1x1 kernel with stride 1 and no padding: the image is its own column matrix.
#[test]
fn pointwise_fast_path() {
    check_fixed(Conv {
        n: 5,
        c: 8,
        h: 9,
        w: 7,
        o: 5,
        kh: 1,
        kw: 1,
        stride: 1,
        padding: 0,
    });
}

/// A 1x1 kernel with stride 2 is not the fast path: it goes through im2col.
#[test]
fn one_by_one_kernel_with_stride_two() {
    check_fixed(Conv {
        n: 3,
        c: 1,
        h: 20,
        w: 20,
        o: 3,
        kh: 1,
        kw: 1,
        stride: 2,
        padding: 0,
    });
}

// The im2col tile holds TILE_BYTES = 256 KiB / (C * KH * KW * element bytes) output positions,
// rounded up to a multiple of 16. Each case below has more positions than one tile.

/// C * KH * KW = 32: tiles of 1024 (f64) or 2048 (f32) positions, against 50 * 50 = 2500.
#[test]
fn one_by_one_kernel_with_stride_two_over_several_tiles() {
    check_fixed(Conv {
        n: 1,
        c: 32,
        h: 100,
        w: 100,
        o: 2,
        kh: 1,
        kw: 1,
        stride: 2,
        padding: 0,
    });
}

/// C * KH * KW = 576: tiles of 64 (f64) or 128 (f32) positions, against 12 * 12 = 144, so
/// tiles end in the middle of output rows.
#[test]
fn three_by_three_kernel_over_several_tiles() {
    check_fixed(Conv {
        n: 2,
        c: 64,
        h: 12,
        w: 12,
        o: 3,
        kh: 3,
        kw: 3,
        stride: 1,
        padding: 1,
    });
}

/// 5 * 13 = 65 positions: in f64 the second tile holds a single position.
#[test]
fn last_tile_with_one_position() {
    check_fixed(Conv {
        n: 1,
        c: 64,
        h: 5,
        w: 13,
        o: 2,
        kh: 3,
        kw: 3,
        stride: 1,
        padding: 1,
    });
}

/// A 2x3 kernel with stride 2 and padding 2, C * KH * KW = 576: 13 * 14 = 182 positions.
#[test]
fn non_square_strided_padded_kernel_over_several_tiles() {
    check_fixed(Conv {
        n: 1,
        c: 96,
        h: 23,
        w: 25,
        o: 2,
        kh: 2,
        kw: 3,
        stride: 2,
        padding: 2,
    });
}

/// Fills `count` buffers of `len` values in the calling thread's scratch pool with NaN and
/// puts them back, so that the next kernels on this thread take buffers full of NaN.
fn poison_scratch_pool(count: usize, len: usize) {
    let mut buffers: Vec<Scratch<f32>> = (0..count).map(|_| Scratch::take(len)).collect();
    for buffer in &mut buffers {
        buffer.fill(f32::NAN);
    }
}

/// The three passes of `conv` on deterministic values, as f32 bits.
fn conv_passes_bits(conv: Conv) -> Vec<Vec<u32>> {
    let geom = Conv2dGeometry::new(conv.stride, conv.padding);
    let tensor = |dims: Vec<usize>, scale: f64| {
        let values = wave(dims.iter().product())
            .iter()
            .map(|v| (v * scale) as f32)
            .collect();
        Tensor::<f32>::from_vec(values, dims)
    };
    let x = tensor(conv.input_dims(), 0.3);
    let weight = tensor(conv.weight_dims(), 0.1);
    let bias = tensor(vec![conv.o], 0.3);
    let dy = tensor(conv.output_dims(), 0.3);
    let y = x.conv2d(&weight, Some(&bias), geom);
    let dx = dy.conv2d_grad_input(&weight, x.shape(), geom);
    let dw = dy.conv2d_grad_weight(&x, weight.shape(), geom);
    [y, dx, dw]
        .iter()
        .map(|t| t.data().iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// The convolution kernels take working buffers from a per-thread pool without clearing them
/// (`tensor::scratch`): with every thread's pool full of NaN, all three passes of SmallCNN's
/// 3x3 layers, a padded one and one with partial tiles (odd output) give the same bits as
/// before, none of them NaN.
#[test]
fn stale_scratch_buffers_never_reach_a_result() {
    let layers = [(32, 24, 32), (32, 12, 64), (64, 10, 64)].map(|(c, size, o)| Conv {
        n: 16,
        c,
        h: size,
        w: size,
        o,
        kh: 3,
        kw: 3,
        stride: 1,
        padding: 0,
    });
    let padded = Conv {
        padding: 1,
        ..layers[1]
    };
    let odd = Conv {
        c: 16,
        h: 11,
        w: 11,
        o: 24,
        ..layers[0]
    };
    for conv in layers.into_iter().chain([padded, odd]) {
        let clean = conv_passes_bits(conv);
        rayon::broadcast(|_| poison_scratch_pool(8, 1 << 20));
        poison_scratch_pool(8, 1 << 20);
        let after = conv_passes_bits(conv);
        assert!(
            after.iter().flatten().all(|&b| !f32::from_bits(b).is_nan()),
            "{conv:?}: NaN from a stale buffer"
        );
        assert_eq!(clean, after, "{conv:?}: stale buffers changed the bits");
    }
}
