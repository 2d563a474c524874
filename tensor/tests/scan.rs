//! `sort_axis` and `cumsum_axis` on the CPU, f32 and f64, against naive references written
//! here: a selection sort (repeatedly take the first remaining element that no other remaining
//! element strictly precedes: stable by construction, NaN the largest) and running sums in f64.
//! Ties, NaN, signed zeros and infinities; every axis of tensors of rank 1 to 3, both
//! directions; length-1 and empty axes. Random tensors as proptest properties on the CPU.
//!
//! On every device (`device_test!`: cpu, sim, cuda), in f32: every axis of tensors of rank 1 to
//! 3 with lines of up to 64 elements full of ties, NaN (with payloads and either sign), signed
//! zeros, infinities and subnormals, sorted both ways, values bit for bit; running sums bit for
//! bit against f32 additions in line order from +0 (and within f32 rounding of the f64 sums);
//! length-1 and empty axes; the panics for a missing axis.

mod common;

use common::device::{back, device_test, on};
use common::{config, ravel, tensor, tied_value, to_element, unravel, wave};
use proptest::prelude::*;
use tensor::{Device, Element, IndexTensor, Rng, Tensor};

/// Every line of `x` along `axis` as (its flat positions, its values in f64), in row-major
/// order of the other axes.
fn lines<T: Element>(x: &Tensor<T>, axis: usize) -> Vec<(Vec<usize>, Vec<f64>)> {
    let data = x.to_f64_vec();
    let mut rest = x.dims().to_vec();
    rest[axis] = 1;
    (0..rest.iter().product())
        .map(|o| {
            let mut at = unravel(o, &rest);
            let positions: Vec<usize> = (0..x.dims()[axis])
                .map(|l| {
                    at[axis] = l;
                    ravel(&at, x.dims())
                })
                .collect();
            let values = positions.iter().map(|&p| data[p]).collect();
            (positions, values)
        })
        .collect()
}

/// `a` strictly precedes `b` in the sort order: smaller (ascending) or larger (descending),
/// NaN counting as larger than every number and equal to another NaN.
fn precedes(a: f64, b: f64, descending: bool) -> bool {
    let (first, second) = if descending { (b, a) } else { (a, b) };
    match (first.is_nan(), second.is_nan()) {
        (true, _) => false,
        (false, true) => true,
        (false, false) => first < second,
    }
}

/// The indices that sort `values`: a selection sort that takes, each round, the first
/// remaining element (in index order) that no later remaining element strictly precedes.
fn selection_order(values: &[f64], descending: bool) -> Vec<u32> {
    let mut remaining: Vec<usize> = (0..values.len()).collect();
    let mut order = Vec::new();
    while !remaining.is_empty() {
        let mut pick = 0;
        for k in 1..remaining.len() {
            if precedes(values[remaining[k]], values[remaining[pick]], descending) {
                pick = k;
            }
        }
        order.push(remaining.remove(pick) as u32);
    }
    order
}

/// Checks `x.sort_axis(axis, descending)` against [`selection_order`]: same shapes, the
/// reference's indices exactly, and at each position the bits of the element it names.
fn check_sort<T: Element>(x: &Tensor<T>, axis: usize, descending: bool) {
    check_sort_on(Device::Cpu, x, axis, descending);
}

/// [`check_sort`] with the sort run on `device`.
fn check_sort_on<T: Element>(device: Device, x: &Tensor<T>, axis: usize, descending: bool) {
    let what = format!(
        "sort_axis({axis}, descending {descending}) of {:?} {} on {device}",
        x.dims(),
        T::NAME
    );
    let (values, indices): (Tensor<T>, IndexTensor) = on(device, x).sort_axis(axis, descending);
    let (values, indices) = (back(device, &values), back(device, &indices));
    assert_eq!(values.dims(), x.dims(), "{what}: values shape");
    assert_eq!(indices.dims(), x.dims(), "{what}: indices shape");
    let (got_values, got_indices) = (values.to_f64_vec(), indices.to_vec());
    for (positions, line) in lines(x, axis) {
        let want = selection_order(&line, descending);
        let got: Vec<u32> = positions.iter().map(|&p| got_indices[p]).collect();
        assert_eq!(got, want, "{what}: indices of the line {line:?}");
        for (&p, &w) in positions.iter().zip(&want) {
            let expected = line[w as usize];
            assert_eq!(
                got_values[p].to_bits(),
                expected.to_bits(),
                "{what}: value at {p}: got {}, want {expected}",
                got_values[p]
            );
        }
    }
}

/// Checks `x.cumsum_axis(axis)` against running sums in f64: each prefix within
/// `tol * (1 + sum of |x| over the prefix)`; NaN where the f64 sum is NaN.
fn check_cumsum<T: Element>(x: &Tensor<T>, axis: usize, tol: f64) {
    check_cumsum_on(Device::Cpu, x, axis, tol);
}

/// [`check_cumsum`] with the sums run on `device`.
fn check_cumsum_on<T: Element>(device: Device, x: &Tensor<T>, axis: usize, tol: f64) {
    let what = format!(
        "cumsum_axis({axis}) of {:?} {} on {device}",
        x.dims(),
        T::NAME
    );
    let out = back(device, &on(device, x).cumsum_axis(axis));
    assert_eq!(out.dims(), x.dims(), "{what}: shape");
    let got = out.to_f64_vec();
    for (positions, line) in lines(x, axis) {
        let (mut sum, mut magnitude) = (0.0f64, 0.0f64);
        for (&p, &v) in positions.iter().zip(&line) {
            sum += v;
            magnitude += v.abs();
            let g = got[p];
            let ok = if sum.is_nan() {
                g.is_nan()
            } else {
                g == sum || (g - sum).abs() <= tol * (1.0 + magnitude)
            };
            assert!(ok, "{what}: at {p}: got {g}, want {sum} (line {line:?})");
        }
    }
}

/// Values full of ties, plus NaN, signed zeros and infinities.
fn sort_value() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        6 => tied_value(),
        2 => -10.0..10.0,
        1 => Just(f64::NAN),
        1 => Just(-0.0),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn sort_matches_the_selection_sort(
        (x, axis) in tensor(1..=3, 6, sort_value()).prop_flat_map(|x| {
            let rank = x.rank();
            (Just(x), 0..rank)
        }),
        descending in any::<bool>(),
    ) {
        check_sort(&x, axis, descending);
        check_sort(&to_element::<f32>(&x), axis, descending);
    }

    #[test]
    fn cumsum_matches_running_sums_in_f64(
        (x, axis) in tensor(1..=3, 6, -10.0..10.0f64).prop_flat_map(|x| {
            let rank = x.rank();
            (Just(x), 0..rank)
        }),
    ) {
        check_cumsum(&x, axis, 1e-12);
        check_cumsum(&to_element::<f32>(&x), axis, 1e-6);
    }
}

/// A `[3, 5, 4]` tensor of ties, NaN, signed zeros and infinities.
fn tied_3d() -> Tensor<f64> {
    let specials = [f64::NAN, -0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY];
    let values: Vec<f64> = (0..60)
        .map(|k| match k % 7 {
            3 => specials[(k / 7) % specials.len()],
            _ => ((k * 5) % 9) as f64 / 2.0 - 2.0,
        })
        .collect();
    Tensor::from_vec(values, [3, 5, 4])
}

#[test]
fn sort_along_every_axis_of_a_3d_tensor_both_ways() {
    let x = tied_3d();
    for axis in 0..3 {
        for descending in [false, true] {
            check_sort(&x, axis, descending);
            check_sort(&to_element::<f32>(&x), axis, descending);
        }
    }
}

#[test]
fn sort_puts_nan_last_ascending_and_first_descending_keeping_ties_in_order() {
    let nan = f64::NAN;
    let x = Tensor::from_vec(vec![3.0, nan, 1.0, 3.0, -0.0, 0.0, f64::NEG_INFINITY], [7]);
    let (values, indices) = x.sort_axis(0, false);
    assert_eq!(indices.to_vec(), [6, 4, 5, 2, 0, 3, 1]);
    let v = values.to_vec();
    assert_eq!(v[..6], [f64::NEG_INFINITY, -0.0, 0.0, 1.0, 3.0, 3.0]);
    assert!(v[1].is_sign_negative() && v[2].is_sign_positive() && v[6].is_nan());

    let (values, indices) = x.sort_axis(0, true);
    assert_eq!(indices.to_vec(), [1, 0, 3, 2, 4, 5, 6]);
    let v = values.to_vec();
    assert!(v[0].is_nan());
    assert_eq!(v[1..], [3.0, 3.0, 1.0, -0.0, 0.0, f64::NEG_INFINITY]);
    assert!(v[4].is_sign_negative() && v[5].is_sign_positive());
}

#[test]
fn long_lines_sort_and_sum_on_the_parallel_path() {
    let x = Tensor::from_vec(wave(64 * 300), [64, 300]);
    check_sort(&x, 1, false);
    check_sort(&to_element::<f32>(&x), 0, true);
    check_cumsum(&x, 1, 1e-12);
    check_cumsum(&to_element::<f32>(&x), 1, 1e-5);
}

#[test]
fn cumsum_carries_nan_and_infinities_forward() {
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    let x = Tensor::from_vec(vec![1.0, nan, 2.0, inf, -inf, 1.0, 2.0, 3.0, inf], [3, 3]);
    let out = x.cumsum_axis(1).to_vec();
    assert_eq!(out[0], 1.0);
    assert!(out[1].is_nan() && out[2].is_nan());
    assert_eq!(out[3], inf);
    assert!(out[4].is_nan() && out[5].is_nan());
    assert_eq!(out[6..], [2.0, 5.0, inf]);
}

#[test]
fn length_one_axes_are_the_identity_and_empty_axes_give_empty_results() {
    let x = Tensor::from_vec(vec![2.0f32, -1.0, f32::NAN, 0.5], [2, 1, 2]);
    let (values, indices) = x.sort_axis(1, true);
    assert_eq!(values.to_vec()[..2], [2.0, -1.0]);
    assert!(values.to_vec()[2].is_nan());
    assert_eq!(indices.to_vec(), [0, 0, 0, 0]);
    let sums = x.cumsum_axis(1).to_vec();
    assert_eq!((sums[0], sums[1], sums[3]), (2.0, -1.0, 0.5));

    let empty = Tensor::<f64>::zeros([2, 0, 3]);
    for axis in 0..3 {
        let (values, indices) = empty.sort_axis(axis, false);
        assert_eq!(
            (values.dims(), indices.dims()),
            (&[2, 0, 3][..], &[2, 0, 3][..])
        );
        assert_eq!(empty.cumsum_axis(axis).dims(), [2, 0, 3]);
    }
}

/// Shapes of rank 1 to 3, lines of 1 to 64 elements, a few hundred elements at most.
const SHAPES: [&[usize]; 7] = [
    &[64],
    &[1],
    &[3, 17, 5],
    &[2, 1, 7],
    &[5, 64],
    &[64, 5],
    &[4, 0, 3],
];

/// Values that make sorting hard: small integers (ties), and now and then a special value.
fn hard_values(rng: &mut Rng, dims: &[usize]) -> Tensor<f32> {
    let specials = [
        f32::NAN,
        f32::from_bits(0x7FC0_0001), // a NaN with a payload
        f32::from_bits(0xFFC0_0000), // a NaN with the sign bit set
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(1),           // the smallest subnormal
        f32::from_bits(0x8000_0001), // and its negative
        0.1,
    ];
    let n: usize = dims.iter().product();
    let values = (0..n)
        .map(|_| {
            if rng.below(4) == 0 {
                specials[rng.below(specials.len())]
            } else {
                rng.below(7) as f32 - 3.0
            }
        })
        .collect();
    Tensor::from_vec(values, dims)
}

fn sort_of_hard_values_on_every_axis(device: Device) {
    let mut rng = Rng::new(41);
    for dims in SHAPES {
        let x = hard_values(&mut rng, dims);
        for axis in 0..dims.len() {
            check_sort_on(device, &x, axis, false);
            check_sort_on(device, &x, axis, true);
        }
    }
}
device_test!(sort_of_hard_values_on_every_axis);

/// Distinct values, all ties, all NaN.
fn sort_keeps_distinct_values_and_all_ties_in_order(device: Device) {
    let distinct: Tensor<f32> = Rng::new(42).normal([6, 40], 0.0, 1.0);
    let all_equal = Tensor::full([3, 33], 1.5f32);
    let all_nan = Tensor::full([33, 2], f32::NAN);
    for x in [&distinct, &all_equal, &all_nan] {
        for axis in 0..2 {
            check_sort_on(device, x, axis, false);
            check_sort_on(device, x, axis, true);
        }
    }
}
device_test!(sort_keeps_distinct_values_and_all_ties_in_order);

/// `x.cumsum_axis(axis)` on `device` equals f32 additions along each line from +0, bit for bit
/// (any NaN matching any NaN: additions return the canonical NaN, not an operand's payload).
fn check_running_sums(device: Device, x: &Tensor<f32>, axis: usize) {
    let what = format!("cumsum_axis({axis}) of {:?} on {device}", x.dims());
    let got = back(device, &on(device, x).cumsum_axis(axis)).to_vec();
    for (positions, line) in lines(x, axis) {
        let mut sum = 0.0f32;
        for (&p, &v) in positions.iter().zip(&line) {
            sum += v as f32;
            let same = got[p].to_bits() == sum.to_bits() || (got[p].is_nan() && sum.is_nan());
            assert!(same, "{what}: at {p}: got {:e}, want {sum:e}", got[p]);
        }
    }
}

fn cumsum_of_hard_and_rounded_values_on_every_axis(device: Device) {
    let mut rng = Rng::new(43);
    for dims in SHAPES {
        let rounded: Tensor<f32> = rng.normal(dims, 0.0, 1.0);
        for x in [hard_values(&mut rng, dims), rounded] {
            for axis in 0..dims.len() {
                check_running_sums(device, &x, axis);
                check_cumsum_on(device, &x, axis, 1e-6);
            }
        }
    }
}
device_test!(cumsum_of_hard_and_rounded_values_on_every_axis);

/// +0 + -0 = +0: a line of negative zeros sums to positive zeros, which tells a loop started
/// from +0 from one started from the first element.
fn cumsum_starts_from_plus_zero(device: Device) {
    let x = Tensor::from_vec(vec![-0.0f32, -0.0, -0.0, 2.0], [2, 2]);
    check_running_sums(device, &x, 0);
    check_running_sums(device, &x, 1);
    let sums = back(device, &on(device, &x).cumsum_axis(1)).to_vec();
    assert_eq!(
        sums[..2].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        [0, 0]
    );
}
device_test!(cumsum_starts_from_plus_zero);

fn sort_along_a_missing_axis_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3, 4])).sort_axis(3, false);
}
device_test!(
    #[should_panic(expected = "sort_axis: axis 3 out of range for shape [2, 3, 4]")]
    sort_along_a_missing_axis_panics: cpu, sim
);

fn cumsum_along_a_missing_axis_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([5])).cumsum_axis(1);
}
device_test!(
    #[should_panic(expected = "cumsum_axis: axis 1 out of range for shape [5]")]
    cumsum_along_a_missing_axis_panics: cpu, sim
);
