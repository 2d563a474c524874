//! `channel_mean_var` (per-channel mean and biased variance of NC or NCHW tensors, what batch
//! normalisation needs) against a two-pass loop, including values with a large common offset
//! where a one-pass `E[x^2] - E[x]^2` loses every digit, as proptest properties on the CPU in
//! f64.
//!
//! On every device (`device_test!`: cpu, sim, cuda), in f32: NCHW and NC tensors of random sizes
//! (planes smaller and larger than the GPU's 256-thread block, channels split over several
//! blocks, many channels), values with a large offset, an empty batch (NaN, as 0 / 0), and the
//! panic of a bad rank. The mean is checked to the values' scale, the variance relatively.

mod common;

use common::device::{assert_f32, back, device_test, on};
use common::{F64_TOL, assert_tensor, config, dims, tensor_of, value, wave};
use proptest::prelude::*;
use tensor::{Device, Rng, Tensor};

/// Mean and biased variance of every channel (axis 1), one channel at a time.
fn reference(x: &Tensor<f64>) -> (Vec<f64>, Vec<f64>) {
    let d = x.dims();
    let (n, c, plane) = (d[0], d[1], d[2..].iter().product::<usize>());
    (0..c)
        .map(|ch| {
            let mut values = Vec::new();
            for img in 0..n {
                for p in 0..plane {
                    values.push(x.data()[(img * c + ch) * plane + p]);
                }
            }
            let count = values.len() as f64;
            let mean = values.iter().sum::<f64>() / count;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
            (mean, var)
        })
        .unzip()
}

/// Checks both statistics of `x`.
fn check(x: &Tensor<f64>, tol: f64) {
    let (mean, var) = x.channel_mean_var();
    let (expected_mean, expected_var) = reference(x);
    let c = x.dims()[1];
    assert_tensor(&mean, &[c], &expected_mean, tol);
    assert_tensor(&var, &[c], &expected_var, tol);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn nc_and_nchw_tensors(
        x in prop_oneof![dims(2..=2, 5), dims(4..=4, 4)].prop_flat_map(|d| tensor_of(d, value()))
    ) {
        check(&x, F64_TOL);
    }

    /// Values 1e6 apart from zero but only about 1 apart from each other.
    #[test]
    fn a_large_offset_keeps_the_variance_exact(
        x in dims(4..=4, 4).prop_flat_map(|d| tensor_of(d, 1e6 - 1.0..1e6 + 1.0))
    ) {
        check(&x, F64_TOL);
    }
}

/// Over 2 * 2^15 elements, so channels are reduced in parallel.
#[test]
fn large_tensor_matches_the_reference() {
    check(
        &Tensor::from_vec(wave(16 * 8 * 30 * 30), [16, 8, 30, 30]),
        F64_TOL,
    );
}

/// Checks both statistics of `x` computed on `device` against the f64 loop.
fn check_on(device: Device, x: &Tensor<f32>) {
    let (mean, var) = on(device, x).channel_mean_var();
    let (want_mean, want_var) = reference(&x.cast());
    let what = format!("{:?} on {device}", x.dims());
    let scale = x
        .data()
        .iter()
        .fold(0f64, |m, &v| m.max(f64::from(v).abs()));
    let c = [x.dims()[1]];
    let mean = back(device, &mean);
    assert_f32(
        &format!("mean {what}"),
        &mean,
        &c,
        &want_mean,
        4e-6 * scale,
        0.0,
    );
    let var = back(device, &var);
    assert_f32(&format!("var {what}"), &var, &c, &want_var, 1e-6, 1e-4);
}

fn nc_and_nchw_of_many_sizes(device: Device) {
    let mut rng = Rng::new(21);
    for _ in 0..6 {
        let dims = [
            1 + rng.below(5),
            1 + rng.below(6),
            1 + rng.below(20),
            1 + rng.below(20),
        ];
        check_on(device, &rng.normal(dims, 0.5, 2.0));
    }
    // NC (a plane of one element), a batch larger than a GPU block.
    check_on(device, &rng.uniform([700, 3], -1.0, 1.0));
    // A plane larger than a block, and many channels.
    check_on(device, &rng.normal([2, 3, 17, 19], 0.0, 1.0));
    check_on(device, &rng.normal([3, 40, 2, 3], 0.0, 1.0));
    // Channels large enough that a GPU splits them over several blocks (2, then 4 each).
    check_on(device, &rng.normal([8, 2, 24, 24], 0.0, 1.0));
    check_on(device, &rng.uniform([64, 3, 16, 16], 0.0, 1.0));
    // A large mean and a small spread: two passes keep the variance.
    check_on(device, &rng.normal([4, 2, 8, 8], 1000.0, 0.01));
}
device_test!(nc_and_nchw_of_many_sizes);

fn an_empty_batch_gives_nan(device: Device) {
    check_on(device, &Tensor::zeros([0, 3, 4, 4]));
}
device_test!(an_empty_batch_gives_nan);

fn rank_three_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3, 4])).channel_mean_var();
}
device_test!(
    #[should_panic(expected = "channel_mean_var: expected NC or NCHW, got shape [2, 3, 4]")]
    rank_three_panics: cpu, sim
);
