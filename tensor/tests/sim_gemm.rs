//! The GPU SGEMM (`GpuTensor::matmul`, `matmul_t`) against the CPU's `Tensor::matmul_t`, on the
//! simulator (and cuda:0 when present): sizes that are not multiples of the tiles (down to 1),
//! every transpose variant, batched and shared-right-operand products, an empty inner dimension.

mod gpu_common;

use gpu_common::{assert_close, devices, down, up};
use tensor::{Rng, Tensor};

/// Tolerance for a sum of `k` products of values in `[-1, 1)`: the GPU and CPU add in
/// different orders.
fn atol(k: usize) -> f32 {
    1e-5 * (k as f32 + 1.0)
}

/// Stored dimensions of an operand used as `rows x cols`, optionally transposed, with a batch.
fn stored(batch: Option<usize>, rows: usize, cols: usize, transposed: bool) -> Vec<usize> {
    let (r, c) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    batch.into_iter().chain([r, c]).collect()
}

/// Checks `op(a) op(b)` for `a` `[batch?, m, k]` and `b` `[batch_b?, k, n]` as used, in all four
/// transpose variants, on every device.
fn check(
    rng: &mut Rng,
    (batch_a, batch_b): (Option<usize>, Option<usize>),
    m: usize,
    k: usize,
    n: usize,
) {
    for gpu in devices() {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let a: Tensor<f32> = rng.uniform(stored(batch_a, m, k, ta), -1.0, 1.0);
            let b: Tensor<f32> = rng.uniform(stored(batch_b, k, n, tb), -1.0, 1.0);
            let want = a.matmul_t(ta, &b, tb);
            let got = up(&gpu, &a)
                .matmul_t(ta, &up(&gpu, &b), tb)
                .unwrap_or_else(|e| panic!("{}: {e}", gpu.name()));
            let what = format!(
                "{} matmul_t({ta}, {tb}) of {:?} x {:?}",
                gpu.name(),
                a.dims(),
                b.dims()
            );
            assert_close(&what, &down(&got), &want, atol(k), 1e-5);
        }
    }
}

#[test]
fn sim_matmul_edges_and_transposes() {
    let mut rng = Rng::new(1);
    for (m, k, n) in [
        (1, 1, 1),
        (7, 3, 5),
        (65, 17, 1),
        (1, 9, 70),
        (66, 8, 130),
        (3, 33, 7),
    ] {
        check(&mut rng, (None, None), m, k, n);
    }
}

#[test]
fn sim_matmul_batched_and_shared_right_operand() {
    let mut rng = Rng::new(2);
    check(&mut rng, (Some(3), Some(3)), 9, 12, 70);
    check(&mut rng, (Some(4), None), 65, 10, 6);
}

#[test]
fn sim_matmul_plain_and_empty_inner_dimension() {
    let mut rng = Rng::new(3);
    for gpu in devices() {
        let a: Tensor<f32> = rng.uniform([5, 20], -1.0, 1.0);
        let b: Tensor<f32> = rng.uniform([20, 9], -1.0, 1.0);
        let got = up(&gpu, &a).matmul(&up(&gpu, &b)).unwrap();
        assert_close("matmul", &down(&got), &a.matmul(&b), atol(20), 1e-5);
        let a = Tensor::<f32>::zeros([2, 4, 0]);
        let b = Tensor::<f32>::zeros([2, 0, 3]);
        let got = up(&gpu, &a).matmul(&up(&gpu, &b)).unwrap();
        assert_close("k = 0", &down(&got), &Tensor::zeros([2, 4, 3]), 0.0, 0.0);
    }
}

#[test]
#[should_panic(expected = "matmul: cannot multiply shapes")]
fn sim_matmul_rejects_mismatched_shapes() {
    let gpu = tensor::cuda::Gpu::sim();
    let a = up(&gpu, &Tensor::<f32>::zeros([2, 3]));
    let b = up(&gpu, &Tensor::<f32>::zeros([4, 2]));
    let _ = a.matmul(&b);
}

/// Enough output tiles (256 of 128x128) that the kernel takes its large tile, with edges in both
/// dimensions and an inner dimension of two and a half slices.
#[test]
fn sim_matmul_large_tile() {
    let mut rng = Rng::new(4);
    check(&mut rng, (Some(16), Some(16)), 500, 20, 500);
}
