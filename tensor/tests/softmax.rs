//! `softmax`, `log_softmax` and `logsumexp` along any axis against a naive f64 reference, on
//! ordinary values and on magnitudes around 1000 where the unstabilised formulas overflow.

mod common;

use common::{F32_TOL, F64_TOL, assert_tensor, config, ravel, tensor, to_element, unravel, value};
use proptest::prelude::*;
use tensor::{Element, Tensor};

/// The three results along `axis`, computed one line at a time with the maximum subtracted:
/// `(softmax, log_softmax, logsumexp)`, the first two shaped like `x`, the last with `axis`
/// removed.
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
        lse.push(max + sum.ln());
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

#[test]
#[should_panic(expected = "softmax: axis 2 out of range for shape [2, 3]")]
fn softmax_along_a_missing_axis_panics() {
    let _ = Tensor::<f64>::zeros([2, 3]).softmax(2);
}
