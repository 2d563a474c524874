//! The fused batch-norm ops of `autograd::ops::batch_norm`: `batch_norm_train` with respect to
//! the input, the weight and the bias, and `channel_affine` with respect to the input, the
//! scale and the shift, against central differences; and `batch_norm_train`'s output, batch
//! statistics and gradients against batch norm composed from Var ops (the per-channel mean and
//! biased variance by `mean_axis`, then `(x - mean) / sqrt(var + eps) * weight + bias`).

use autograd::Var;
use proptest::prelude::*;
use tensor::Tensor;
use tests::gradcheck::{check_gradients, gradients};
use tests::strategies::{config, tensor_of};

/// Batch-norm's variance epsilon, as PyTorch.
const BN_EPS: f64 = 1e-5;

/// NCHW dimensions (N 1-3, C 1-3, H and W 1-4) with at least two values per channel, and the
/// `[C]` dimensions of the per-channel operands.
fn layout() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (1..=3usize, 1..=3usize, 1..=4usize, 1..=4usize)
        .prop_filter("two values per channel", |(n, _, h, w)| n * h * w > 1)
        .prop_map(|(n, c, h, w)| (vec![n, c, h, w], vec![c]))
}

/// An input, a weight and a bias for a batch norm of [`layout`]. The input's values are spread
/// out (no channel is nearly constant), the weight is away from 0.
fn case() -> impl Strategy<Value = [Tensor<f64>; 3]> {
    layout().prop_flat_map(|(x, c)| {
        (
            tensor_of(x, -3.0..3.0),
            tensor_of(c.clone(), prop_oneof![-2.0..-0.5, 0.5..2.0]),
            tensor_of(c, -1.0..1.0),
        )
            .prop_map(|(x, w, b)| [x, w, b])
    })
}

/// Batch norm in training mode composed from Var ops, with its batch mean and biased variance.
fn composite<'t>(
    x: &Var<'t, f64>,
    weight: &Var<'t, f64>,
    bias: &Var<'t, f64>,
) -> (Var<'t, f64>, Var<'t, f64>, Var<'t, f64>) {
    let channel_mean =
        |t: &Var<'t, f64>| t.mean_axis(0, true).mean_axis(2, true).mean_axis(3, true);
    let mean = channel_mean(x);
    let centered = x.sub(&mean);
    let var = channel_mean(&centered.square());
    let per_channel = [1, x.dims()[1], 1, 1];
    let y = centered
        .div(&var.add_scalar(BN_EPS).sqrt())
        .mul(&weight.reshape(per_channel))
        .add(&bias.reshape(per_channel));
    (y, mean, var)
}

/// Asserts that `got` and `want` agree to `tol` relative to `want`'s largest magnitude.
fn assert_agree(what: &str, got: &Tensor<f64>, want: &Tensor<f64>, tol: f64) {
    assert_eq!(got.numel(), want.numel(), "{what}: sizes differ");
    let scale = want.data().iter().fold(1f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.data().iter().zip(want.data()).enumerate() {
        assert!(
            (a - b).abs() <= tol * scale,
            "{what}: element {i}: {a} vs {b}"
        );
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn batch_norm_train_gradients(inputs in case()) {
        check_gradients(&inputs, |v| v[0].batch_norm_train(&v[1], &v[2], BN_EPS).0)?;
    }

    #[test]
    fn channel_affine_gradients(inputs in case()) {
        check_gradients(&inputs, |v| v[0].channel_affine(&v[1], &v[2]))?;
    }

    /// The fused op's output, statistics and gradients are the composite's, to rounding.
    #[test]
    fn batch_norm_train_is_the_composite(inputs in case()) {
        let tape = autograd::Tape::new();
        let [x, w, b] = inputs.clone().map(|t| tape.var(t));
        let (y, mean, var) = x.batch_norm_train(&w, &b, BN_EPS);
        let (want_y, want_mean, want_var) = composite(&x, &w, &b);
        assert_agree("output", y.value(), want_y.value(), 1e-12);
        assert_agree("mean", &mean, want_mean.value(), 1e-12);
        assert_agree("variance", &var, want_var.value(), 1e-12);
        let fused = gradients(&inputs, |v| v[0].batch_norm_train(&v[1], &v[2], BN_EPS).0);
        let pair = gradients(&inputs, |v| composite(&v[0], &v[1], &v[2]).0);
        for (i, (f, p)) in fused.grads.iter().zip(&pair.grads).enumerate() {
            assert_agree(&format!("gradient of input {i}"), f, p, 1e-9);
        }
    }
}

/// Each gradient asked for alone (the rule then skips the others' work) equals the one taken
/// with all three.
#[test]
fn each_gradient_alone_matches_all_together() {
    let x = Tensor::from_vec(
        (0..24).map(|i| f64::from(i * 7 % 11) - 4.5).collect(),
        [2, 3, 2, 2],
    );
    let (w, b) = (
        Tensor::from_vec(vec![1.5, -0.5, 2.0], [3]),
        Tensor::from_vec(vec![0.1, 0.2, -0.3], [3]),
    );
    let tape = autograd::Tape::new();
    let [xv, wv, bv] = [&x, &w, &b].map(|t| tape.var(t.clone()));
    let loss = xv
        .batch_norm_train(&wv, &bv, BN_EPS)
        .0
        .square()
        .mul(&xv)
        .sum_all();
    let all = tape.backward(&loss, &[&xv, &wv, &bv]);
    for (i, v) in [&xv, &wv, &bv].into_iter().enumerate() {
        let alone = tape.backward(&loss, &[v]);
        assert_agree(&format!("input {i}"), &alone[0], &all[i], 0.0);
    }
}
