//! The models: forward shapes, initialisations, gradients, modes, and the WideResNet block's
//! shortcut logic.

mod common;

use autograd::loss::cross_entropy;
use autograd::{Tape, Var};
use common::{counters, entry, mean_std, set};
use nn::models::{WideBasicBlock, WideResNet};
use nn::module::state_dict_shapes;
use nn::{Entry, Forward, ModelKind, Module, ResNet, SmallCnn};
use tensor::{Conv2dGeometry, IndexTensor, Rng, Tensor};

/// A batch of `n` random images for `kind`.
fn images(kind: ModelKind, n: usize, rng: &mut Rng) -> Tensor<f32> {
    let [c, h, w] = kind.input_shape();
    rng.uniform([n, c, h, w], 0.0, 1.0)
}

/// Logits of one eval-mode forward pass.
fn logits(model: &dyn Module<f32>, x: &Tensor<f32>) -> Tensor<f32> {
    model
        .forward(&Var::constant(x.clone()), &mut Forward::eval())
        .into_value()
}

#[test]
fn model_kinds_have_their_cli_names_and_input_shapes() {
    for kind in ModelKind::ALL {
        assert_eq!(ModelKind::from_name(kind.name()), Ok(kind));
        assert_eq!(kind.to_string().parse::<ModelKind>(), Ok(kind));
    }
    assert_eq!(ModelKind::from_name("wrn-34-10"), Ok(ModelKind::Wrn34x10));
    assert_eq!(ModelKind::SmallCnn.input_shape(), [1, 28, 28]);
    assert_eq!(ModelKind::ResNet18.input_shape(), [3, 32, 32]);
    let err = ModelKind::from_name("resnet-18").unwrap_err();
    assert!(
        err.contains("resnet-18") && err.contains("smallcnn, resnet18, resnet50"),
        "{err}"
    );
}

#[test]
fn forward_gives_ten_logits_per_image() {
    let mut rng = Rng::new(1);
    for (kind, batch) in [
        (ModelKind::SmallCnn, 3),
        (ModelKind::ResNet18, 2),
        (ModelKind::ResNet50, 1),
    ] {
        let model = kind.build::<f32>(&mut rng);
        let y = logits(model.as_ref(), &images(kind, batch, &mut rng));
        assert_eq!(y.dims(), [batch, 10], "{kind}");
        assert!(!y.has_non_finite(), "{kind}");
    }
    // A WRN-10-2 runs the code of every WideResNet at a fraction of the cost.
    let wrn = WideResNet::<f32>::new(10, 2, 10, false, &mut rng);
    let x = images(ModelKind::Wrn34x10, 2, &mut rng);
    assert_eq!(logits(&wrn, &x).dims(), [2, 10]);
    // sub_block1 is held for checkpoints only: the output does not depend on it.
    let with_sub = WideResNet::<f32>::new(10, 2, 10, true, &mut Rng::new(5));
    let without = WideResNet::<f32>::new(10, 2, 10, false, &mut Rng::new(5));
    assert_eq!(logits(&with_sub, &x).data(), logits(&without, &x).data());
}

#[test]
fn a_seed_gives_the_same_model() {
    let a = ModelKind::ResNet18.build::<f32>(&mut Rng::new(9));
    let b = ModelKind::ResNet18.build::<f32>(&mut Rng::new(9));
    let c = ModelKind::ResNet18.build::<f32>(&mut Rng::new(10));
    for name in ["conv1.weight", "layer4.1.conv2.weight", "linear.bias"] {
        assert_eq!(
            entry(a.as_ref(), name).data(),
            entry(b.as_ref(), name).data()
        );
        assert_ne!(
            entry(a.as_ref(), name).data(),
            entry(c.as_ref(), name).data()
        );
    }
}

#[test]
fn small_cnn_is_initialised_as_trades() {
    let model = SmallCnn::<f32>::new(&mut Rng::new(2));
    for (conv, fan_in) in [("conv1", 9), ("conv2", 288), ("conv3", 288), ("conv4", 576)] {
        let w = entry(&model, &format!("feature_extractor.{conv}.weight")).to_vec();
        let (mean, std) = mean_std(&w);
        let want = (2.0 / fan_in as f64).sqrt();
        // Kaiming-normal: N(0, 2 / fan_in); conv1 has only 288 weights, hence the wider band.
        let tol = if conv == "conv1" { 0.15 } else { 0.04 };
        assert!(
            (std / want - 1.0).abs() < tol,
            "{conv}: std {std}, want {want}"
        );
        assert!(
            mean.abs() < 4.0 * want / (w.len() as f64).sqrt(),
            "{conv}: mean {mean}"
        );
        let bias = entry(&model, &format!("feature_extractor.{conv}.bias"));
        assert!(bias.data().iter().all(|&b| b == 0.0), "{conv}: bias 0");
    }
    for (fc, fan_in) in [("fc1", 1024), ("fc2", 200)] {
        let bound = 1.0 / (fan_in as f64).sqrt();
        for p in ["weight", "bias"] {
            let v = entry(&model, &format!("classifier.{fc}.{p}"));
            assert!(
                v.data().iter().all(|x| x.abs() <= bound),
                "{fc}.{p}: PyTorch default"
            );
            assert!(
                v.data().iter().any(|x| x.abs() > 0.9 * bound),
                "{fc}.{p}: uses the range"
            );
        }
    }
    for p in ["weight", "bias"] {
        let v = entry(&model, &format!("classifier.fc3.{p}"));
        assert!(v.data().iter().all(|&x| x == 0.0), "fc3.{p} is 0");
    }
}

#[test]
fn wide_resnet_is_initialised_as_wideresnet_py() {
    let model = WideResNet::<f32>::new(16, 4, 10, false, &mut Rng::new(3));
    for (name, k, out) in [
        ("conv1.weight", 3, 16),
        ("block1.layer.0.conv1.weight", 3, 64),
        ("block2.layer.1.conv2.weight", 3, 128),
        ("block3.layer.0.convShortcut.weight", 1, 256),
    ] {
        let (_, std) = mean_std(entry(&model, name).data());
        let want = (2.0 / (k * k * out) as f64).sqrt();
        assert!(
            (std / want - 1.0).abs() < 0.1,
            "{name}: std {std}, want {want}"
        );
    }
    assert!(entry(&model, "fc.bias").data().iter().all(|&b| b == 0.0));
    let bound = 1.0 / 256f64.sqrt();
    assert!(
        entry(&model, "fc.weight")
            .data()
            .iter()
            .all(|w| w.abs() <= bound)
    );
    assert!(entry(&model, "bn1.weight").data().iter().all(|&w| w == 1.0));
    assert!(
        entry(&model, "block2.layer.0.bn2.bias")
            .data()
            .iter()
            .all(|&b| b == 0.0)
    );
}

/// The gradient of each parameter after one train-mode backward: none may be missing or zero.
fn assert_every_parameter_learns(model: &dyn Module<f32>, x: &Tensor<f32>, what: &str) {
    let tape = Tape::new();
    let mut fwd = Forward::train(&tape, Rng::new(0));
    let labels = IndexTensor::from_vec(
        (0..x.dims()[0] as u32).map(|i| i % 10).collect(),
        [x.dims()[0]],
    );
    let loss = cross_entropy(&model.forward(&tape.var(x.clone()), &mut fwd), &labels);
    let grads = fwd.param_grads(&loss);
    model.visit("", &mut |name, e| {
        if let Entry::Param(p) = e {
            let g = grads
                .get(&p.id())
                .unwrap_or_else(|| panic!("{what}: no gradient for {name}"));
            assert_eq!(g.shape(), p.value().shape(), "{what}: {name}");
            assert!(
                g.data().iter().any(|&v| v != 0.0),
                "{what}: zero gradient for {name}"
            );
        }
    });
}

#[test]
fn gradients_reach_every_parameter() {
    let mut rng = Rng::new(4);
    let mut small = SmallCnn::<f32>::new(&mut rng);
    // fc3 starts at 0 (TRADES), which stops every gradient below it on the first step.
    set(
        &mut small,
        "classifier.fc3.weight",
        &rng.normal([10, 200], 0.0, 0.1),
    );
    assert_every_parameter_learns(
        &small,
        &images(ModelKind::SmallCnn, 4, &mut rng),
        "SmallCNN",
    );
    let resnet = ResNet::<f32>::resnet18(&mut rng);
    assert_every_parameter_learns(
        &resnet,
        &images(ModelKind::ResNet18, 2, &mut rng),
        "ResNet-18",
    );
    let wrn = WideResNet::<f32>::new(10, 2, 10, false, &mut rng);
    assert_every_parameter_learns(&wrn, &images(ModelKind::Wrn34x10, 2, &mut rng), "WRN-10-2");
}

#[test]
fn only_train_mode_moves_batch_norm_statistics() {
    let mut rng = Rng::new(6);
    let model = ModelKind::ResNet18.build::<f32>(&mut rng);
    let x = images(ModelKind::ResNet18, 2, &mut rng);
    let before = entry(model.as_ref(), "layer3.0.shortcut.1.running_mean");
    let tape = Tape::new();
    model.forward(&tape.var(x.clone()), &mut Forward::attack());
    model.forward(&Var::constant(x.clone()), &mut Forward::eval());
    assert!(counters(model.as_ref()).iter().all(|&c| c == 0));
    assert_eq!(
        entry(model.as_ref(), "layer3.0.shortcut.1.running_mean").data(),
        before.data()
    );
    model.forward(&tape.var(x), &mut Forward::train(&tape, Rng::new(0)));
    let counts = counters(model.as_ref());
    assert_eq!(counts, vec![1; 20], "every BatchNorm counted one batch");
    assert_ne!(
        entry(model.as_ref(), "layer3.0.shortcut.1.running_mean").data(),
        before.data()
    );
}

#[test]
fn wide_block_shortcut_follows_equal_in_out() {
    // With conv2 zeroed the block returns its residual alone: x itself when the width is kept,
    // convShortcut(relu(bn1(x))) when it changes. Eval-mode bn1 at its initial state is
    // x / sqrt(1 + eps).
    let mut rng = Rng::new(7);
    let x: Tensor<f64> = rng.normal([2, 4, 6, 6], 0.0, 1.0);
    let mut same = WideBasicBlock::<f64>::new(4, 4, 1, &mut rng);
    set(&mut same, "conv2.weight", &Tensor::zeros([4, 4, 3, 3]));
    let y = same
        .forward(&Var::constant(x.clone()), &mut Forward::eval())
        .into_value();
    assert_eq!(y.data(), x.data());

    let mut wider = WideBasicBlock::<f64>::new(4, 8, 2, &mut rng);
    set(&mut wider, "conv2.weight", &Tensor::zeros([8, 8, 3, 3]));
    let y = wider
        .forward(&Var::constant(x.clone()), &mut Forward::eval())
        .into_value();
    let activated = x.mul_scalar(1.0 / (1.0 + 1e-5f64).sqrt()).relu();
    let shortcut = entry(&wider, "convShortcut.weight");
    let want = activated.conv2d(&shortcut, None, Conv2dGeometry::new(2, 0));
    assert_eq!(y.dims(), [2, 8, 3, 3]);
    common::assert_close(y.data(), want.data(), 1e-12, "convShortcut(relu(bn1(x)))");
    let names: Vec<String> = state_dict_shapes(&wider).into_iter().map(|e| e.0).collect();
    assert_eq!(names.last().unwrap(), "convShortcut.weight");
}
