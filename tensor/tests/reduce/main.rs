//! Reductions against naive f64 references: sum, mean, max and min along any axis (with and
//! without keepdim) and over all elements, `argmax_axis` and `top2_axis` on tie-prone values
//! (the lower index wins a tie, as in PyTorch), and `sum_to`, the adjoint of broadcasting, as
//! proptest properties on the CPU in f64 (hundreds of random cases would take minutes on the
//! simulator); `devices.rs` runs the same references on every device.

#[path = "../common/mod.rs"]
mod common;
mod devices;

use common::{
    F64_TOL, assert_close, assert_tensor, broadcast_operand, config, dims, ravel, strides, tensor,
    tensor_of, tied_value, unravel, value, wave, with_axis,
};
use proptest::prelude::*;
use tensor::{Shape, Tensor};

/// The dimensions left after reducing `axis`: removed, or kept as 1 with `keepdim`.
fn reduced_dims(dims: &[usize], axis: usize, keepdim: bool) -> Vec<usize> {
    let mut out = dims.to_vec();
    if keepdim {
        out[axis] = 1;
    } else {
        out.remove(axis);
    }
    out
}

/// Every line of `x` along `axis`, in the row-major order of the remaining axes.
fn lines(x: &Tensor<f64>, axis: usize) -> Vec<Vec<f64>> {
    let rest = reduced_dims(x.dims(), axis, true);
    (0..rest.iter().product())
        .map(|o| {
            let mut at = unravel(o, &rest);
            (0..x.dims()[axis])
                .map(|l| {
                    at[axis] = l;
                    x.data()[ravel(&at, x.dims())]
                })
                .collect()
        })
        .collect()
}

/// The first index of the largest value.
fn first_argmax(line: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in line.iter().enumerate() {
        if v > line[best] {
            best = i;
        }
    }
    best
}

/// The indices of the two largest values; a stable sort keeps the lower index first on ties.
fn top_two(line: &[f64]) -> (usize, usize) {
    let mut order: Vec<usize> = (0..line.len()).collect();
    order.sort_by(|&i, &j| line[j].total_cmp(&line[i]));
    (order[0], order[1])
}

/// `top_two` as a left-to-right scan with strict `>`: an element above the best makes the best
/// second; otherwise one above the second (or the first one seen) becomes second. On NaN-free
/// lines this is `top_two`; NaN, never above anything, stays where the scan leaves it.
fn scan_top_two(line: &[f64]) -> (usize, usize) {
    let (mut best, mut second) = (0, None);
    for (i, &v) in line.iter().enumerate().skip(1) {
        if v > line[best] {
            second = Some(best);
            best = i;
        } else if second.is_none_or(|s: usize| v > line[s]) {
            second = Some(i);
        }
    }
    (best, second.expect("a line of two or more"))
}

/// `sum_to(target)`: every element added into the one of `target` that broadcasting would have
/// copied it from.
fn reference_sum_to(x: &Tensor<f64>, target: &[usize]) -> Vec<f64> {
    let mut expected = vec![0.0; target.iter().product()];
    let target_strides = strides(target);
    for (flat, &v) in x.data().iter().enumerate() {
        let at = unravel(flat, x.dims());
        let skipped = at.len() - target.len();
        let to: usize = target
            .iter()
            .zip(&at[skipped..])
            .zip(&target_strides)
            .map(|((&d, &c), &s)| if d == 1 { 0 } else { c * s })
            .sum();
        expected[to] += v;
    }
    expected
}

/// A reduction of the library and the same reduction of one line.
type AxisCase = (
    &'static str,
    fn(&Tensor<f64>, usize, bool) -> Tensor<f64>,
    fn(&[f64]) -> f64,
);

const AXIS_REDUCTIONS: [AxisCase; 4] = [
    ("sum_axis", Tensor::sum_axis, |l| l.iter().sum()),
    ("mean_axis", Tensor::mean_axis, |l| {
        l.iter().sum::<f64>() / l.len() as f64
    }),
    ("max_axis", Tensor::max_axis, |l| {
        l.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }),
    ("min_axis", Tensor::min_axis, |l| {
        l.iter().copied().fold(f64::INFINITY, f64::min)
    }),
];

/// Checks every reduction along `axis` and `argmax_axis`, plus `top2_axis` when the axis has two
/// or more elements.
fn check_along(x: &Tensor<f64>, axis: usize, keepdim: bool) {
    let lines = lines(x, axis);
    for (name, op, f) in AXIS_REDUCTIONS {
        let expected: Vec<f64> = lines.iter().map(|l| f(l)).collect();
        let got = op(x, axis, keepdim);
        assert_eq!(got.dims(), reduced_dims(x.dims(), axis, keepdim), "{name}");
        assert_close(got.data(), &expected, F64_TOL);
    }
    let index_dims = reduced_dims(x.dims(), axis, false);
    let argmax = x.argmax_axis(axis);
    assert_eq!(argmax.dims(), index_dims);
    let expected: Vec<usize> = lines.iter().map(|l| first_argmax(l)).collect();
    assert_eq!(argmax.to_usizes(), expected, "argmax_axis {axis} of {x:?}");
    if x.dims()[axis] >= 2 {
        let (first, second) = x.top2_axis(axis);
        assert_eq!(
            (first.dims(), second.dims()),
            (&index_dims[..], &index_dims[..])
        );
        let (e1, e2): (Vec<usize>, Vec<usize>) = lines.iter().map(|l| top_two(l)).unzip();
        assert_eq!(first.to_usizes(), e1, "top2_axis {axis} of {x:?}");
        assert_eq!(second.to_usizes(), e2, "top2_axis {axis} of {x:?}");
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn reductions_along_an_axis((x, axis, keepdim) in with_axis(value())) {
        check_along(&x, axis, keepdim);
    }

    /// Values from {-2, ..., 2}: maxima, minima and the top two are full of ties.
    #[test]
    fn reductions_along_an_axis_with_ties((x, axis, keepdim) in with_axis(tied_value())) {
        check_along(&x, axis, keepdim);
    }

    #[test]
    fn reductions_over_everything(x in tensor(0..=4, 4, value())) {
        let n = x.numel() as f64;
        let sum: f64 = x.data().iter().sum();
        let max = x.data().iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = x.data().iter().copied().fold(f64::INFINITY, f64::min);
        for (got, expected) in [
            (x.sum_all(), sum),
            (x.mean_all(), sum / n),
            (x.max_all(), max),
            (x.min_all(), min),
        ] {
            assert_tensor(&got, &[], &[expected], F64_TOL);
        }
    }

    /// `sum_to` adds every element into the one of the smaller shape that broadcasting would
    /// have copied it from.
    #[test]
    fn sum_to_undoes_broadcasting(
        (x, target) in dims(0..=4, 4).prop_flat_map(|full| {
            (tensor_of(full.clone(), value()), broadcast_operand(full))
        })
    ) {
        let expected = reference_sum_to(&x, &target);
        assert_tensor(&x.sum_to(&Shape::new(&target)), &target, &expected, F64_TOL);
    }
}

/// Over 2 * 2^15 elements, so the reductions split their rows across threads; integer-valued
/// data keeps ties in every line.
#[test]
fn large_reductions_match_the_reference() {
    let data: Vec<f64> = (0..40 * 50 * 41)
        .map(|i| ((i * 7919) % 13) as f64)
        .collect();
    let x = Tensor::from_vec(data, [40, 50, 41]);
    for axis in 0..3 {
        check_along(&x, axis, false);
    }
    let smooth = Tensor::from_vec(wave(300 * 301), [300, 301]);
    let sum: f64 = smooth.data().iter().sum();
    let scale: f64 = smooth.data().iter().map(|v| v.abs()).sum();
    assert!((smooth.sum_all().item() - sum).abs() <= 1e-12 * scale);
}
