//! GPU `channel_mean_var` against the CPU one, on every device of `gpu_common::devices()`: NCHW
//! and NC tensors of random sizes (planes smaller and larger than the 256-thread block, channels
//! split over several blocks, many channels), values with a large offset (where a one-pass variance
//! would cancel), an empty batch (NaN, as the CPU's 0 / 0), and the panic of a bad rank. The
//! block tree sums in another order than the CPU, so the check is to f32 rounding; an f64
//! reference bounds both.

mod gpu_common;

use gpu_common::{assert_close, devices, down, up};
use tensor::cuda::Gpu;
use tensor::{Rng, Tensor};

/// Checks mean and variance of `x` on `gpu` against the CPU (in f32, and in f64 as the truth).
fn check(gpu: &Gpu, x: &Tensor<f32>) {
    let (mean, var) = up(gpu, x).channel_mean_var().unwrap();
    let (mean, var) = (down(&mean), down(&var));
    let (want_mean, want_var) = x.channel_mean_var();
    let (true_mean, true_var) = x.cast::<f64>().channel_mean_var();
    let (true_mean, true_var) = (true_mean.cast::<f32>(), true_var.cast::<f32>());
    let what = format!("{:?} on {}", x.dims(), gpu.name());
    // The scale of the values bounds the mean's rounding; the variance's is relative.
    let scale = x.data().iter().fold(0f32, |m, v| m.max(v.abs()));
    assert_close(
        &format!("mean {what}"),
        &mean,
        &true_mean,
        4e-6 * scale,
        0.0,
    );
    assert_close(&format!("var {what}"), &var, &true_var, 1e-6, 1e-4);
    assert_close(
        &format!("mean vs cpu {what}"),
        &mean,
        &want_mean,
        8e-6 * scale,
        0.0,
    );
    assert_close(&format!("var vs cpu {what}"), &var, &want_var, 1e-6, 2e-4);
}

#[test]
fn sim_channel_mean_var_matches_cpu() {
    for gpu in devices() {
        let mut rng = Rng::new(21);
        for _ in 0..6 {
            let (n, c, h, w) = (
                1 + rng.below(5),
                1 + rng.below(6),
                1 + rng.below(20),
                1 + rng.below(20),
            );
            let x: Tensor<f32> = rng.normal([n, c, h, w], 0.5, 2.0);
            check(&gpu, &x);
        }
        // NC (a plane of one element), batch larger than a block.
        let x: Tensor<f32> = rng.uniform([700, 3], -1.0, 1.0);
        check(&gpu, &x);
        // A plane larger than a block, and many channels.
        let x: Tensor<f32> = rng.normal([2, 3, 17, 19], 0.0, 1.0);
        check(&gpu, &x);
        let x: Tensor<f32> = rng.normal([3, 40, 2, 3], 0.0, 1.0);
        check(&gpu, &x);
        // Channels large enough to be split over several blocks (2, then 4 per channel).
        let x: Tensor<f32> = rng.normal([8, 2, 24, 24], 0.0, 1.0);
        check(&gpu, &x);
        let x: Tensor<f32> = rng.uniform([64, 3, 16, 16], 0.0, 1.0);
        check(&gpu, &x);
        // Large mean, small spread: two passes keep the variance.
        let x: Tensor<f32> = rng.normal([4, 2, 8, 8], 1000.0, 0.01);
        check(&gpu, &x);
    }
}

#[test]
fn sim_channel_mean_var_of_an_empty_batch_is_nan() {
    for gpu in devices() {
        let x: Tensor<f32> = Tensor::zeros([0, 3, 4, 4]);
        let (mean, var) = up(&gpu, &x).channel_mean_var().unwrap();
        assert_eq!(mean.dims(), &[3]);
        assert!(
            down(&mean)
                .data()
                .iter()
                .chain(down(&var).data())
                .all(|v| v.is_nan())
        );
    }
}

#[test]
#[should_panic(expected = "channel_mean_var: expected NC or NCHW, got shape [2, 3, 4]")]
fn sim_channel_mean_var_rejects_a_bad_rank() {
    let _ = up(&Gpu::sim(), &Tensor::<f32>::zeros([2, 3, 4])).channel_mean_var();
}
