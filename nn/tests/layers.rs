//! The layers against naive f64 loops and hand computations.

mod common;

use autograd::{Tape, Var};
use common::{assert_close, mean_std};
use nn::module::{Entry, EntryMut, state_dict_shapes};
use nn::{
    AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Forward, Linear, MaxPool2d, Module, ReLU,
    Sequential,
};
use tensor::{Conv2dGeometry, Element, Rng, Tensor};

/// Runs `module` on `x` in evaluation mode.
fn eval<T: Element>(module: &dyn Module<T>, x: &Tensor<T>) -> Tensor<T> {
    module
        .forward(&Var::constant(x.clone()), &mut Forward::eval())
        .into_value()
}

#[test]
fn linear_matches_a_naive_loop() {
    let mut rng = Rng::new(1);
    let layer = Linear::<f64>::new(5, 4, &mut rng);
    let x: Tensor<f64> = rng.normal([3, 5], 0.0, 1.0);
    let (w, b) = (layer.weight.value().data(), layer.bias.value().data());
    let mut want = vec![0.0; 3 * 4];
    for n in 0..3 {
        for o in 0..4 {
            want[n * 4 + o] = b[o]
                + (0..5)
                    .map(|i| x.data()[n * 5 + i] * w[o * 5 + i])
                    .sum::<f64>();
        }
    }
    let y = eval(&layer, &x);
    assert_eq!(y.dims(), [3, 4]);
    assert_close(y.data(), &want, 1e-12, "linear");
}

#[test]
fn conv2d_matches_a_naive_loop() {
    let mut rng = Rng::new(2);
    let (n, c, h, w, o, k, stride, pad) = (2, 3, 7, 6, 4, 3, 2, 1);
    let layer = Conv2d::<f64>::new(c, o, k, Conv2dGeometry::new(stride, pad), true, &mut rng);
    let x: Tensor<f64> = rng.normal([n, c, h, w], 0.0, 1.0);
    let (wt, b) = (
        layer.weight.value().data(),
        layer.bias.as_ref().unwrap().value().data(),
    );
    let (oh, ow) = (
        (h + 2 * pad - k) / stride + 1,
        (w + 2 * pad - k) / stride + 1,
    );
    let mut want = vec![0.0; n * o * oh * ow];
    for i in 0..n {
        for oc in 0..o {
            for y in 0..oh {
                for z in 0..ow {
                    let mut s = b[oc];
                    for ic in 0..c {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (iy, ix) = (
                                    (y * stride + ky) as isize - pad as isize,
                                    (z * stride + kx) as isize - pad as isize,
                                );
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let xv =
                                    x.data()[((i * c + ic) * h + iy as usize) * w + ix as usize];
                                s += xv * wt[((oc * c + ic) * k + ky) * k + kx];
                            }
                        }
                    }
                    want[((i * o + oc) * oh + y) * ow + z] = s;
                }
            }
        }
    }
    let got = eval(&layer, &x);
    assert_eq!(got.dims(), [n, o, oh, ow]);
    assert_close(got.data(), &want, 1e-12, "conv2d");
}

#[test]
fn default_init_is_pytorchs_uniform() {
    let mut rng = Rng::new(3);
    let linear = Linear::<f64>::new(50, 400, &mut rng);
    let conv = Conv2d::<f64>::new(8, 64, 3, Conv2dGeometry::new(1, 1), true, &mut rng);
    let no_bias = Conv2d::<f64>::new(8, 64, 3, Conv2dGeometry::new(1, 1), false, &mut rng);
    assert!(no_bias.bias.is_none());
    for (values, fan_in) in [
        (linear.weight.value().to_vec(), 50),
        (linear.bias.value().to_vec(), 50),
        (conv.weight.value().to_vec(), 72),
        (no_bias.weight.value().to_vec(), 72),
    ] {
        let bound = 1.0 / (fan_in as f64).sqrt();
        assert!(
            values.iter().all(|v| v.abs() <= bound),
            "inside +-1/sqrt(fan_in)"
        );
        let (mean, std) = mean_std(&values);
        let n = values.len() as f64;
        // U(-b, b): mean 0, standard deviation b / sqrt(3).
        assert!(mean.abs() < 4.0 * bound / (3.0 * n).sqrt(), "mean {mean}");
        if values.len() >= 4096 {
            assert!(
                (std / (bound / 3f64.sqrt()) - 1.0).abs() < 0.05,
                "std {std}"
            );
        }
    }
}

/// `x` of shape [3, 2, 2, 2] with a different spread in each channel.
fn bn_input(shift: f64) -> Tensor<f64> {
    let values: Vec<f64> = (0..24)
        .map(|i| {
            let channel = (i / 4) % 2;
            ((i * 7 % 11) as f64 - 5.0) * (1.0 + channel as f64) + shift
        })
        .collect();
    Tensor::from_vec(values, [3, 2, 2, 2])
}

/// Per-channel values of an NCHW tensor.
fn channel_values(x: &Tensor<f64>, ch: usize) -> Vec<f64> {
    let d = x.dims();
    let plane = d[2] * d[3];
    (0..d[0])
        .flat_map(|i| x.data()[(i * d[1] + ch) * plane..(i * d[1] + ch + 1) * plane].to_vec())
        .collect()
}

#[test]
fn batch_norm_train_mode_matches_a_hand_computation() {
    let mut bn = BatchNorm2d::<f64>::new(2);
    *bn.weight.value_mut() = Tensor::from_vec(vec![1.5, -0.5], [2]);
    *bn.bias.value_mut() = Tensor::from_vec(vec![0.1, 0.2], [2]);
    let (mut running_mean, mut running_var) = (vec![0.0, 0.0], vec![1.0, 1.0]);
    for (step, shift) in [(1, 0.0), (2, 3.0)] {
        let x = bn_input(shift);
        let tape = Tape::new();
        let mut fwd = Forward::train(&tape, Rng::new(0));
        let y = bn.forward(&tape.var(x.clone()), &mut fwd).into_value();
        for ch in 0..2 {
            let values = channel_values(&x, ch);
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let ss = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>();
            let (biased, unbiased) = (ss / n, ss / (n - 1.0));
            let (w, b) = ([1.5, -0.5][ch], [0.1, 0.2][ch]);
            let want: Vec<f64> = values
                .iter()
                .map(|v| (v - mean) / (biased + 1e-5).sqrt() * w + b)
                .collect();
            assert_close(
                &channel_values(&y, ch),
                &want,
                1e-12,
                "normalised with batch statistics",
            );
            running_mean[ch] = 0.9 * running_mean[ch] + 0.1 * mean;
            running_var[ch] = 0.9 * running_var[ch] + 0.1 * unbiased;
        }
        assert_close(
            bn.running_mean().data(),
            &running_mean,
            1e-12,
            "running_mean",
        );
        assert_close(
            bn.running_var().data(),
            &running_var,
            1e-12,
            "running_var (unbiased)",
        );
        assert_eq!(bn.num_batches_tracked(), step);
    }
}

#[test]
fn batch_norm_eval_and_attack_use_running_statistics_and_change_nothing() {
    let mut bn = BatchNorm2d::<f64>::new(2);
    *bn.weight.value_mut() = Tensor::from_vec(vec![2.0, 0.5], [2]);
    let tape = Tape::new();
    bn.forward(
        &tape.var(bn_input(1.0)),
        &mut Forward::train(&tape, Rng::new(0)),
    );
    let (mean, var) = (bn.running_mean(), bn.running_var());
    let x = bn_input(-2.0);
    let tape = Tape::new();
    for mut fwd in [Forward::eval(), Forward::attack()] {
        let y = bn.forward(&tape.var(x.clone()), &mut fwd).into_value();
        for ch in 0..2 {
            let want: Vec<f64> = channel_values(&x, ch)
                .iter()
                .map(|v| (v - mean.data()[ch]) / (var.data()[ch] + 1e-5).sqrt() * [2.0, 0.5][ch])
                .collect();
            assert_close(
                &channel_values(&y, ch),
                &want,
                1e-12,
                "normalised with running statistics",
            );
        }
        assert_eq!(bn.running_mean().data(), mean.data());
        assert_eq!(bn.running_var().data(), var.data());
        assert_eq!(bn.num_batches_tracked(), 1);
    }
}

#[test]
fn batch_norm_f32_agrees_with_f64() {
    let x = bn_input(0.5);
    let (bn32, bn64) = (BatchNorm2d::<f32>::new(2), BatchNorm2d::<f64>::new(2));
    let (t32, t64) = (Tape::new(), Tape::new());
    let y32 = bn32.forward(&t32.var(x.cast()), &mut Forward::train(&t32, Rng::new(0)));
    let y64 = bn64.forward(&t64.var(x.clone()), &mut Forward::train(&t64, Rng::new(0)));
    assert_close(
        &y32.value().to_f64_vec(),
        y64.value().data(),
        1e-5,
        "output",
    );
    assert_close(
        &bn32.running_var().to_f64_vec(),
        bn64.running_var().data(),
        1e-5,
        "running_var",
    );
}

#[test]
fn dropout_zeroes_about_p_in_train_mode_only() {
    let x = Tensor::<f32>::ones([200, 100]);
    for p in [0.5, 0.2] {
        let drop = Dropout::new(p);
        let tape = Tape::new();
        let y = drop.forward(
            &tape.var(x.clone()),
            &mut Forward::train(&tape, Rng::new(7)),
        );
        let zeros =
            y.value().data().iter().filter(|&&v| v == 0.0).count() as f64 / x.numel() as f64;
        assert!((zeros - p).abs() < 0.015, "p = {p}: {zeros} zeroed");
        let kept = (1.0 / (1.0 - p)) as f32;
        assert!(
            y.value()
                .data()
                .iter()
                .all(|&v| v == 0.0 || (v - kept).abs() < 1e-6),
            "scaled by 1/(1-p)"
        );
        // The same seed gives the same mask.
        let again = drop.forward(
            &tape.var(x.clone()),
            &mut Forward::train(&tape, Rng::new(7)),
        );
        assert_eq!(again.value().data(), y.value().data());
        for mut fwd in [Forward::eval(), Forward::attack()] {
            assert_eq!(
                drop.forward(&Var::constant(x.clone()), &mut fwd)
                    .value()
                    .data(),
                x.data()
            );
        }
    }
}

#[test]
fn relu_pools_and_flatten() {
    let x = Tensor::<f64>::from_vec((0..32).map(|i| i as f64 - 10.0).collect(), [2, 1, 4, 4]);
    assert_eq!(eval(&ReLU, &x).data()[9..13], [0.0, 0.0, 1.0, 2.0]);
    let max = eval(&MaxPool2d::new(2), &x);
    assert_eq!(max.dims(), [2, 1, 2, 2]);
    assert_eq!(max.data()[..4], [-5.0, -3.0, 3.0, 5.0]);
    let avg = eval(&AvgPool2d::new(4), &x);
    assert_eq!(avg.dims(), [2, 1, 1, 1]);
    assert_eq!(avg.data(), [-2.5, 13.5]);
    assert_eq!(eval(&Flatten, &x).dims(), [2, 16]);
}

#[test]
fn sequential_names_children_by_index_or_name() {
    let mut rng = Rng::new(4);
    let indexed = Sequential::<f32>::new(vec![
        Box::new(Linear::new(3, 4, &mut rng)),
        Box::new(ReLU),
        Box::new(BatchNorm2d::new(4)),
    ]);
    let names: Vec<String> = state_dict_shapes(&indexed)
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names[..3], ["0.weight", "0.bias", "2.weight"]);
    assert_eq!(names.last().unwrap(), "2.num_batches_tracked");
    let named = Sequential::<f32>::named(vec![("fc1", Box::new(Linear::new(3, 4, &mut rng)))]);
    let names: Vec<String> = state_dict_shapes(&named).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["fc1.weight", "fc1.bias"]);
    // An empty Sequential is the identity, as PyTorch's (ResNet's identity shortcut).
    let x = Tensor::<f32>::ones([2, 3]);
    assert!(Sequential::<f32>::default().is_empty());
    assert_eq!(eval(&Sequential::<f32>::default(), &x).data(), x.data());
}

/// `torch.nn.ReLU` as a module that does not say it is one, so no `Sequential` fuses it.
struct UnfusedRelu;

impl<T: Element> Module<T> for UnfusedRelu {
    fn forward<'t>(&self, x: &Var<'t, T>, _fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        x.relu()
    }

    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'_, T>)) {}

    fn visit_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {}
}

/// SmallCNN's pattern (conv, relu, conv, relu, pool) with the given ReLU module, every
/// convolution sharing the parameters (and their ids) of `convs`.
fn conv_relu_stack(
    convs: &[Conv2d<f32>; 2],
    relu: fn() -> Box<dyn Module<f32>>,
) -> Sequential<f32> {
    let copy = |c: &Conv2d<f32>| -> Box<dyn Module<f32>> {
        Box::new(Conv2d {
            weight: c.weight.clone(),
            bias: c.bias.clone(),
            geometry: c.geometry,
        })
    };
    Sequential::named(vec![
        ("conv1", copy(&convs[0])),
        ("relu1", relu()),
        ("conv2", copy(&convs[1])),
        ("relu2", relu()),
        ("maxpool1", Box::new(MaxPool2d::new(2))),
    ])
}

/// The output, the input gradient, the gradient of each parameter (in `visit` order) and the
/// tape's length, of `sum(r * model(x))` in train mode.
fn outputs_and_gradients(
    model: &Sequential<f32>,
    x: &Tensor<f32>,
    r: &Tensor<f32>,
) -> (Tensor<f32>, Tensor<f32>, Vec<Tensor<f32>>, usize) {
    let tape = Tape::new();
    let mut fwd = Forward::train(&tape, Rng::new(0));
    let input = tape.var(x.clone());
    let y = model.forward(&input, &mut fwd);
    let loss = y.mul(&Var::constant(r.clone())).sum_all();
    let grads = fwd.param_grads(&loss);
    let dx = tape.backward(&loss, &[&input]).remove(0);
    let mut params = Vec::new();
    model.visit("", &mut |_, e| {
        if let Entry::Param(p) = e {
            params.push(grads[&p.id()].clone());
        }
    });
    (y.into_value(), dx, params, tape.len())
}

#[test]
fn sequential_fuses_convolutions_relus_and_max_pools_with_the_values_and_gradients_of_the_layers() {
    let mut rng = Rng::new(6);
    // 16 channels on both sides of conv2: the CPU's Winograd route, which fuses the ReLU and
    // pools its tiles (10x10 outputs in 2x2 windows).
    let convs = [
        Conv2d::new(1, 16, 3, Conv2dGeometry::new(1, 0), true, &mut rng),
        Conv2d::new(16, 16, 3, Conv2dGeometry::new(1, 1), true, &mut rng),
    ];
    let fused = conv_relu_stack(&convs, || Box::new(ReLU));
    let unfused = conv_relu_stack(&convs, || Box::new(UnfusedRelu));
    assert_eq!(state_dict_shapes(&fused), state_dict_shapes(&unfused));
    let x: Tensor<f32> = rng.normal([3, 1, 12, 12], 0.0, 1.0);
    let r: Tensor<f32> = rng.normal([3, 16, 5, 5], 0.0, 1.0);
    let (y, dx, dparams, len) = outputs_and_gradients(&fused, &x, &r);
    let (y_pair, dx_pair, dparams_pair, len_pair) = outputs_and_gradients(&unfused, &x, &r);
    // conv1 and its relu recorded as one op, conv2, its relu and the max pool as another.
    assert_eq!(len + 3, len_pair);
    let bits = |t: &Tensor<f32>| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert!(y.data().iter().any(|&v| v > 0.0));
    assert_eq!(bits(&y), bits(&y_pair), "outputs");
    assert_eq!(bits(&dx), bits(&dx_pair), "input gradients");
    assert_eq!(dparams.len(), 4);
    for (i, (a, b)) in dparams.iter().zip(&dparams_pair).enumerate() {
        assert_eq!(bits(a), bits(b), "gradient of parameter {i}");
    }
}
