//! SmallCNN and ResNet-18 against PyTorch: logits, cross-entropy loss, input gradient,
//! parameter gradients and BatchNorm statistics in eval and train mode, and three SGD steps of
//! training, against the float64 references of `fixtures/make_fixtures.py`.
//!
//! Both sides build the same weights from one integer hash (see `fixture/mod.rs`). The f64
//! models must agree with PyTorch's float64 to 1e-10 (norm-relative, per tensor: logits, loss,
//! input gradient, every parameter gradient, every BatchNorm buffer after the train pass), the
//! f32 models to 1e-4.
//!
//! Float32 gradients can only agree with a float64 reference where float32 rounding flips no
//! ReLU or max-pool branch (one flipped ReLU moves the gradients below it by about 1e-2).
//! SmallCNN's input batch keeps every kink at least 8 times PyTorch's float32 rounding error
//! away, so its f32 gradients are compared too. ResNet-18 has about 1.1M ReLU inputs and
//! BatchNorm amplifies rounding, so for any input some ReLU input lies within float32 rounding
//! of 0: its f32 model is compared on forward values (logits, loss, running statistics), and
//! its gradients in f64.
//!
//! Dropout draws its mask from each side's random stream, so SmallCNN's train-mode references
//! are of SmallCNN with dropout 0 on both sides (`SmallCNN(drop=0)`); the eval references use
//! the ordinary model (dropout 0.5, off in eval).

mod fixture;

use autograd::Tape;
use autograd::loss::cross_entropy;
use fixture::{Fixture, fill, named_grads};
use nn::optim::{Optimizer, Sgd, SgdConfig};
use nn::{
    Conv2d, Dropout, Entry, Forward, Linear, MaxPool2d, ModelKind, Module, ReLU, Sequential,
    SmallCnn,
};
use tensor::{Conv2dGeometry, Element, IndexTensor, Rng, Tensor};

/// Norm-relative tolerance of the f64 models against PyTorch's float64.
const F64_RTOL: f64 = 1e-10;
/// Norm-relative tolerance of the f32 models against PyTorch's float64.
const F32_RTOL: f64 = 1e-4;

/// SmallCNN with dropout `p` (TRADES' is 0.5), with PyTorch's default initialisation (the
/// tests overwrite every value).
fn small_cnn<T: Element>(p: f64) -> SmallCnn<T> {
    let mut rng = Rng::new(0);
    let conv = |i, o, rng: &mut Rng| -> Box<dyn Module<T>> {
        Box::new(Conv2d::new(i, o, 3, Conv2dGeometry::new(1, 0), true, rng))
    };
    let feature_extractor = Sequential::named(vec![
        ("conv1", conv(1, 32, &mut rng)),
        ("relu1", Box::new(ReLU)),
        ("conv2", conv(32, 32, &mut rng)),
        ("relu2", Box::new(ReLU)),
        ("maxpool1", Box::new(MaxPool2d::new(2))),
        ("conv3", conv(32, 64, &mut rng)),
        ("relu3", Box::new(ReLU)),
        ("conv4", conv(64, 64, &mut rng)),
        ("relu4", Box::new(ReLU)),
        ("maxpool2", Box::new(MaxPool2d::new(2))),
    ]);
    let classifier = Sequential::named(vec![
        (
            "fc1",
            Box::new(Linear::new(1024, 200, &mut rng)) as Box<dyn Module<T>>,
        ),
        ("relu1", Box::new(ReLU)),
        ("drop", Box::new(Dropout::new(p))),
        ("fc2", Box::new(Linear::new(200, 200, &mut rng))),
        ("relu2", Box::new(ReLU)),
        ("fc3", Box::new(Linear::new(200, 10, &mut rng))),
    ]);
    SmallCnn {
        feature_extractor,
        classifier,
    }
}

/// What one forward and backward pass gives.
struct Pass<T: Element> {
    logits: Tensor<T>,
    loss: Tensor<T>,
    input_grad: Tensor<T>,
    /// Train mode only: by name, in `state_dict` order.
    param_grads: Vec<(String, Tensor<T>)>,
}

/// Runs `model` on `x` in train or eval mode and differentiates the mean cross-entropy.
fn pass<T: Element>(
    model: &dyn Module<T>,
    x: &Tensor<T>,
    labels: &IndexTensor,
    train: bool,
) -> Pass<T> {
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let mut fwd = if train {
        Forward::train(&tape, Rng::new(0))
    } else {
        Forward::eval()
    };
    let logits = model.forward(&xv, &mut fwd);
    let loss = cross_entropy(&logits, labels);
    let input_grad = tape.backward(&loss, &[&xv]).remove(0);
    let param_grads = if train {
        named_grads(model, &fwd.param_grads(&loss))
    } else {
        Vec::new()
    };
    Pass {
        logits: logits.into_value(),
        loss: loss.into_value(),
        input_grad,
        param_grads,
    }
}

/// Checks one mode of a model against `fx` (gradients too when `grads`); returns the worst
/// error.
fn check<T: Element>(
    fx: &Fixture,
    mut model: Box<dyn Module<T>>,
    seed: u64,
    train: bool,
    grads: bool,
) -> f64 {
    let rtol = if size_of::<T>() == 8 {
        F64_RTOL
    } else {
        F32_RTOL
    };
    fill(model.as_mut(), seed);
    let mode = if train { "train" } else { "eval" };
    let x = fx.tensor::<T>("input");
    let labels = fx.labels("labels");
    let out = pass(model.as_ref(), &x, &labels, train);
    let mut worst = 0f64;
    for (key, got) in [("logits", &out.logits), ("loss", &out.loss)] {
        worst = worst.max(fx.assert_agrees(&format!("{mode}.{key}"), got, rtol));
    }
    if grads {
        let key = format!("{mode}.input_grad");
        worst = worst.max(fx.assert_agrees(&key, &out.input_grad, rtol));
    }
    if train && grads {
        assert_eq!(out.param_grads.len(), parameter_entries(model.as_ref()));
        for (name, g) in &out.param_grads {
            worst = worst.max(fx.assert_agrees(&format!("train.grad.{name}"), g, rtol));
        }
    }
    if train {
        // The running statistics moved as PyTorch's did, and each counter counted the batch.
        let mut buffers = 0;
        model.visit("", &mut |name, e| match e {
            Entry::Buffer(b) => {
                worst = worst.max(fx.assert_agrees(&format!("train.after.{name}"), b, rtol));
                buffers += 1;
            }
            Entry::Count(c) => {
                assert_eq!(vec![c], fx.ints(&format!("train.after.{name}")), "{name}");
                buffers += 1;
            }
            Entry::Param(_) => {}
        });
        let want = fx
            .tensor_names()
            .filter(|k| k.starts_with("train.after.") && !k.ends_with(".proj"))
            .filter(|k| !k.ends_with(".norm"))
            .count();
        assert_eq!(buffers, want, "every buffer of the fixture was compared");
    }
    eprintln!(
        "{} {mode} f{}: worst norm-relative error {worst:.2e}",
        fx.meta("about"),
        8 * size_of::<T>()
    );
    worst
}

/// The number of parameters of a model.
fn parameter_entries<T: Element>(model: &dyn Module<T>) -> usize {
    let mut n = 0;
    model.visit("", &mut |_, e| n += matches!(e, Entry::Param(_)) as usize);
    n
}

#[test]
fn small_cnn_eval_matches_pytorch() {
    let fx = Fixture::open("smallcnn.safetensors");
    let seed = fixture::SMALLCNN_SEED;
    check::<f64>(&fx, Box::new(small_cnn(0.5)), seed, false, true);
    check::<f32>(&fx, Box::new(small_cnn(0.5)), seed, false, true);
    // The ordinary constructor gives the same model.
    let model = ModelKind::SmallCnn.build(&mut Rng::new(1));
    check::<f32>(&fx, model, seed, false, true);
}

#[test]
fn small_cnn_train_without_dropout_matches_pytorch() {
    let fx = Fixture::open("smallcnn.safetensors");
    let seed = fixture::SMALLCNN_SEED;
    check::<f64>(&fx, Box::new(small_cnn(0.0)), seed, true, true);
    check::<f32>(&fx, Box::new(small_cnn(0.0)), seed, true, true);
}

#[test]
fn resnet18_eval_matches_pytorch() {
    let fx = Fixture::open("resnet18.safetensors");
    let seed = fixture::RESNET18_SEED;
    let resnet = ModelKind::ResNet18;
    check::<f64>(&fx, resnet.build(&mut Rng::new(0)), seed, false, true);
    // f32: forward values only (see the module docs).
    check::<f32>(&fx, resnet.build(&mut Rng::new(0)), seed, false, false);
}

#[test]
fn resnet18_train_matches_pytorch() {
    let fx = Fixture::open("resnet18.safetensors");
    let seed = fixture::RESNET18_SEED;
    let resnet = ModelKind::ResNet18;
    check::<f64>(&fx, resnet.build(&mut Rng::new(0)), seed, true, true);
    // f32: forward values only (see the module docs).
    check::<f32>(&fx, resnet.build(&mut Rng::new(0)), seed, true, false);
}

#[test]
fn three_sgd_steps_of_training_match_pytorch() {
    // SmallCNN (dropout 0) trained for three steps on three batches with SGD(lr 0.05,
    // momentum 0.9, weight decay 5e-4), in f64: model gradients and optimiser together.
    let fx = Fixture::open("training.safetensors");
    let mut model = small_cnn::<f64>(0.0);
    fill(&mut model, fixture::TRAINING_SEED);
    let mut sgd = Sgd::new(SgdConfig {
        momentum: 0.9,
        weight_decay: 5e-4,
        ..SgdConfig::new(0.05)
    })
    .unwrap();
    for step in 0..3 {
        let x = fx.tensor::<f64>(&format!("step{step}.input"));
        let labels = fx.labels(&format!("step{step}.labels"));
        let tape = Tape::new();
        let mut fwd = Forward::train(&tape, Rng::new(step));
        let loss = cross_entropy(&model.forward(&tape.var(x), &mut fwd), &labels);
        let grads = fwd.param_grads(&loss);
        sgd.step(&mut model, &grads);
    }
    let mut compared = 0;
    model.visit("", &mut |name, e| {
        if let Entry::Param(p) = e {
            fx.assert_agrees(&format!("param.{name}"), p.value(), F64_RTOL);
            compared += 1;
        }
    });
    assert_eq!(compared, 14);
}

#[test]
fn the_fixture_comparison_sees_a_small_change() {
    // The comparison itself can fail: a gradient off by 1e-3 in one element of a digested
    // tensor, or scaled by 1 + 1e-3, is refused at the f32 tolerance.
    let fx = Fixture::open("resnet18.safetensors");
    let mut model = ModelKind::ResNet18.build::<f64>(&mut Rng::new(0));
    fill(model.as_mut(), fixture::RESNET18_SEED);
    let out = pass(
        model.as_ref(),
        &fx.tensor("input"),
        &fx.labels("labels"),
        true,
    );
    let (name, g) = out
        .param_grads
        .iter()
        .find(|(n, _)| n == "layer3.0.conv2.weight")
        .unwrap();
    let key = format!("train.grad.{name}");
    assert!(!fx.has(&key), "stored as a digest");
    assert!(fx.error(&key, g) < F64_RTOL);
    let norm = g.data().iter().map(|v| v * v).sum::<f64>().sqrt();
    let stride = g.numel().div_ceil(512);
    let r = fixture::unit(fixture::PROJECTION_SEED, g.numel());
    let i = (0..g.numel())
        .find(|&i| i % stride != 0 && r[i].abs() > 0.5)
        .unwrap(); // an element the sample does not hold
    let mut nudged = g.clone();
    nudged.data_mut()[i] += 1e-3 * norm;
    assert!(fx.error(&key, &nudged) > F32_RTOL);
    assert!(fx.error(&key, &g.mul_scalar(1.0 + 1e-3)) > F32_RTOL);
    let logits = &out.logits;
    assert!(fx.error("train.logits", &logits.mul_scalar(1.0 + 1e-3)) > F32_RTOL);
}
