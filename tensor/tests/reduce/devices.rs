//! Reductions on every device (`device_test!`: cpu, sim, cuda) against the line folds of
//! `main.rs`: sum, mean, max and min along every axis of rank 1-4 tensors (with and without
//! keepdim) and over all elements, at sizes around the GPU's 256-thread block and lines long
//! enough that a GPU splits them across blocks, NaN (skipped by max and min, spread by sums) and
//! empty axes; argmax and top-2 on ties and on NaN, where the scan defines the answer; `sum_to`;
//! and the panics of bad axes and shapes.

use super::common::device::{assert_f32, back, device_test, on};
use super::{AXIS_REDUCTIONS, first_argmax, lines, reduced_dims, reference_sum_to, scan_top_two};
use tensor::{Device, Rng, Shape, Tensor};

/// Sums add in another order on a GPU: allow for f32 rounding relative to the line length.
fn tolerance(name: &str, len: usize) -> (f64, f64) {
    if name.starts_with("sum") || name.starts_with("mean") {
        (1e-6 * len as f64, 1e-5)
    } else {
        (0.0, 0.0)
    }
}

/// Checks every fold of `x` on `device` along each axis (both keepdims) and over all elements.
fn check_folds(device: Device, x: &Tensor<f32>) {
    let (x64, gx) = (x.cast::<f64>(), on(device, x));
    for axis in 0..x.rank() {
        let lines = lines(&x64, axis);
        for keepdim in [false, true] {
            for (name, _, fold) in AXIS_REDUCTIONS {
                let want: Vec<f64> = lines.iter().map(|l| fold(l)).collect();
                let got = match name {
                    "sum_axis" => gx.sum_axis(axis, keepdim),
                    "mean_axis" => gx.mean_axis(axis, keepdim),
                    "max_axis" => gx.max_axis(axis, keepdim),
                    _ => gx.min_axis(axis, keepdim),
                };
                let what = format!("{name} axis {axis} of {:?} on {device}", x.dims());
                let (atol, rtol) = tolerance(name, x.dims()[axis]);
                let dims = reduced_dims(x.dims(), axis, keepdim);
                assert_f32(&what, &back(device, &got), &dims, &want, atol, rtol);
            }
        }
    }
    let all = x64.data();
    let wants = [
        ("sum_all", gx.sum_all(), all.iter().sum::<f64>()),
        (
            "mean_all",
            gx.mean_all(),
            all.iter().sum::<f64>() / all.len() as f64,
        ),
        (
            "max_all",
            gx.max_all(),
            all.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ),
        (
            "min_all",
            gx.min_all(),
            all.iter().copied().fold(f64::INFINITY, f64::min),
        ),
    ];
    for (name, got, want) in wants {
        let what = format!("{name} of {:?} on {device}", x.dims());
        let (atol, rtol) = tolerance(name, x.numel());
        assert_f32(&what, &back(device, &got), &[], &[want], atol, rtol);
    }
}

fn folds_on_every_axis(device: Device) {
    let mut rng = Rng::new(21);
    let shapes: [&[usize]; 9] = [
        &[1],
        &[255],
        &[257],
        &[1000],
        &[3, 300],
        &[300, 3],
        &[2, 3, 4, 5],
        &[5, 1, 33, 2],
        &[40, 7],
    ];
    for dims in shapes {
        check_folds(device, &rng.uniform(dims, -1.0, 1.0));
    }
}
device_test!(folds_on_every_axis);

/// One line of 20000 (a GPU folds it in slices, then folds the slices' results), a column of
/// 5000 over 3 interleaved lines, and two rows of 6000.
fn long_lines(device: Device) {
    let mut rng = Rng::new(22);
    for dims in [&[20000][..], &[5000, 3], &[2, 6000]] {
        check_folds(device, &rng.uniform(dims, 0.0, 1.0));
    }
}
device_test!(long_lines);

fn folds_of_nan_and_empty_axes(device: Device) {
    let nan = f32::NAN;
    let x = Tensor::from_vec(vec![nan, 1.0, -2.0, nan, nan, nan, 3.0, nan, 0.5], [3, 3]);
    check_folds(device, &x);
    for dims in [[3, 0], [0, 4], [0, 5000]] {
        check_folds(device, &Tensor::zeros(dims));
    }
}
device_test!(folds_of_nan_and_empty_axes);

/// Checks argmax and top-2 along every non-empty axis of `x` on `device` (top-2 where the axis
/// has two elements) against the scan of each line.
fn check_top(device: Device, x: &Tensor<f32>) {
    let (x64, gx) = (x.cast::<f64>(), on(device, x));
    for axis in (0..x.rank()).filter(|&a| x.dims()[a] > 0) {
        let what = format!(
            "axis {axis} of {:?} on {device}: {:?}",
            x.dims(),
            x.to_vec()
        );
        let lines = lines(&x64, axis);
        let dims = reduced_dims(x.dims(), axis, false);
        let got = back(device, &gx.argmax_axis(axis));
        assert_eq!(got.dims(), &dims[..], "argmax {what}");
        let want: Vec<usize> = lines.iter().map(|l| first_argmax(l)).collect();
        assert_eq!(got.to_usizes(), want, "argmax {what}");
        if x.dims()[axis] > 1 {
            let (best, second) = gx.top2_axis(axis);
            let (want_best, want_second): (Vec<usize>, Vec<usize>) =
                lines.iter().map(|l| scan_top_two(l)).unzip();
            let (best, second) = (back(device, &best), back(device, &second));
            assert_eq!(
                (best.dims(), second.dims()),
                (&dims[..], &dims[..]),
                "{what}"
            );
            assert_eq!(best.to_usizes(), want_best, "top2 best {what}");
            assert_eq!(second.to_usizes(), want_second, "top2 second {what}");
        }
    }
}

/// Integers in [-3, 3]: lines full of ties.
fn argmax_and_top2_with_ties(device: Device) {
    let mut rng = Rng::new(23);
    let shapes: [&[usize]; 7] = [
        &[7, 10],
        &[10, 7],
        &[3, 300],
        &[2, 3, 4],
        &[1000],
        &[1, 1],
        &[257, 2],
    ];
    for dims in shapes {
        let x = rng.uniform::<f32>(dims, -3.0, 3.0).map(|v| v.round());
        check_top(device, &x);
    }
}
device_test!(argmax_and_top2_with_ties);

/// Rows of 4 with NaN and infinities, along axis 1 and (transposed) down axis 0.
fn argmax_and_top2_follow_the_scan_on_nan(device: Device) {
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    let rows: [[f32; 4]; 10] = [
        [nan, 1.0, 2.0, 0.0],
        [1.0, nan, 0.0, 0.5],
        [1.0, nan, 3.0, 0.0],
        [nan, nan, 1.0, 1.0],
        [-inf, -inf, -inf, -inf],
        [3.0, 3.0, 3.0, 3.0],
        [0.0, 2.0, nan, 2.0],
        [nan, inf, nan, inf],
        [1.0, nan, 1.0, nan],
        [nan, nan, nan, nan],
    ];
    let x = Tensor::from_vec(rows.iter().flatten().copied().collect(), [10, 4]);
    check_top(device, &x);
    check_top(device, &x.transpose(0, 1));
}
device_test!(argmax_and_top2_follow_the_scan_on_nan);

fn sum_to_undoes_broadcasting(device: Device) {
    let mut rng = Rng::new(24);
    let cases: [(&[usize], &[usize]); 8] = [
        (&[4, 3], &[3]),
        (&[4, 3], &[1, 3]),
        (&[4, 3], &[4, 1]),
        (&[2, 3, 4, 5], &[3, 1, 1]),
        (&[2, 3, 4, 5], &[1, 3, 1, 5]),
        (&[300, 2], &[]),
        (&[5], &[5]),
        (&[2, 1, 3], &[1, 1, 3]),
    ];
    for (from, to) in cases {
        let x: Tensor<f32> = rng.uniform(from, -1.0, 1.0);
        let want = reference_sum_to(&x.cast(), to);
        let got = back(device, &on(device, &x).sum_to(&Shape::new(to)));
        let what = format!("sum_to {from:?} -> {to:?} on {device}");
        assert_f32(&what, &got, to, &want, 1e-4, 1e-5);
    }
}
device_test!(sum_to_undoes_broadcasting);

fn sum_along_a_missing_axis_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).sum_axis(2, false);
}
device_test!(
    #[should_panic(expected = "sum_axis: axis 2 out of range for shape [2, 3]")]
    sum_along_a_missing_axis_panics: cpu, sim
);

fn mean_along_a_missing_axis_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).mean_axis(2, true);
}
device_test!(
    #[should_panic(expected = "mean_axis: axis 2 out of range for shape [2, 3]")]
    mean_along_a_missing_axis_panics: cpu, sim
);

fn argmax_along_a_missing_axis_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([4])).argmax_axis(1);
}
device_test!(
    #[should_panic(expected = "argmax_axis: axis 1 out of range for shape [4]")]
    argmax_along_a_missing_axis_panics: cpu, sim
);

fn argmax_along_an_empty_axis_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 0])).argmax_axis(1);
}
device_test!(
    #[should_panic(expected = "argmax_axis: axis 1 of shape [2, 0] is empty")]
    argmax_along_an_empty_axis_panics: cpu, sim
);

fn top2_of_a_single_element_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([3, 1])).top2_axis(1);
}
device_test!(
    #[should_panic(expected = "top2_axis: axis 1 of shape [3, 1] has fewer than two elements")]
    top2_of_a_single_element_panics: cpu, sim
);

fn sum_to_an_unrelated_shape_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).sum_to(&Shape::new(&[4, 3]));
}
device_test!(
    #[should_panic(expected = "sum_to: cannot reduce [2, 3] to [4, 3]")]
    sum_to_an_unrelated_shape_panics: cpu, sim
);
