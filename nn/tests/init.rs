//! The two initialisations: PyTorch's default redraws every convolution's and linear layer's
//! weight and bias from `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` and leaves BatchNorm and the
//! buffers as built; the reference code's (TRADES) keeps SmallCNN's zero last layer.

use std::collections::BTreeMap;

use nn::models::reinit_torch_default;
use nn::{Entry, Init, ModelKind, Module, WideResNet};
use tensor::{Element, Rng};

/// Every `state_dict` entry's values as f64, by name (parameters and float buffers).
fn entries<T: Element>(model: &dyn Module<T>) -> BTreeMap<String, Vec<f64>> {
    let mut out = BTreeMap::new();
    model.visit("", &mut |name, entry| {
        let values = match entry {
            Entry::Param(p) => p.value().to_vec(),
            Entry::Buffer(b) => b.to_vec(),
            Entry::Count(_) => return,
        };
        out.insert(
            name.to_string(),
            values.into_iter().map(|v| v.to_f64().unwrap()).collect(),
        );
    });
    out
}

fn variance(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64
}

#[test]
fn torch_init_draws_every_smallcnn_layer_uniformly_within_its_fan_in_bound() {
    let model = ModelKind::SmallCnn.build_init::<f32>(Init::Torch, &mut Rng::new(3));
    let values = entries(model.as_ref());
    // (layer, fan_in) as nn.Conv2d / nn.Linear compute it.
    let layers = [
        ("feature_extractor.conv1", 9),
        ("feature_extractor.conv2", 32 * 9),
        ("feature_extractor.conv3", 32 * 9),
        ("feature_extractor.conv4", 64 * 9),
        ("classifier.fc1", 1024),
        ("classifier.fc2", 200),
        ("classifier.fc3", 200),
    ];
    assert_eq!(values.len(), 2 * layers.len(), "{:?}", values.keys());
    for (layer, fan_in) in layers {
        let bound = 1.0 / (fan_in as f64).sqrt();
        for leaf in ["weight", "bias"] {
            let v = &values[&format!("{layer}.{leaf}")];
            let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(max <= bound, "{layer}.{leaf}: |{max}| > {bound}");
            // Far from zero: a uniform draw over the bound, not the zero bias TRADES uses.
            assert!(
                max > 0.5 * bound,
                "{layer}.{leaf}: max {max}, bound {bound}"
            );
        }
        let w = &values[&format!("{layer}.weight")];
        if w.len() >= 1000 {
            let expected = bound * bound / 3.0;
            let got = variance(w);
            assert!(
                (got / expected - 1.0).abs() < 0.1,
                "{layer}: variance {got}, U(-b, b) has {expected}"
            );
        }
    }
}

#[test]
fn trades_init_is_the_reference_codes() {
    let model = ModelKind::SmallCnn.build_init::<f32>(Init::Trades, &mut Rng::new(3));
    let values = entries(model.as_ref());
    assert!(values["classifier.fc3.weight"].iter().all(|&v| v == 0.0));
    assert!(
        values["feature_extractor.conv2.bias"]
            .iter()
            .all(|&v| v == 0.0)
    );
    let conv2 = &values["feature_extractor.conv2.weight"];
    let expected = 2.0 / (32.0 * 9.0); // Kaiming-normal, fan-in mode.
    assert!((variance(conv2) / expected - 1.0).abs() < 0.1);
    // `build` is the reference initialisation, draw for draw.
    let built = entries(ModelKind::SmallCnn.build::<f32>(&mut Rng::new(3)).as_ref());
    assert_eq!(values, built);
}

#[test]
fn torch_init_leaves_batch_norm_and_buffers_and_covers_bias_free_convolutions() {
    let mut rng = Rng::new(5);
    let mut model = WideResNet::<f64>::new(10, 1, 10, false, &mut rng);
    let before = entries(&model);
    reinit_torch_default(&mut model, &mut rng);
    let after = entries(&model);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (name, values) in &after {
        let is_bn = name.contains("bn") || name.contains("running");
        if is_bn {
            assert_eq!(values, &before[name], "{name} changed");
        } else {
            assert_ne!(values, &before[name], "{name} was not redrawn");
        }
    }
    // The head's bias, zero in wideresnet.py, is now drawn over fc's fan-in of 64.
    let fc_bias = &after["fc.bias"];
    assert!(fc_bias.iter().all(|v| v.abs() <= 1.0 / 8.0) && fc_bias.iter().any(|&v| v != 0.0));
}

#[test]
fn the_same_seed_gives_the_same_torch_init_and_names_parse() {
    let a = entries(
        ModelKind::SmallCnn
            .build_init::<f32>(Init::Torch, &mut Rng::new(9))
            .as_ref(),
    );
    let b = entries(
        ModelKind::SmallCnn
            .build_init::<f32>(Init::Torch, &mut Rng::new(9))
            .as_ref(),
    );
    let c = entries(
        ModelKind::SmallCnn
            .build_init::<f32>(Init::Torch, &mut Rng::new(10))
            .as_ref(),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!("torch".parse::<Init>(), Ok(Init::Torch));
    assert_eq!("trades".parse::<Init>(), Ok(Init::Trades));
    assert!(
        "xavier"
            .parse::<Init>()
            .unwrap_err()
            .contains("torch or trades")
    );
}
