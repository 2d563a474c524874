//! `channel_mean_var` (per-channel mean and biased variance of NC or NCHW tensors, what batch
//! normalisation needs) against a two-pass loop, including values with a large common offset
//! where a one-pass `E[x^2] - E[x]^2` loses every digit.

mod common;

use common::{F64_TOL, assert_tensor, config, dims, tensor_of, value, wave};
use proptest::prelude::*;
use tensor::Tensor;

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

#[test]
#[should_panic(expected = "channel_mean_var: expected NC or NCHW, got shape [2, 3, 4]")]
fn rank_three_panics() {
    let _ = Tensor::<f64>::zeros([2, 3, 4]).channel_mean_var();
}
