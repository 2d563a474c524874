//! The reduction GPU kernels against the CPU ops, on every test device (the simulator, plus
//! cuda:0 when present): sum, mean, max and min along every axis of rank 1-4 tensors (with and
//! without keepdim) and over all elements, lines longer than a block and lines long enough to be
//! split across blocks, NaN and empty axes; argmax and top-2 with ties and NaN where the CPU
//! defines the answer; `sum_to`; and the panics of the CPU ops.

mod gpu_common;

use gpu_common::{assert_close, devices, down, up};
use tensor::cuda::{Gpu, GpuError, GpuTensor};
use tensor::{Rng, Shape, Tensor};

/// Shapes of rank 1 to 4, with sizes around the 256-thread block.
const SHAPES: [&[usize]; 9] = [
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

/// A fold on both backends.
type FoldCase = (
    &'static str,
    fn(&Tensor<f32>, usize, bool) -> Tensor<f32>,
    fn(&GpuTensor<f32>, usize, bool) -> Result<GpuTensor<f32>, GpuError>,
);

/// Every fold along an axis.
const FOLDS: [FoldCase; 4] = [
    ("sum_axis", Tensor::sum_axis, GpuTensor::sum_axis),
    ("mean_axis", Tensor::mean_axis, GpuTensor::mean_axis),
    ("max_axis", Tensor::max_axis, GpuTensor::max_axis),
    ("min_axis", Tensor::min_axis, GpuTensor::min_axis),
];

/// Every fold over all elements.
type AllCase = (
    &'static str,
    fn(&Tensor<f32>) -> Tensor<f32>,
    fn(&GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError>,
);

/// Every fold over all elements.
const ALL: [AllCase; 4] = [
    ("sum_all", Tensor::sum_all, GpuTensor::sum_all),
    ("mean_all", Tensor::mean_all, GpuTensor::mean_all),
    ("max_all", Tensor::max_all, GpuTensor::max_all),
    ("min_all", Tensor::min_all, GpuTensor::min_all),
];

/// Sums differ from the CPU's by rounding order only: allow for it, relative to the line length.
fn tolerance(name: &str, len: usize) -> (f32, f32) {
    if name.starts_with("sum") || name.starts_with("mean") {
        (1e-6 * len as f32, 1e-5)
    } else {
        (0.0, 0.0)
    }
}

/// Checks every fold of `x`, along each axis (both keepdims) and over all elements.
fn check_folds(gpu: &Gpu, x: &Tensor<f32>) {
    let dx = up(gpu, x);
    for axis in 0..x.rank() {
        for keepdim in [false, true] {
            for (name, cpu, gpu_op) in FOLDS {
                let what = format!("{} {name} axis {axis} of {:?}", gpu.name(), x.dims());
                let (atol, rtol) = tolerance(name, x.dims()[axis]);
                let got = down(&gpu_op(&dx, axis, keepdim).unwrap());
                assert_close(&what, &got, &cpu(x, axis, keepdim), atol, rtol);
            }
        }
    }
    for (name, cpu, gpu_op) in ALL {
        let what = format!("{} {name} of {:?}", gpu.name(), x.dims());
        let (atol, rtol) = tolerance(name, x.numel());
        assert_close(&what, &down(&gpu_op(&dx).unwrap()), &cpu(x), atol, rtol);
    }
}

#[test]
fn sim_folds_match_cpu_on_every_axis() {
    let mut rng = Rng::new(21);
    for gpu in devices() {
        for dims in SHAPES {
            check_folds(&gpu, &rng.uniform(dims, -1.0, 1.0));
        }
    }
}

#[test]
fn sim_long_lines_are_split_across_blocks() {
    let mut rng = Rng::new(22);
    for gpu in devices() {
        // One line of 20000 (split in slices, then the slices' results folded), a column of 5000
        // over 3 interleaved lines, and two rows of 6000.
        for dims in [&[20000][..], &[5000, 3], &[2, 6000]] {
            check_folds(&gpu, &rng.uniform(dims, 0.0, 1.0));
        }
    }
}

#[test]
fn sim_folds_skip_nan_and_handle_empty_axes() {
    let nan = f32::NAN;
    let x = Tensor::from_vec(vec![nan, 1.0, -2.0, nan, nan, nan, 3.0, nan, 0.5], [3, 3]);
    for gpu in devices() {
        check_folds(&gpu, &x);
        check_folds(&gpu, &Tensor::zeros([3, 0]));
        check_folds(&gpu, &Tensor::zeros([0, 4]));
        check_folds(&gpu, &Tensor::zeros([0, 5000]));
    }
}

/// Tie-prone values: integers in [-3, 3].
fn tied(rng: &mut Rng, dims: &[usize]) -> Tensor<f32> {
    let v = rng
        .uniform::<f32>(dims, -3.0, 3.0)
        .map(|v| v.round())
        .to_vec();
    Tensor::from_vec(v, dims)
}

/// Checks argmax and top-2 along every axis of `x` (top-2 where the axis has two elements).
fn check_top(gpu: &Gpu, x: &Tensor<f32>) {
    let dx = up(gpu, x);
    for axis in 0..x.rank() {
        let what = format!(
            "{} axis {axis} of {:?}: {:?}",
            gpu.name(),
            x.dims(),
            x.to_vec()
        );
        if x.dims()[axis] == 0 {
            continue;
        }
        let got = down(&dx.argmax_axis(axis).unwrap());
        let want = x.argmax_axis(axis);
        assert_eq!(got.dims(), want.dims(), "argmax {what}");
        assert_eq!(got.to_vec(), want.to_vec(), "argmax {what}");
        if x.dims()[axis] > 1 {
            let (best, second) = dx.top2_axis(axis).unwrap();
            let (want_best, want_second) = x.top2_axis(axis);
            assert_eq!(down(&best).to_vec(), want_best.to_vec(), "top2 best {what}");
            assert_eq!(
                down(&second).to_vec(),
                want_second.to_vec(),
                "top2 second {what}"
            );
            assert_eq!(second.dims(), want_second.dims(), "top2 {what}");
        }
    }
}

#[test]
fn sim_argmax_and_top2_match_cpu_with_ties() {
    let mut rng = Rng::new(23);
    for gpu in devices() {
        for dims in [
            &[7, 10][..],
            &[10, 7],
            &[3, 300],
            &[2, 3, 4],
            &[1000],
            &[1, 1],
            &[257, 2],
        ] {
            check_top(&gpu, &tied(&mut rng, dims));
        }
    }
}

#[test]
fn sim_argmax_and_top2_follow_the_cpu_scan_on_nan() {
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    // Rows of 4 along axis 1 (and the same values read down axis 0 of the transpose below).
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
    let data: Vec<f32> = rows.iter().flatten().copied().collect();
    let x = Tensor::from_vec(data.clone(), [10, 4]);
    let xt = Tensor::from_vec(
        (0..40).map(|k| data[(k % 10) * 4 + k / 10]).collect(),
        [4, 10],
    );
    for gpu in devices() {
        check_top(&gpu, &x);
        check_top(&gpu, &xt);
    }
}

#[test]
fn sim_sum_to_matches_cpu() {
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
    for gpu in devices() {
        for (from, to) in cases {
            let x = rng.uniform(from, -1.0, 1.0);
            let target = Shape::new(to);
            let got = down(&up(&gpu, &x).sum_to(&target).unwrap());
            let what = format!("{} sum_to {from:?} -> {to:?}", gpu.name());
            assert_close(&what, &got, &x.sum_to(&target), 1e-4, 1e-5);
        }
    }
}

#[test]
#[should_panic(expected = "sum_to: cannot reduce [4, 3] to [2, 3]")]
fn sim_sum_to_panics_on_an_unreachable_target() {
    let gpu = Gpu::sim();
    let _ = up(&gpu, &Tensor::<f32>::zeros([4, 3])).sum_to(&Shape::new(&[2, 3]));
}

#[test]
#[should_panic(expected = "sum_axis: axis 2 out of range for shape [2, 3]")]
fn sim_sum_axis_panics_on_a_bad_axis() {
    let gpu = Gpu::sim();
    let _ = up(&gpu, &Tensor::<f32>::zeros([2, 3])).sum_axis(2, false);
}

#[test]
#[should_panic(expected = "argmax_axis: axis 1 of shape [2, 0] is empty")]
fn sim_argmax_panics_on_an_empty_axis() {
    let gpu = Gpu::sim();
    let _ = up(&gpu, &Tensor::<f32>::zeros([2, 0])).argmax_axis(1);
}

#[test]
#[should_panic(expected = "top2_axis: axis 0 of shape [1, 3] has fewer than two elements")]
fn sim_top2_panics_on_a_single_element_axis() {
    let gpu = Gpu::sim();
    let _ = up(&gpu, &Tensor::<f32>::zeros([1, 3])).top2_axis(0);
}
