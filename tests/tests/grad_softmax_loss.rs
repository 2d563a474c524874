//! Gradient checks of softmax, log_softmax and logsumexp along any axis, and of the losses:
//! cross_entropy, nll_loss, kl_div (every reduction, gradient into both the input and the
//! target, zero targets included) and mse_loss.

use autograd::Reduction;
use autograd::loss::{cross_entropy, kl_div, mse_loss, nll_loss};
use proptest::prelude::*;
use tensor::{IndexTensor, Tensor};
use tests::gradcheck::{check_gradients, check_gradients_skipping, gradients};
use tests::strategies::{
    broadcast_pair, config, labels, planted, tensor, tensor_of, value, with_axis,
};

/// Logits `[B, C]` with values in `[-3, 3)` and labels `[B]`, B in 1..=4, C in 1..=5.
fn classification() -> impl Strategy<Value = (Tensor<f64>, IndexTensor)> {
    (1..=4usize, 1..=5usize).prop_flat_map(|(batch, classes)| {
        (
            tensor_of(vec![batch, classes], -3.0..3.0),
            labels(batch, classes),
        )
    })
}

/// Any of the four reductions.
fn reduction() -> impl Strategy<Value = Reduction> {
    prop_oneof![
        Just(Reduction::None),
        Just(Reduction::Sum),
        Just(Reduction::Mean),
        Just(Reduction::BatchMean),
    ]
}

/// A tensor of rank 1 to 3 with values in `[-3, 3)`, and one of its axes.
fn logits_with_axis() -> impl Strategy<Value = (Tensor<f64>, usize)> {
    with_axis(tensor(1..=3, 4, -3.0..3.0))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn softmax((x, axis) in logits_with_axis()) {
        check_gradients(&[x], |v| v[0].softmax(axis))?;
    }

    #[test]
    fn log_softmax((x, axis) in logits_with_axis()) {
        check_gradients(&[x], |v| v[0].log_softmax(axis))?;
    }

    #[test]
    fn logsumexp((x, axis) in logits_with_axis(), keepdim in any::<bool>()) {
        check_gradients(&[x], |v| v[0].logsumexp(axis, keepdim))?;
    }

    #[test]
    fn cross_entropy_loss((logits, labels) in classification()) {
        check_gradients(&[logits], |v| cross_entropy(&v[0], &labels))?;
    }

    /// Any values serve as log-probabilities: the loss is linear in them.
    #[test]
    fn nll_loss_of_any_values((log_probs, labels) in classification()) {
        check_gradients(&[log_probs], |v| nll_loss(&v[0], &labels))?;
    }

    /// Both arguments get gradients; they broadcast together.
    #[test]
    fn kl_div_into_input_and_target(
        (input, target) in broadcast_pair(value(), 0.05..1.0),
        reduction in reduction(),
    ) {
        check_gradients(&[input, target], |v| kl_div(&v[0], &v[1], reduction))?;
    }

    /// Where the target is 0 the pointwise loss is 0 (0 log 0 = 0) and so is its gradient into
    /// the target (the rule's choice at the edge of the domain); finite differences skip those.
    #[test]
    fn kl_div_at_zero_targets(
        (input, target) in broadcast_pair(value(), planted(0.05..1.0, 0.0)),
        reduction in reduction(),
    ) {
        let inputs = [input, target.clone()];
        let zero_target = |input, at: usize| input == 1 && target.data()[at] == 0.0;
        check_gradients_skipping(&inputs, zero_target, |v| kl_div(&v[0], &v[1], reduction))?;
        let g = gradients(&inputs, |v| kl_div(&v[0], &v[1], reduction));
        for (at, (&t, &dt)) in target.data().iter().zip(g.grads[1].data()).enumerate() {
            prop_assert!(t != 0.0 || dt == 0.0, "target element {} is 0, its gradient {}", at, dt);
        }
    }

    #[test]
    fn mse_loss_broadcast((a, b) in broadcast_pair(value(), value())) {
        check_gradients(&[a, b], |v| mse_loss(&v[0], &v[1]))?;
    }
}
