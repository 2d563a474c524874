//! Max and average pooling and their gradients against naive window loops, over kernels,
//! strides and paddings. Values are small integers, so windows are full of ties: max pooling
//! must pick the first maximum in row-major scan order (as PyTorch) and never a padded cell. The
//! proptest properties and the multi-threaded size run on the CPU, in f64 (hundreds of random
//! cases would take minutes on the simulator); 2x2 stride-2 pooling also in f32 at every row
//! width up to 35 outputs.
//!
//! On every device (`device_test!`: cpu, sim, cuda), in f32: 2x2 stride 2 (the GPU's and the
//! CPU's fast path), 3x3 stride 2 with padding 1 (overlapping windows), 3x3 stride 1, on odd
//! plane sizes, tie-prone values with one NaN (which wins over numbers); a constant plane whose
//! padding must never win; the panics of bad shapes.

mod common;

use common::device::{assert_f32, back, device_test, on};
use common::{F64_TOL, assert_tensor, config, tied_value, value, wave};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Device, Pool2dGeometry, Rng, Shape, Tensor};

/// The sizes of one pooling: input `[n, c, h, w]` and a square window.
#[derive(Clone, Copy, Debug)]
struct Pool {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl Pool {
    fn out_size(&self) -> (usize, usize) {
        let out = |size: usize| (size + 2 * self.padding - self.kernel) / self.stride + 1;
        (out(self.h), out(self.w))
    }

    fn input_dims(&self) -> Vec<usize> {
        vec![self.n, self.c, self.h, self.w]
    }

    fn output_dims(&self) -> Vec<usize> {
        let (oh, ow) = self.out_size();
        vec![self.n, self.c, oh, ow]
    }

    fn geometry(&self) -> Pool2dGeometry {
        Pool2dGeometry::new(self.kernel, self.stride, self.padding)
    }

    /// The in-image cells of window `(oy, ox)` as positions `y * w + x` in their plane, in
    /// row-major scan order; cells in the padding are left out.
    fn window(&self, oy: usize, ox: usize) -> Vec<usize> {
        let inside = |o: usize, k: usize, size: usize| {
            (o * self.stride + k)
                .checked_sub(self.padding)
                .filter(|&i| i < size)
        };
        let mut cells = Vec::new();
        for ky in 0..self.kernel {
            for kx in 0..self.kernel {
                if let (Some(y), Some(x)) = (inside(oy, ky, self.h), inside(ox, kx, self.w)) {
                    cells.push(y * self.w + x);
                }
            }
        }
        cells
    }

    /// Calls `f(plane, output position, window)` for every output element.
    fn for_each_window(&self, mut f: impl FnMut(usize, usize, Vec<usize>)) {
        let (oh, ow) = self.out_size();
        for plane in 0..self.n * self.c {
            for oy in 0..oh {
                for ox in 0..ow {
                    f(plane, (plane * oh + oy) * ow + ox, self.window(oy, ox));
                }
            }
        }
    }
}

/// Max pooling by definition: values, and indices of the first maximum of each window, or of
/// its last NaN if it holds any (NaN wins over numbers).
fn reference_max_pool(pool: &Pool, x: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let (mut values, mut indices) = (Vec::new(), Vec::new());
    let plane_len = pool.h * pool.w;
    pool.for_each_window(|plane, _, cells| {
        let at = |cell: usize| x[plane * plane_len + cell];
        let mut best = cells[0];
        for &cell in &cells {
            if at(cell) > at(best) || at(cell).is_nan() {
                best = cell;
            }
        }
        values.push(at(best));
        indices.push(best);
    });
    (values, indices)
}

/// Max pooling's gradient by definition: each output gradient added at the cell it came from.
fn reference_max_backward(pool: &Pool, indices: &[usize], dy: &[f64]) -> Vec<f64> {
    let plane_len = pool.h * pool.w;
    let mut dx = vec![0.0; pool.input_dims().iter().product()];
    let out_plane_len = dy.len() / (pool.n * pool.c);
    for (out, &cell) in indices.iter().enumerate() {
        dx[out / out_plane_len * plane_len + cell] += dy[out];
    }
    dx
}

/// Average pooling (padding counted in the window's area) and its gradient by definition.
fn reference_avg(pool: &Pool, x: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let area = (pool.kernel * pool.kernel) as f64;
    let plane_len = pool.h * pool.w;
    let (mut averages, mut spread) = (vec![0.0; dy.len()], vec![0.0; x.len()]);
    pool.for_each_window(|plane, out, cells| {
        for cell in cells {
            averages[out] += x[plane * plane_len + cell] / area;
            spread[plane * plane_len + cell] += dy[out] / area;
        }
    });
    (averages, spread)
}

/// Sizes up to 7x7 with windows 1 to 4, strides 1 to 3 and padding up to half the window.
fn small_pool() -> impl Strategy<Value = Pool> {
    (1..=2usize, 1..=3usize, 1..=4usize, 1..=3usize)
        .prop_flat_map(|(n, c, kernel, stride)| (Just((n, c, kernel, stride)), 0..=kernel / 2))
        .prop_flat_map(|((n, c, kernel, stride), padding)| {
            let least = kernel.saturating_sub(2 * padding).max(1);
            (least..=7usize, least..=7usize).prop_map(move |(h, w)| Pool {
                n,
                c,
                h,
                w,
                kernel,
                stride,
                padding,
            })
        })
}

/// A pooling, a tie-prone input and an output gradient.
fn pool_and_operands() -> impl Strategy<Value = (Pool, Vec<f64>, Vec<f64>)> {
    small_pool().prop_flat_map(|pool| {
        let x = vec(tied_value(), pool.input_dims().iter().product::<usize>());
        let dy = vec(value(), pool.output_dims().iter().product::<usize>());
        (Just(pool), x, dy)
    })
}

/// Checks all four ops of `pool` on input `x` and output gradient `dy`.
fn check(pool: Pool, x: &[f64], dy: &[f64]) {
    let (input, out_dims) = (
        Tensor::from_vec(x.to_vec(), pool.input_dims()),
        pool.output_dims(),
    );
    let grad = Tensor::from_vec(dy.to_vec(), out_dims.clone());

    let (values, indices) = input.max_pool2d(pool.geometry());
    let (expected_values, expected_indices) = reference_max_pool(&pool, x);
    assert_tensor(&values, &out_dims, &expected_values, 0.0);
    assert_eq!(indices.dims(), &out_dims[..]);
    assert_eq!(
        indices.to_usizes(),
        expected_indices,
        "max_pool2d indices of {pool:?}"
    );
    let expected = reference_max_backward(&pool, &expected_indices, dy);
    let dx = grad.max_pool2d_backward(&indices, input.shape(), pool.geometry());
    assert_tensor(&dx, &pool.input_dims(), &expected, F64_TOL);

    let (averages, spread) = reference_avg(&pool, x, dy);
    assert_tensor(
        &input.avg_pool2d(pool.geometry()),
        &out_dims,
        &averages,
        F64_TOL,
    );
    let dx = grad.avg_pool2d_backward(input.shape(), pool.geometry());
    assert_tensor(&dx, &pool.input_dims(), &spread, F64_TOL);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn small_poolings((pool, x, dy) in pool_and_operands()) {
        check(pool, &x, &dy);
    }
}

/// Over 2 * 2^15 elements, so planes are pooled in parallel.
#[test]
fn large_pooling_matches_the_reference() {
    let pool = Pool {
        n: 2,
        c: 8,
        h: 70,
        w: 70,
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    let x: Vec<f64> = (0..2 * 8 * 70 * 70)
        .map(|i| ((i * 7919) % 5) as f64)
        .collect();
    let dy = wave(pool.output_dims().iter().product());
    check(pool, &x, &dy);
}

/// 2x2 stride-2 pooling in f32 (the CPU's vector route where it has AVX-512) at every row
/// width from 1 to 35 outputs, odd plane widths and heights included: whole blocks of 16
/// outputs, partial ones and both. Tie-prone values of both signs, signed zeros, and NaNs (some
/// windows hold two) against the reference on the same values.
#[test]
fn halving_pool_in_f32_at_every_row_width() {
    let mut rng = Rng::new(11);
    for w in 2..=71 {
        for h in [2, 5] {
            let pool = Pool {
                n: 1,
                c: 2,
                h,
                w,
                kernel: 2,
                stride: 2,
                padding: 0,
            };
            let u = rng.uniform::<f32>(pool.input_dims(), 0.0, 1.0);
            let data: Vec<f32> = u
                .data()
                .iter()
                .map(|&r| match (r * 40.0) as u32 {
                    0 | 1 => f32::NAN,
                    2 => -0.0,
                    k => (k % 5) as f32 - 2.0,
                })
                .collect();
            let x = Tensor::from_vec(data, pool.input_dims());
            let (values, indices) = x.max_pool2d(pool.geometry());
            let (want, want_indices) = reference_max_pool(&pool, &x.to_f64_vec());
            let what = format!("max_pool2d {pool:?}");
            assert_f32(&what, &values, &pool.output_dims(), &want, 0.0, 0.0);
            assert_eq!(indices.to_usizes(), want_indices, "{what}: indices");
        }
    }
}

#[test]
#[should_panic(expected = "pool2d: padding 2 exceeds half the kernel 3")]
fn padding_over_half_the_window_panics() {
    let _ = Pool2dGeometry::new(3, 1, 2);
}

/// `(n, c, h, w, kernel, stride, padding)` of each case run on every device.
const CASES: [(usize, usize, usize, usize, usize, usize, usize); 5] = [
    (2, 3, 8, 8, 2, 2, 0),
    (1, 2, 7, 9, 2, 2, 0),
    (2, 2, 9, 7, 3, 2, 1),
    (1, 3, 6, 5, 3, 1, 1),
    (1, 1, 1, 1, 1, 1, 0),
];

/// Runs `f` on each case of [`CASES`].
fn each_case(mut f: impl FnMut(Pool)) {
    for (n, c, h, w, kernel, stride, padding) in CASES {
        f(Pool {
            n,
            c,
            h,
            w,
            kernel,
            stride,
            padding,
        });
    }
}

/// Small-integer values (many ties), with one NaN.
fn tied_input(rng: &mut Rng, dims: Vec<usize>) -> Tensor<f32> {
    let mut data: Vec<f32> = rng
        .uniform::<f32>(dims.clone(), 0.0, 4.0)
        .data()
        .iter()
        .map(|v| v.floor())
        .collect();
    let nan_at = data.len() / 2;
    data[nan_at] = f32::NAN;
    Tensor::from_vec(data, dims)
}

fn max_pool_values_indices_and_gradient(device: Device) {
    let mut rng = Rng::new(10);
    each_case(|pool| {
        let x = tied_input(&mut rng, pool.input_dims());
        let (values, indices) = on(device, &x).max_pool2d(pool.geometry());
        let (want, want_indices) = reference_max_pool(&pool, &x.to_f64_vec());
        let what = format!("max_pool2d {pool:?} on {device}");
        let out_dims = pool.output_dims();
        assert_f32(&what, &back(device, &values), &out_dims, &want, 0.0, 0.0);
        let got_indices = back(device, &indices);
        assert_eq!(got_indices.dims(), &out_dims[..], "{what}: indices");
        assert_eq!(got_indices.to_usizes(), want_indices, "{what}: indices");

        let dy: Tensor<f32> = rng.uniform(out_dims, -1.0, 1.0);
        let want = reference_max_backward(&pool, &want_indices, &dy.to_f64_vec());
        let dx = on(device, &dy).max_pool2d_backward(&indices, x.shape(), pool.geometry());
        let what = format!("{what}: backward");
        assert_f32(
            &what,
            &back(device, &dx),
            &pool.input_dims(),
            &want,
            1e-6,
            1e-6,
        );
    });
}
device_test!(max_pool_values_indices_and_gradient);

fn avg_pool_and_gradient(device: Device) {
    let mut rng = Rng::new(11);
    each_case(|pool| {
        let x: Tensor<f32> = rng.uniform(pool.input_dims(), -1.0, 1.0);
        let dy: Tensor<f32> = rng.uniform(pool.output_dims(), -1.0, 1.0);
        let (want, want_dx) = reference_avg(&pool, &x.to_f64_vec(), &dy.to_f64_vec());
        let what = format!("avg_pool2d {pool:?} on {device}");
        let y = on(device, &x).avg_pool2d(pool.geometry());
        let out_dims = pool.output_dims();
        assert_f32(&what, &back(device, &y), &out_dims, &want, 1e-6, 1e-6);
        let dx = on(device, &dy).avg_pool2d_backward(x.shape(), pool.geometry());
        let what = format!("{what}: backward");
        assert_f32(
            &what,
            &back(device, &dx),
            &pool.input_dims(),
            &want_dx,
            1e-6,
            1e-6,
        );
    });
}
device_test!(avg_pool_and_gradient);

/// A constant negative plane: each window's first in-image cell wins, never the padding
/// (which counts as -inf).
fn max_pool_on_ties_picks_the_first_cell_of_each_window(device: Device) {
    let x = on(device, &Tensor::full([1, 1, 3, 3], -5.0f32));
    let (values, indices) = x.max_pool2d(Pool2dGeometry::new(3, 1, 1));
    assert_eq!(back(device, &values).to_vec(), vec![-5.0; 9]);
    assert_eq!(
        back(device, &indices).to_usizes(),
        vec![0, 0, 1, 0, 0, 1, 3, 3, 4]
    );
}
device_test!(max_pool_on_ties_picks_the_first_cell_of_each_window);

fn pooling_a_matrix_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([3, 4])).max_pool2d(Pool2dGeometry::new(2, 2, 0));
}
device_test!(
    #[should_panic(expected = "max_pool2d: expected an NCHW tensor, got shape [3, 4]")]
    pooling_a_matrix_panics: cpu, sim
);

fn window_larger_than_the_image_panics(device: Device) {
    let x = on(device, &Tensor::<f32>::zeros([1, 1, 3, 3]));
    let _ = x.avg_pool2d(Pool2dGeometry::new(5, 1, 0));
}
device_test!(
    #[should_panic(expected = "pool2d: window 5 larger than padded input 3x3")]
    window_larger_than_the_image_panics: cpu, sim
);

fn max_pool_backward_with_mismatched_indices_panics(device: Device) {
    let indices = on(device, &Tensor::from_vec(vec![0u32], [1, 1, 1, 1]));
    let _ = on(device, &Tensor::<f32>::zeros([1, 1, 2, 2])).max_pool2d_backward(
        &indices,
        &Shape::new(&[1, 1, 4, 4]),
        Pool2dGeometry::new(2, 2, 0),
    );
}
device_test!(
    #[should_panic(
        expected = "max_pool2d_backward: gradient [1, 1, 2, 2] and indices [1, 1, 1, 1] differ"
    )]
    max_pool_backward_with_mismatched_indices_panics: cpu, sim
);

fn avg_pool_backward_with_a_mismatched_gradient_panics(device: Device) {
    let dy = on(device, &Tensor::<f32>::zeros([1, 1, 2, 2]));
    let _ = dy.avg_pool2d_backward(&Shape::new(&[1, 1, 8, 8]), Pool2dGeometry::new(2, 2, 0));
}
device_test!(
    #[should_panic(expected = "avg_pool2d_backward: gradient [1, 1, 2, 2] does not fit input")]
    avg_pool_backward_with_a_mismatched_gradient_panics: cpu, sim
);
