//! The GPU pooling ops against the CPU's, on the simulator (and cuda:0 when present): 2x2 stride
//! 2, 3x3 stride 2 with padding 1 (overlapping windows), 3x3 stride 1, on odd plane sizes.
//! Values are small integers, so windows are full of ties (the first maximum must win), plus a
//! NaN (which must win over numbers). The GPU sums in the CPU's order: results must be equal.

mod gpu_common;

use gpu_common::{assert_close, devices, down, up};
use tensor::{Pool2dGeometry, Rng, Tensor};

/// `(n, c, h, w, kernel, stride, padding)` of each case.
const CASES: [(usize, usize, usize, usize, usize, usize, usize); 5] = [
    (2, 3, 8, 8, 2, 2, 0),
    (1, 2, 7, 9, 2, 2, 0),
    (2, 2, 9, 7, 3, 2, 1),
    (1, 3, 6, 5, 3, 1, 1),
    (1, 1, 1, 1, 1, 1, 0),
];

/// Small-integer values (many ties), with one NaN.
fn tied_input(rng: &mut Rng, dims: [usize; 4]) -> Tensor<f32> {
    let mut data: Vec<f32> = rng
        .uniform::<f32>(dims, 0.0, 4.0)
        .data()
        .iter()
        .map(|v| v.floor())
        .collect();
    let nan_at = data.len() / 2;
    data[nan_at] = f32::NAN;
    Tensor::from_vec(data, dims)
}

#[test]
fn sim_max_pool2d_values_indices_and_gradient() {
    let mut rng = Rng::new(10);
    for gpu in devices() {
        for (n, c, h, w, k, s, p) in CASES {
            let geom = Pool2dGeometry::new(k, s, p);
            let x = tied_input(&mut rng, [n, c, h, w]);
            let (want, want_idx) = x.max_pool2d(geom);
            let (got, got_idx) = up(&gpu, &x).max_pool2d(geom).unwrap();
            let what = format!("{} max_pool2d {:?} {geom:?}", gpu.name(), x.dims());
            assert_close(&what, &down(&got), &want, 0.0, 0.0);
            assert_eq!(down(&got_idx).data(), want_idx.data(), "{what}: indices");
            let dy: Tensor<f32> = rng.uniform(want.dims(), -1.0, 1.0);
            let want_dx = dy.max_pool2d_backward(&want_idx, x.shape(), geom);
            let got_dx = up(&gpu, &dy)
                .max_pool2d_backward(&got_idx, x.shape(), geom)
                .unwrap();
            assert_close(
                &format!("{what} backward"),
                &down(&got_dx),
                &want_dx,
                0.0,
                0.0,
            );
        }
    }
}

#[test]
fn sim_avg_pool2d_and_gradient() {
    let mut rng = Rng::new(11);
    for gpu in devices() {
        for (n, c, h, w, k, s, p) in CASES {
            let geom = Pool2dGeometry::new(k, s, p);
            let x: Tensor<f32> = rng.uniform([n, c, h, w], -1.0, 1.0);
            let want = x.avg_pool2d(geom);
            let got = up(&gpu, &x).avg_pool2d(geom).unwrap();
            let what = format!("{} avg_pool2d {:?} {geom:?}", gpu.name(), x.dims());
            assert_close(&what, &down(&got), &want, 0.0, 0.0);
            let dy: Tensor<f32> = rng.uniform(want.dims(), -1.0, 1.0);
            let want_dx = dy.avg_pool2d_backward(x.shape(), geom);
            let got_dx = up(&gpu, &dy).avg_pool2d_backward(x.shape(), geom).unwrap();
            assert_close(
                &format!("{what} backward"),
                &down(&got_dx),
                &want_dx,
                0.0,
                0.0,
            );
        }
    }
}

#[test]
#[should_panic(expected = "avg_pool2d_backward: gradient [1, 1, 2, 2] does not fit input")]
fn sim_avg_pool2d_backward_rejects_mismatched_gradient() {
    let gpu = tensor::cuda::Gpu::sim();
    let dy = up(&gpu, &Tensor::<f32>::zeros([1, 1, 2, 2]));
    let _ = dy.avg_pool2d_backward(
        &tensor::Shape::from([1, 1, 8, 8]),
        Pool2dGeometry::new(2, 2, 0),
    );
}
