//! Every model's `state_dict` (names, order, shapes) and parameter count against the reference
//! PyTorch definitions, whose state_dicts `fixtures/state_dicts.py` wrote to
//! `fixtures/state_dicts/`.

use nn::models::WideResNet;
use nn::module::{parameter_count, state_dict_shapes};
use nn::{Entry, ModelKind, Module};
use tensor::Rng;

/// The reference `(name, shape)` list and parameter count of one fixture file.
fn reference(text: &str) -> (Vec<(String, String)>, usize) {
    let mut lines = text.lines();
    let header = lines.next().expect("fixture has a header");
    let params = header
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .expect("header '# name: N parameters, ...'");
    let entries = lines
        .map(|l| {
            let (name, shape) = l.split_once(' ').expect("'name [shape]'");
            (name.to_string(), shape.to_string())
        })
        .collect();
    (entries, params)
}

/// Entries of each kind: (parameters, float buffers, integer counters).
fn entry_kinds(model: &dyn Module<f32>) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    model.visit("", &mut |_, e| match e {
        Entry::Param(_) => counts.0 += 1,
        Entry::Buffer(_) => counts.1 += 1,
        Entry::Count(_) => counts.2 += 1,
    });
    counts
}

/// Compares a model's state_dict with the fixture, entry by entry, and returns the entry kinds.
fn check(model: &dyn Module<f32>, fixture: &str, params: usize) -> (usize, usize, usize) {
    let (want, want_params) = reference(fixture);
    let got: Vec<(String, String)> = state_dict_shapes(model)
        .into_iter()
        .map(|(name, shape)| (name, format!("{:?}", shape.dims())))
        .collect();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "state_dict entry {i}");
    }
    assert_eq!(got.len(), want.len(), "state_dict length");
    assert_eq!(want_params, params, "the fixture's parameter count");
    assert_eq!(parameter_count(model), params);
    entry_kinds(model)
}

fn build(kind: ModelKind) -> Box<dyn Module<f32>> {
    kind.build(&mut Rng::new(0))
}

#[test]
fn small_cnn() {
    let model = build(ModelKind::SmallCnn);
    let fixture = include_str!("fixtures/state_dicts/smallcnn.txt");
    // Four convolutions and three linear layers, weight and bias each; no buffers.
    assert_eq!(check(model.as_ref(), fixture, 312_202), (14, 0, 0));
    let names: Vec<String> = state_dict_shapes(model.as_ref())
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names[0], "feature_extractor.conv1.weight");
    assert_eq!(names[13], "classifier.fc3.bias");
}

#[test]
fn resnet18() {
    let model = build(ModelKind::ResNet18);
    let fixture = include_str!("fixtures/state_dicts/resnet18.txt");
    // 62 parameters; 20 BatchNorms, each with running_mean, running_var, num_batches_tracked.
    assert_eq!(check(model.as_ref(), fixture, 11_173_962), (62, 40, 20));
    let shapes = state_dict_shapes(model.as_ref());
    let shape_of = |name: &str| {
        shapes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.dims().to_vec())
    };
    assert_eq!(
        shape_of("layer2.0.shortcut.0.weight"),
        Some(vec![128, 64, 1, 1])
    );
    assert_eq!(shape_of("layer2.0.shortcut.1.running_var"), Some(vec![128]));
    assert_eq!(
        shape_of("layer1.0.shortcut.0.weight"),
        None,
        "identity shortcut"
    );
    assert_eq!(shape_of("linear.weight"), Some(vec![10, 512]));
    assert_eq!(shape_of("bn1.num_batches_tracked"), Some(vec![]));
}

#[test]
fn resnet50() {
    let model = build(ModelKind::ResNet50);
    let fixture = include_str!("fixtures/state_dicts/resnet50.txt");
    // 53 convolutions, 53 BatchNorms, the linear layer.
    assert_eq!(check(model.as_ref(), fixture, 23_520_842), (161, 106, 53));
}

#[test]
fn wide_resnets() {
    let cases = [
        (
            ModelKind::Wrn34x10,
            include_str!("fixtures/state_dicts/wrn-34-10.txt"),
            46_160_474,
            191,
        ),
        (
            ModelKind::Wrn28x10,
            include_str!("fixtures/state_dicts/wrn-28-10.txt"),
            36_479_194,
            155,
        ),
        (
            ModelKind::Wrn34x8,
            include_str!("fixtures/state_dicts/wrn-34-8.txt"),
            29_551_578,
            191,
        ),
    ];
    for (kind, fixture, params, entries) in cases {
        let model = build(kind);
        let (p, b, c) = check(model.as_ref(), fixture, params);
        assert_eq!(p + b + c, entries, "{kind}");
    }
}

#[test]
fn wide_resnet_with_the_published_sub_block1() {
    // A small WRN-16-4 with the structure of the published WRN-34-10 and WRN-28-10 ones.
    let model = WideResNet::<f32>::new(16, 4, 10, true, &mut Rng::new(0));
    let fixture = include_str!("fixtures/state_dicts/wrn-16-4-sub_block1.txt");
    // Four groups (sub_block1 included) of 2 blocks, each block with 2 BatchNorms and 2
    // convolutions, the first also a convShortcut; then the head BatchNorm and fc.
    assert_eq!(check(&model, fixture, 2_870_138), (57, 34, 17));
    // sub_block1 sits right after block1, where PyTorch registers it.
    let names: Vec<String> = state_dict_shapes(&model).into_iter().map(|e| e.0).collect();
    let first_sub = names
        .iter()
        .position(|n| n.starts_with("sub_block1."))
        .unwrap();
    assert_eq!(names[first_sub - 1], "block1.layer.1.conv2.weight");
    assert_eq!(names[first_sub], "sub_block1.layer.0.bn1.weight");
}
