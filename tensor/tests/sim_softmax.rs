//! The softmax GPU kernels against the CPU ops, on every test device (the simulator, plus
//! cuda:0 when present): softmax, log_softmax and logsumexp (with and without keepdim) along
//! every axis of rank 1-4 tensors, lines longer than a block, large offsets (the max
//! subtraction), and lines holding -inf, inf and NaN.

mod gpu_common;

use gpu_common::{assert_close, devices, down, up};
use tensor::cuda::{Gpu, GpuTensor};
use tensor::{Rng, Tensor};

/// Compares the three ops along every axis of `x`.
fn check(gpu: &Gpu, x: &Tensor<f32>) {
    let dx = up(gpu, x);
    for axis in 0..x.rank() {
        let what = |op: &str| format!("{} {op} axis {axis} of {:?}", gpu.name(), x.dims());
        let got = down(&dx.softmax(axis).unwrap());
        assert_close(&what("softmax"), &got, &x.softmax(axis), 1e-7, 1e-5);
        let got = down(&dx.log_softmax(axis).unwrap());
        assert_close(&what("log_softmax"), &got, &x.log_softmax(axis), 1e-5, 1e-5);
        for keepdim in [false, true] {
            let got = down(&dx.logsumexp(axis, keepdim).unwrap());
            let want = x.logsumexp(axis, keepdim);
            assert_close(&what("logsumexp"), &got, &want, 1e-5, 1e-5);
        }
    }
}

#[test]
fn sim_softmax_matches_cpu_on_every_axis() {
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
    for gpu in devices() {
        for dims in shapes {
            check(&gpu, &rng.uniform(dims, -10.0, 10.0));
        }
        // Large logits: only the max subtraction keeps e^x finite.
        check(&gpu, &rng.uniform(&[4, 20][..], 1000.0, 1010.0));
        // Tiny probabilities: log_softmax must not go through log(softmax).
        check(&gpu, &rng.uniform(&[3, 5][..], -80.0, 80.0));
    }
}

#[test]
fn sim_softmax_handles_infinities_and_nan_like_cpu() {
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let x = Tensor::from_vec(
        vec![
            0.0, -inf, 1.0, -inf, // -inf elements: probability 0
            -inf, -inf, -inf, -inf, // all -inf: softmax NaN, logsumexp -inf
            1.0, inf, 2.0, 0.0, // +inf: NaN, as on the CPU
            1.0, nan, 2.0, 0.0, // NaN spreads over its line
        ],
        [4, 4],
    );
    for gpu in devices() {
        check(&gpu, &x);
    }
}

#[test]
#[should_panic(expected = "softmax: axis 2 out of range for shape [2, 3]")]
fn sim_softmax_panics_on_a_bad_axis() {
    let gpu = Gpu::sim();
    let _ = GpuTensor::upload(&gpu, &Tensor::<f32>::zeros([2, 3]))
        .unwrap()
        .softmax(2);
}
