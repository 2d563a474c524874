//! Composite gradient checks: whole computations whose gradients chain many rules.
//!
//! - A small CNN: conv2d -> batch-norm statistics composed from Var ops -> relu -> max_pool2d
//!   -> reshape -> linear -> cross_entropy, checked with respect to the input and every
//!   parameter.
//! - The MART and TRADES losses exactly as MART.md writes them, checked with respect to both
//!   the natural and the adversarial logits, and their values against plain f64 loops.
//!
//! Cases whose values sit within [`KINK_GAP`] of a kink (a relu input near 0, a near-tie in a
//! pooling window or among MART's wrong classes) are discarded, as finite differences there
//! would straddle the kink.

use autograd::loss::{cross_entropy, kl_div};
use autograd::{Reduction, Var};
use proptest::prelude::*;
use tensor::{Conv2dGeometry, IndexTensor, Pool2dGeometry, Tensor};
use tests::gradcheck::check_gradients;
use tests::strategies::{KINK_GAP, config, labels, magnitude, tensor_of, value};

/// Batch-norm's variance epsilon, as PyTorch.
const BN_EPS: f64 = 1e-5;

/// Training-mode batch norm of an NCHW Var: per-channel mean and biased variance over N, H and
/// W, `x_hat = (x - mean) / sqrt(var + eps)`, then `x_hat * gamma + beta` (`gamma`, `beta`: `[C]`).
fn batch_norm<'t>(x: &Var<'t, f64>, gamma: &Var<'t, f64>, beta: &Var<'t, f64>) -> Var<'t, f64> {
    let channel_mean =
        |t: &Var<'t, f64>| t.mean_axis(0, true).mean_axis(2, true).mean_axis(3, true);
    let centered = x.sub(&channel_mean(x));
    let variance = channel_mean(&centered.square());
    let x_hat = centered.div(&variance.add_scalar(BN_EPS).sqrt());
    let per_channel = [1, x.dims()[1], 1, 1];
    x_hat
        .mul(&gamma.reshape(per_channel))
        .add(&beta.reshape(per_channel))
}

/// The small CNN's cross-entropy on `labels`, and its relu input (for the kink margin). The
/// Vars are, in order: input `[N, C, H, W]`, conv weight `[O, C, 3, 3]`, conv bias `[O]`,
/// batch-norm gamma and beta `[O]`, linear weight `[K, O * (H/2) * (W/2)]` and bias `[K]`.
fn small_cnn<'t>(p: &[Var<'t, f64>], labels: &IndexTensor) -> (Var<'t, f64>, Var<'t, f64>) {
    let conv = p[0].conv2d(&p[1], Some(&p[2]), Conv2dGeometry::new(1, 1));
    let normed = batch_norm(&conv, &p[3], &p[4]);
    let pooled = normed.relu().max_pool2d(Pool2dGeometry::new(2, 2, 0));
    let features = pooled.reshape([pooled.dims()[0], pooled.dims()[1..].iter().product()]);
    let logits = features.matmul_t(false, &p[5], true).add(&p[6]);
    (normed, cross_entropy(&logits, labels))
}

/// Inputs of [`small_cnn`] (see there for the order) and labels: N 2-3, C 1-2, O 2-3,
/// H and W 2-5, K 2-4 classes.
fn cnn_case() -> impl Strategy<Value = (Vec<Tensor<f64>>, IndexTensor)> {
    let sizes = (
        2..=3usize,
        1..=2usize,
        2..=3usize,
        2..=5usize,
        2..=5usize,
        2..=4usize,
    );
    sizes.prop_flat_map(|(n, c, o, h, w, k)| {
        let features = o * (h / 2) * (w / 2);
        let params = (
            tensor_of(vec![n, c, h, w], value()),
            tensor_of(vec![o, c, 3, 3], value()),
            tensor_of(vec![o], value()),
            tensor_of(vec![o], magnitude(0.5, 1.5)),
            tensor_of(vec![o], value()),
            tensor_of(vec![k, features], value()),
            tensor_of(vec![k], value()),
        )
            .prop_map(|(x, w, b, gamma, beta, lw, lb)| vec![x, w, b, gamma, beta, lw, lb]);
        (params, labels(n, k))
    })
}

/// How far the relu input of [`small_cnn`] is from the kinks: from 0, and, in each 2x2
/// pooling window whose maximum is positive, between its two largest relu outputs.
fn cnn_kink_margin(pre_relu: &Tensor<f64>) -> f64 {
    let &[n, c, h, w] = pre_relu.dims() else {
        unreachable!("the relu input is NCHW")
    };
    let data = pre_relu.data();
    let mut margin = data.iter().fold(f64::INFINITY, |m, v| m.min(v.abs()));
    for plane in 0..n * c {
        for (oy, ox) in (0..h / 2).flat_map(|oy| (0..w / 2).map(move |ox| (oy, ox))) {
            let at = |dy, dx| data[plane * h * w + (2 * oy + dy) * w + 2 * ox + dx];
            let mut window = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)].map(|v: f64| v.max(0.0));
            window.sort_by(|a, b| b.total_cmp(a));
            if window[0] > 0.0 {
                margin = margin.min(window[0] - window[1]);
            }
        }
    }
    margin
}

/// For each row of `probs` `[B, C]`, the most likely class other than its label (the first on
/// ties), computed on values: the label's column is pushed below every probability first.
fn most_likely_wrong(probs: &Tensor<f64>, labels: &IndexTensor) -> IndexTensor {
    let label_mask = Tensor::one_hot(labels, probs.dims()[1]).mul_scalar(2.0);
    probs.sub(&label_mask).argmax_axis(1)
}

/// MART's loss as MART.md writes it (the published code), from natural and adversarial logits
/// `[B, C]`; gradients flow through everything, the natural branch included.
fn mart_loss<'t>(
    logits_nat: &Var<'t, f64>,
    logits_adv: &Var<'t, f64>,
    labels: &IndexTensor,
    beta: f64,
) -> Var<'t, f64> {
    let batch = logits_nat.dims()[0] as f64;
    let p_adv = logits_adv.softmax(1);
    let y_wrong = most_likely_wrong(p_adv.value(), labels).unsqueeze(1);
    let boosted_ce = p_adv
        .gather(1, &y_wrong)
        .neg()
        .add_scalar(1.0001)
        .add_scalar(1e-12)
        .log()
        .neg()
        .mean_all();
    let loss_adv = cross_entropy(logits_adv, labels).add(&boosted_ce);

    let p_nat = logits_nat.softmax(1);
    let log_p_adv = p_adv.add_scalar(1e-12).log();
    let kl = kl_div(&log_p_adv, &p_nat, Reduction::None).sum_axis(1, false);
    let p_true = p_nat.gather(1, &labels.unsqueeze(1)).squeeze(1);
    let weight = p_true.neg().add_scalar(1.0000001);
    let loss_robust = kl.mul(&weight).sum_all().mul_scalar(1.0 / batch);
    loss_adv.add(&loss_robust.mul_scalar(beta))
}

/// TRADES' loss as MART.md writes it: `CE(nat, y) + beta * (1/B) * sum KL(p_nat || p_adv)`.
fn trades_loss<'t>(
    logits_nat: &Var<'t, f64>,
    logits_adv: &Var<'t, f64>,
    labels: &IndexTensor,
    beta: f64,
) -> Var<'t, f64> {
    let batch = logits_nat.dims()[0] as f64;
    let kl = kl_div(
        &logits_adv.log_softmax(1),
        &logits_nat.softmax(1),
        Reduction::Sum,
    );
    cross_entropy(logits_nat, labels).add(&kl.mul_scalar(beta / batch))
}

/// Softmax and log-softmax of one row, by hand.
fn softmax_row(z: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let log_sum = z.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
    let log_p: Vec<f64> = z.iter().map(|v| v - log_sum).collect();
    (log_p.iter().map(|l| l.exp()).collect(), log_p)
}

/// MART's loss in plain f64 loops, line by line from MART.md.
fn mart_loss_by_hand(nat: &Tensor<f64>, adv: &Tensor<f64>, labels: &[usize], beta: f64) -> f64 {
    let (batch, classes) = (nat.dims()[0], nat.dims()[1]);
    let (mut loss_adv, mut loss_robust) = (0.0, 0.0);
    for (i, &y) in labels.iter().enumerate() {
        let (p_nat, _) = softmax_row(&nat.data()[i * classes..(i + 1) * classes]);
        let (p_adv, log_p_adv) = softmax_row(&adv.data()[i * classes..(i + 1) * classes]);
        let mut y_wrong = usize::from(y == 0);
        for k in 0..classes {
            if k != y && p_adv[k] > p_adv[y_wrong] {
                y_wrong = k;
            }
        }
        loss_adv += -log_p_adv[y] - (1.0001 - p_adv[y_wrong] + 1e-12).ln();
        let kl: f64 = (0..classes)
            .map(|k| p_nat[k] * (p_nat[k].ln() - (p_adv[k] + 1e-12).ln()))
            .sum();
        loss_robust += kl * (1.0000001 - p_nat[y]);
    }
    (loss_adv + beta * loss_robust) / batch as f64
}

/// TRADES' loss in plain f64 loops.
fn trades_loss_by_hand(nat: &Tensor<f64>, adv: &Tensor<f64>, labels: &[usize], beta: f64) -> f64 {
    let (batch, classes) = (nat.dims()[0], nat.dims()[1]);
    let mut total = 0.0;
    for (i, &y) in labels.iter().enumerate() {
        let (p_nat, log_p_nat) = softmax_row(&nat.data()[i * classes..(i + 1) * classes]);
        let (_, log_p_adv) = softmax_row(&adv.data()[i * classes..(i + 1) * classes]);
        let kl: f64 = (0..classes)
            .map(|k| p_nat[k] * (log_p_nat[k] - log_p_adv[k]))
            .sum();
        total += -log_p_nat[y] + beta * kl;
    }
    total / batch as f64
}

/// Asserts that a loss value matches its hand-computed reference to 1e-12, relative.
fn assert_same_value(got: f64, expected: f64) -> Result<(), TestCaseError> {
    let close = (got - expected).abs() <= 1e-12 * (1.0 + expected.abs());
    prop_assert!(close, "loss {} but by hand {}", got, expected);
    Ok(())
}

/// The gap in `p_adv` between the most likely and the second most likely wrong class of each
/// row (infinite with a single wrong class): MART's `argmax` must not flip under the nudges.
fn wrong_class_margin(logits_adv: &Tensor<f64>, labels: &IndexTensor) -> f64 {
    let classes = logits_adv.dims()[1];
    let p_adv = logits_adv.softmax(1);
    let mut margin = f64::INFINITY;
    for (row, &y) in p_adv.data().chunks(classes).zip(labels.data()) {
        let mut wrong: Vec<f64> = (0..classes)
            .filter(|&k| k != y as usize)
            .map(|k| row[k])
            .collect();
        wrong.sort_by(|a, b| b.total_cmp(a));
        if let [first, second, ..] = wrong[..] {
            margin = margin.min(first - second);
        }
    }
    margin
}

/// Natural and adversarial logits `[B, C]` (B 1-4, C 2-5), labels and a beta in `[0.5, 6)`.
fn robust_loss_case() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, IndexTensor, f64)> {
    (1..=4usize, 2..=5usize).prop_flat_map(|(batch, classes)| {
        (
            tensor_of(vec![batch, classes], -3.0..3.0),
            tensor_of(vec![batch, classes], -3.0..3.0),
            labels(batch, classes),
            0.5..6.0,
        )
    })
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn small_cnn_with_batch_norm((params, labels) in cnn_case()) {
        let constants: Vec<Var<'_, f64>> = params.iter().cloned().map(Var::constant).collect();
        let (pre_relu, _) = small_cnn(&constants, &labels);
        prop_assume!(cnn_kink_margin(pre_relu.value()) > KINK_GAP);
        check_gradients(&params, |v| small_cnn(v, &labels).1)?;
    }

    #[test]
    fn mart_loss_gradients((nat, adv, labels, beta) in robust_loss_case()) {
        prop_assume!(wrong_class_margin(&adv, &labels) > KINK_GAP);
        check_gradients(&[nat, adv], |v| mart_loss(&v[0], &v[1], &labels, beta))?;
    }

    #[test]
    fn mart_loss_value((nat, adv, labels, beta) in robust_loss_case()) {
        let (nat_c, adv_c) = (Var::constant(nat.clone()), Var::constant(adv.clone()));
        let got = mart_loss(&nat_c, &adv_c, &labels, beta).value().item();
        assert_same_value(got, mart_loss_by_hand(&nat, &adv, &labels.to_usizes(), beta))?;
    }

    #[test]
    fn trades_loss_gradients((nat, adv, labels, beta) in robust_loss_case()) {
        check_gradients(&[nat, adv], |v| trades_loss(&v[0], &v[1], &labels, beta))?;
    }

    #[test]
    fn trades_loss_value((nat, adv, labels, beta) in robust_loss_case()) {
        let (nat_c, adv_c) = (Var::constant(nat.clone()), Var::constant(adv.clone()));
        let got = trades_loss(&nat_c, &adv_c, &labels, beta).value().item();
        assert_same_value(got, trades_loss_by_hand(&nat, &adv, &labels.to_usizes(), beta))?;
    }
}
