//! `conv_bn`: batch normalisation folded into the convolution before it outside training,
//! against the two layers run one after the other and the batch-norm formula computed here.

mod common;

use autograd::{Tape, Var};
use common::assert_close;
use nn::layers::conv_bn;
use nn::module::EntryMut;
use nn::{BatchNorm2d, Conv2d, Forward, Module};
use tensor::{Conv2dGeometry, Element, Rng, Tensor};

/// A 3x3 convolution from `c` to `o` channels (with or without bias) and a batch norm over its
/// output with random scale, shift and running statistics.
fn layers<T: Element>(
    c: usize,
    o: usize,
    bias: bool,
    rng: &mut Rng,
) -> (Conv2d<T>, BatchNorm2d<T>) {
    let conv = Conv2d::new(c, o, 3, Conv2dGeometry::new(1, 1), bias, rng);
    let mut bn = BatchNorm2d::new(o);
    *bn.weight.value_mut() = rng.uniform([o], 0.5, 1.5);
    *bn.bias.value_mut() = rng.normal([o], 0.0, 1.0);
    let (mean, var) = (rng.normal([o], 0.0, 0.5), rng.uniform([o], 0.2, 2.0));
    bn.visit_mut("", &mut |name, entry| match (name, entry) {
        ("running_mean", EntryMut::Buffer(b)) => *b = mean.clone(),
        ("running_var", EntryMut::Buffer(b)) => *b = var.clone(),
        _ => {}
    });
    (conv, bn)
}

/// `relu?((conv(x) - running_mean) / sqrt(running_var + 1e-5) * weight + bias)`, the batch norm
/// computed here per element in f64.
fn reference<T: Element>(
    conv: &Conv2d<T>,
    bn: &BatchNorm2d<T>,
    x: &Tensor<T>,
    relu: bool,
) -> Vec<f64> {
    let y = conv
        .forward(&Var::constant(x.clone()), &mut Forward::eval())
        .into_value();
    let f = |t: &Tensor<T>| {
        t.to_vec()
            .iter()
            .map(|v| v.to_f64().unwrap())
            .collect::<Vec<_>>()
    };
    let (w, b, mean, var) = (
        f(bn.weight.value()),
        f(bn.bias.value()),
        f(&bn.running_mean()),
        f(&bn.running_var()),
    );
    let (c, plane) = (y.dims()[1], y.dims()[2] * y.dims()[3]);
    f(&y)
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = i / plane % c;
            let out = (v - mean[ch]) / (var[ch] + 1e-5).sqrt() * w[ch] + b[ch];
            if relu { out.max(0.0) } else { out }
        })
        .collect()
}

/// `conv_bn` in Eval mode, as f64.
fn folded<T: Element>(
    conv: &Conv2d<T>,
    bn: &BatchNorm2d<T>,
    x: &Tensor<T>,
    relu: bool,
) -> Vec<f64> {
    conv_bn(
        conv,
        bn,
        &Var::constant(x.clone()),
        relu,
        &mut Forward::eval(),
    )
    .into_value()
    .to_vec()
    .iter()
    .map(|v| v.to_f64().unwrap())
    .collect()
}

#[test]
fn folded_layers_match_the_batch_norm_formula_in_f64_and_f32() {
    let mut rng = Rng::new(3);
    for bias in [false, true] {
        for relu in [false, true] {
            let (conv, bn) = layers::<f64>(4, 6, bias, &mut rng);
            let x: Tensor<f64> = rng.normal([2, 4, 7, 7], 0.0, 1.0);
            let (got, want) = (
                folded(&conv, &bn, &x, relu),
                reference(&conv, &bn, &x, relu),
            );
            assert_close(&got, &want, 1e-12, &format!("f64 bias {bias} relu {relu}"));
            // f32 through the fast routes (Winograd, for 3x3 stride 1 on 16 channels).
            let (conv, bn) = layers::<f32>(16, 16, bias, &mut rng);
            let x: Tensor<f32> = rng.normal([2, 16, 10, 10], 0.0, 1.0);
            let (got, want) = (
                folded(&conv, &bn, &x, relu),
                reference(&conv, &bn, &x, relu),
            );
            assert_close(&got, &want, 1e-4, &format!("f32 bias {bias} relu {relu}"));
        }
    }
}

#[test]
fn changed_statistics_or_weights_are_folded_again() {
    let mut rng = Rng::new(4);
    let (mut conv, mut bn) = layers::<f64>(4, 6, true, &mut rng);
    let x: Tensor<f64> = rng.normal([2, 4, 6, 6], 0.0, 1.0);
    let before = folded(&conv, &bn, &x, true);
    assert_close(
        &before,
        &reference(&conv, &bn, &x, true),
        1e-12,
        "first fold",
    );
    // A batch in Train mode moves the running statistics.
    let tape = Tape::new();
    conv_bn(
        &conv,
        &bn,
        &Var::constant(x.clone()),
        true,
        &mut Forward::train(&tape, Rng::new(0)),
    );
    let after_batch = folded(&conv, &bn, &x, true);
    assert_close(
        &after_batch,
        &reference(&conv, &bn, &x, true),
        1e-12,
        "after a batch",
    );
    assert!(after_batch != before, "the running statistics moved");
    // Weights changed in place (as a checkpoint load or an optimiser does).
    conv.weight.value_mut().data_mut()[0] += 1.0;
    bn.bias.value_mut().data_mut()[2] -= 0.5;
    let after_edit = folded(&conv, &bn, &x, true);
    assert_close(
        &after_edit,
        &reference(&conv, &bn, &x, true),
        1e-12,
        "after editing weights",
    );
    assert!(after_edit != after_batch, "the weights changed");
}

#[test]
fn the_input_gradient_through_the_fold_matches_the_unfolded_layers() {
    let mut rng = Rng::new(5);
    let (conv, bn) = layers::<f64>(4, 6, false, &mut rng);
    let x: Tensor<f64> = rng.normal([2, 4, 6, 6], 0.0, 1.0);
    let upstream: Tensor<f64> = rng.normal([2, 6, 6, 6], 0.0, 1.0);
    let grad = |fold: bool| {
        let tape = Tape::new();
        let xv = tape.var(x.clone());
        let mut fwd = Forward::attack();
        let y = if fold {
            conv_bn(&conv, &bn, &xv, true, &mut fwd)
        } else {
            bn.forward(&conv.forward(&xv, &mut fwd), &mut fwd).relu()
        };
        let loss = y.mul(&Var::constant(upstream.clone())).sum_all();
        tape.backward(&loss, &[&xv]).remove(0).to_vec()
    };
    assert_close(&grad(true), &grad(false), 1e-12, "input gradient");
}
