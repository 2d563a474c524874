//! `softmax`, `log_softmax` and `logsumexp` along any axis against a naive f64 reference, on
//! ordinary values and on magnitudes around 1000 where the unstabilised formulas overflow, as
//! proptest properties on the CPU (hundreds of random cases would take minutes on the simulator).
//!
//! On every device (`device_test!`: cpu, sim, cuda), in f32: every axis of rank 1-4 tensors,
//! lines longer than the GPU's block, large offsets (the max subtraction), tiny probabilities, and
//! lines holding -inf, inf and NaN; the panic of a missing axis.

mod common;

use common::device::{assert_f32, back, device_test, on};
use common::{F32_TOL, F64_TOL, assert_tensor, config, ravel, tensor, to_element, unravel, value};
use proptest::prelude::*;
use tensor::{Device, Element, Rng, Tensor};

/// The three results along `axis`, computed one line at a time with the maximum subtracted:
/// `(softmax, log_softmax, logsumexp)`, the first two shaped like `x`, the last with `axis`
/// removed. NaN is skipped by the maximum and spreads through the sum; a line whose maximum is
/// infinite gives NaN probabilities, and its logsumexp is that maximum (shifting by 0).
fn reference(x: &Tensor<f64>, axis: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let dims = x.dims();
    let mut rest = dims.to_vec();
    rest[axis] = 1;
    let (mut soft, mut log_soft) = (vec![0.0; x.numel()], vec![0.0; x.numel()]);
    let mut lse = Vec::new();
    for o in 0..rest.iter().product() {
        let mut at = unravel(o, &rest);
        let positions: Vec<usize> = (0..dims[axis])
            .map(|l| {
                at[axis] = l;
                ravel(&at, dims)
            })
            .collect();
        let max = positions
            .iter()
            .map(|&p| x.data()[p])
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = positions.iter().map(|&p| (x.data()[p] - max).exp()).sum();
        for &p in &positions {
            soft[p] = (x.data()[p] - max).exp() / sum;
            log_soft[p] = x.data()[p] - max - sum.ln();
        }
        let shift = if max.is_finite() { max } else { 0.0 };
        let shifted: f64 = positions.iter().map(|&p| (x.data()[p] - shift).exp()).sum();
        lse.push(shift + shifted.ln());
    }
    (soft, log_soft, lse)
}

/// Checks the three ops of `x` in element type `T` along every axis, with and without keepdim.
fn check<T: Element>(x: &Tensor<f64>, tol: f64) {
    let xt = to_element::<T>(x);
    for axis in 0..x.rank() {
        let (soft, log_soft, lse) = reference(&xt.cast(), axis);
        assert_tensor(&xt.softmax(axis), x.dims(), &soft, tol);
        assert_tensor(&xt.log_softmax(axis), x.dims(), &log_soft, tol);
        let mut kept = x.dims().to_vec();
        kept[axis] = 1;
        assert_tensor(&xt.logsumexp(axis, true), &kept, &lse, tol);
        kept.remove(axis);
        assert_tensor(&xt.logsumexp(axis, false), &kept, &lse, tol);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn ordinary_values(x in tensor(1..=4, 4, value())) {
        check::<f64>(&x, F64_TOL);
        check::<f32>(&x, F32_TOL);
    }

    /// exp(1000) overflows even f64: only a shifted computation stays finite.
    #[test]
    fn large_magnitudes_stay_finite(x in tensor(1..=3, 5, 900.0..1100.0f64), negate: bool) {
        let x = if negate { x.neg() } else { x };
        check::<f64>(&x, F64_TOL);
        check::<f32>(&x, F32_TOL);
        prop_assert!(!x.softmax(0).has_non_finite());
        prop_assert!(!x.log_softmax(0).has_non_finite());
    }

    /// Adding a constant (here 1000) to every logit leaves softmax unchanged.
    #[test]
    fn softmax_ignores_a_constant_shift(x in tensor(1..=3, 4, value())) {
        let axis = x.rank() - 1;
        let shifted = x.add_scalar(1000.0).softmax(axis);
        assert_tensor(&shifted, x.dims(), x.softmax(axis).data(), 1e-12);
    }
}

/// Masked logits: -inf entries get probability 0, and an all -inf line has logsumexp -inf.
#[test]
fn infinite_logits() {
    let inf = f64::INFINITY;
    let x = Tensor::from_vec(vec![0.0, -inf, 0.0, -inf, -inf, -inf], [2, 3]);
    assert_eq!(&x.softmax(1).data()[..3], &[0.5, 0.0, 0.5]);
    assert_eq!(
        &x.log_softmax(1).data()[..3],
        &[-(2f64.ln()), -inf, -(2f64.ln())]
    );
    assert_eq!(x.logsumexp(1, false).data(), &[2f64.ln(), -inf]);
}

/// Checks the three ops of `x` on `device` along every axis, with and without keepdim.
fn check_on(device: Device, x: &Tensor<f32>) {
    let gx = on(device, x);
    for axis in 0..x.rank() {
        let (soft, log_soft, lse) = reference(&x.cast(), axis);
        let what = |op: &str| format!("{op} axis {axis} of {:?} on {device}", x.dims());
        let got = back(device, &gx.softmax(axis));
        assert_f32(&what("softmax"), &got, x.dims(), &soft, 1e-7, 1e-5);
        let got = back(device, &gx.log_softmax(axis));
        assert_f32(&what("log_softmax"), &got, x.dims(), &log_soft, 1e-5, 1e-5);
        for keepdim in [false, true] {
            let mut dims = x.dims().to_vec();
            if keepdim {
                dims[axis] = 1;
            } else {
                dims.remove(axis);
            }
            let got = back(device, &gx.logsumexp(axis, keepdim));
            assert_f32(&what("logsumexp"), &got, &dims, &lse, 1e-5, 1e-5);
        }
    }
}

fn every_axis_of_ordinary_large_and_tiny_values(device: Device) {
    let mut rng = Rng::new(31);
    let shapes: [&[usize]; 9] = [
        &[1],
        &[10],
        &[257],
        &[1000],
        &[7, 10],
        &[3, 300],
        &[2, 3, 4, 5],
        &[50, 10],
        &[5, 1, 33, 2],
    ];
    for dims in shapes {
        check_on(device, &rng.uniform(dims, -10.0, 10.0));
    }
    // Large logits: only the max subtraction keeps e^x finite.
    check_on(device, &rng.uniform([4, 20], 1000.0, 1010.0));
    // Tiny probabilities: log_softmax must not go through log(softmax).
    check_on(device, &rng.uniform([3, 5], -80.0, 80.0));
}
device_test!(every_axis_of_ordinary_large_and_tiny_values);

fn infinities_and_nan(device: Device) {
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let x = Tensor::from_vec(
        vec![
            0.0, -inf, 1.0, -inf, // -inf elements: probability 0
            -inf, -inf, -inf, -inf, // all -inf: softmax NaN, logsumexp -inf
            1.0, inf, 2.0, 0.0, // +inf: softmax NaN, logsumexp inf
            1.0, nan, 2.0, 0.0, // NaN spreads over its line
        ],
        [4, 4],
    );
    check_on(device, &x);
}
device_test!(infinities_and_nan);

fn softmax_along_a_missing_axis_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).softmax(2);
}
device_test!(
    #[should_panic(expected = "softmax: axis 2 out of range for shape [2, 3]")]
    softmax_along_a_missing_axis_panics: cpu, sim
);
