//! The per-channel ops of batch normalisation (`channel_affine`, `channel_grad_sums`,
//! `channel_combine`) against loops over every element in f64, which find each element's
//! channel from its flat index.
//!
//! On the CPU in f64: NC and NCHW tensors of random sizes (proptest), and one large enough that
//! rows are split across threads. On every device (`device_test!`: cpu, sim, cuda), in f32:
//! small NCHW and NC tensors, planes shorter and longer than the CPU's 16 partial sums, values
//! with a large offset (checked to their scale), an empty batch, and the panics of mismatched shapes.

mod common;

use common::device::{assert_f32, back, device_test, on};
use common::{F64_TOL, assert_tensor, config, dims, tensor_of, value, wave};
use proptest::prelude::*;
use tensor::{Device, Rng, Tensor};

/// The channel of each flat index of an NC or NCHW tensor of dimensions `d`.
fn channels(d: &[usize]) -> impl Iterator<Item = usize> + '_ {
    let plane: usize = d[2..].iter().product();
    (0..d.iter().product::<usize>()).map(move |i| (i / plane.max(1)) % d[1])
}

/// `x * scale[c] + shift[c]`.
fn affine_ref(x: &Tensor<f64>, scale: &[f64], shift: &[f64]) -> Vec<f64> {
    channels(x.dims())
        .zip(x.data())
        .map(|(c, &v)| v * scale[c] + shift[c])
        .collect()
}

/// `(Σ g, Σ g (x - mean[c]))` per channel.
fn grad_sums_ref(g: &Tensor<f64>, x: &Tensor<f64>, mean: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let c = x.dims()[1];
    let (mut sum, mut dot) = (vec![0.0; c], vec![0.0; c]);
    for ((ch, &g), &x) in channels(x.dims()).zip(g.data()).zip(x.data()) {
        sum[ch] += g;
        dot[ch] += g * (x - mean[ch]);
    }
    (sum, dot)
}

/// `a[c] g + b[c] (x - center[c]) + k[c]`.
fn combine_ref(g: &Tensor<f64>, x: &Tensor<f64>, coef: &[Vec<f64>; 4]) -> Vec<f64> {
    let [a, center, b, k] = coef;
    channels(x.dims())
        .zip(g.data())
        .zip(x.data())
        .map(|((c, &g), &x)| a[c] * g + b[c] * (x - center[c]) + k[c])
        .collect()
}

/// `c` values from `rng` in `[-2, 2)`, as f64 (exact in f32 too).
fn per_channel(rng: &mut Rng, c: usize) -> Vec<f64> {
    rng.uniform::<f32>([c], -2.0, 2.0).to_f64_vec()
}

/// Checks the three ops on the f64 CPU tensors `g` and `x` against the loops.
fn check_f64(g: &Tensor<f64>, x: &Tensor<f64>, seed: u64) {
    let (d, c) = (x.dims(), x.dims()[1]);
    let mut rng = Rng::new(seed);
    let coef: [Vec<f64>; 4] = std::array::from_fn(|_| per_channel(&mut rng, c));
    let t = |v: &[f64]| Tensor::from_vec(v.to_vec(), [c]);
    let y = x.channel_affine(&t(&coef[0]), &t(&coef[1]));
    assert_tensor(&y, d, &affine_ref(x, &coef[0], &coef[1]), F64_TOL);
    let (sum, dot) = g.channel_grad_sums(x, &t(&coef[1]));
    let (want_sum, want_dot) = grad_sums_ref(g, x, &coef[1]);
    assert_tensor(&sum, &[c], &want_sum, F64_TOL);
    assert_tensor(&dot, &[c], &want_dot, F64_TOL);
    let [a, center, b, k] = &coef;
    let dx = g.channel_combine(&t(a), x, &t(center), &t(b), &t(k));
    assert_tensor(&dx, d, &combine_ref(g, x, &coef), F64_TOL);
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn nc_and_nchw_tensors(
        (g, x) in prop_oneof![dims(2..=2, 6), dims(4..=4, 5)]
            .prop_flat_map(|d| (tensor_of(d.clone(), value()), tensor_of(d, value()))),
        seed in 0u64..1000,
    ) {
        check_f64(&g, &x, seed);
    }
}

/// Over 2 * 2^15 elements, so rows are split across threads.
#[test]
fn large_tensor_matches_the_loops() {
    let d = [16, 8, 30, 30];
    let n = d.iter().product();
    let x = Tensor::from_vec(wave(n), d);
    let g = Tensor::from_vec(wave(n).iter().map(|v| v * v - 0.3).collect(), d);
    check_f64(&g, &x, 7);
}

/// Checks the three ops on `device` in f32 against the loops on the same (f32) values.
fn check_on(device: Device, g: &Tensor<f32>, x: &Tensor<f32>) {
    let (d, c) = (x.dims().to_vec(), x.dims()[1]);
    let what = format!("{d:?} on {device}");
    let mut rng = Rng::new(d.iter().sum::<usize>() as u64);
    let coef: [Vec<f64>; 4] = std::array::from_fn(|_| per_channel(&mut rng, c));
    let t = |v: &[f64]| {
        on(
            device,
            &Tensor::<f64>::from_vec(v.to_vec(), [c]).cast::<f32>(),
        )
    };
    let (g64, x64) = (g.cast::<f64>(), x.cast::<f64>());
    let (gd, xd) = (on(device, g), on(device, x));
    // The loops' f64 values, within f32 rounding of the largest term.
    let scale = x64.data().iter().fold(1f64, |m, &v| m.max(v.abs()));
    let y = back(device, &xd.channel_affine(&t(&coef[0]), &t(&coef[1])));
    let want = affine_ref(&x64, &coef[0], &coef[1]);
    assert_f32(&format!("affine {what}"), &y, &d, &want, 1e-6 * scale, 0.0);
    let (sum, dot) = gd.channel_grad_sums(&xd, &t(&coef[1]));
    let (want_sum, want_dot) = grad_sums_ref(&g64, &x64, &coef[1]);
    let count = (x.numel() / c.max(1)) as f64;
    let (sum, dot) = (back(device, &sum), back(device, &dot));
    assert_f32(
        &format!("sum {what}"),
        &sum,
        &[c],
        &want_sum,
        1e-6 * count,
        0.0,
    );
    let tol = 1e-6 * count * (scale + 2.0);
    assert_f32(&format!("dot {what}"), &dot, &[c], &want_dot, tol, 0.0);
    let [a, center, b, k] = &coef;
    let dx = back(
        device,
        &gd.channel_combine(&t(a), &xd, &t(center), &t(b), &t(k)),
    );
    let want = combine_ref(&g64, &x64, &coef);
    assert_f32(
        &format!("combine {what}"),
        &dx,
        &d,
        &want,
        1e-6 * (scale + 2.0),
        0.0,
    );
}

fn small_nchw_and_nc(device: Device) {
    let mut rng = Rng::new(5);
    for d in [
        vec![2, 3, 1, 5],
        vec![3, 2, 5, 7],
        vec![1, 4, 4, 4],
        vec![2, 1, 9, 3],
        vec![17, 3],
    ] {
        let x = rng.normal(d.clone(), 0.5, 2.0);
        check_on(device, &rng.normal(d, 0.0, 1.0), &x);
    }
    // A large offset: large terms, tolerances to their scale.
    let x = rng.normal([3, 2, 4, 4], 1000.0, 0.01);
    check_on(device, &rng.normal([3, 2, 4, 4], 0.0, 1.0), &x);
}
device_test!(small_nchw_and_nc);

fn an_empty_batch_gives_empty_outputs_and_zero_sums(device: Device) {
    let x = Tensor::<f32>::zeros([0, 3, 2, 2]);
    check_on(device, &x, &x);
}
device_test!(an_empty_batch_gives_empty_outputs_and_zero_sums);

fn affine_with_a_wrong_scale_panics(device: Device) {
    let x = on(device, &Tensor::<f32>::zeros([2, 3, 2, 2]));
    let _ = x.channel_affine(
        &on(device, &Tensor::zeros([2])),
        &on(device, &Tensor::zeros([3])),
    );
}
device_test!(
    #[should_panic(expected = "channel_affine: scale has shape [2], expected [3] for input [2, 3, 2, 2]")]
    affine_with_a_wrong_scale_panics: cpu, sim
);

fn grad_sums_of_another_input_shape_panics(device: Device) {
    let g = on(device, &Tensor::<f32>::zeros([2, 3, 2, 2]));
    let x = on(device, &Tensor::<f32>::zeros([2, 3, 2, 1]));
    let _ = g.channel_grad_sums(&x, &on(device, &Tensor::zeros([3])));
}
device_test!(
    #[should_panic(expected = "channel_grad_sums: x has shape [2, 3, 2, 1], expected the input's [2, 3, 2, 2]")]
    grad_sums_of_another_input_shape_panics: cpu, sim
);

fn combine_of_rank_three_panics(device: Device) {
    let g = on(device, &Tensor::<f32>::zeros([2, 3, 4]));
    let c = on(device, &Tensor::<f32>::zeros([3]));
    let _ = g.channel_combine(&c, &g, &c, &c, &c);
}
device_test!(
    #[should_panic(expected = "channel_combine: expected NC or NCHW, got shape [2, 3, 4]")]
    combine_of_rank_three_panics: cpu, sim
);
