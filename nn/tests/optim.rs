//! SGD and Adam against a hand-written f64 reference of `torch.optim.SGD`'s update rule and
//! against `torch.optim.SGD` and `torch.optim.Adam` themselves (`parity/optim.safetensors`,
//! written by `fixtures/make_fixtures.py`), their state, and the settings they refuse.

mod fixture;

use std::collections::{BTreeMap, HashMap};

use fixture::{Fixture, fill};
use nn::optim::{Adam, AdamConfig, OptimError, Optimizer, Sgd, SgdConfig};
use nn::{Entry, Linear, ModelKind, Module, ParamGrads, Sequential};
use tensor::{Element, Rng, Tensor};

/// The parameters of `model` by name, as f64.
fn params<T: Element>(model: &dyn Module<T>) -> BTreeMap<String, Vec<f64>> {
    let mut out = BTreeMap::new();
    model.visit("", &mut |name, e| {
        if let Entry::Param(p) = e {
            out.insert(name.to_string(), p.value().to_f64_vec());
        }
    });
    out
}

/// Gradients for the parameters of `model` named by `values` (missing names get none).
fn grads_by_name<T: Element>(
    model: &dyn Module<T>,
    values: &BTreeMap<String, Vec<f64>>,
) -> ParamGrads<T> {
    let mut grads = HashMap::new();
    model.visit("", &mut |name, e| {
        if let (Entry::Param(p), Some(v)) = (e, values.get(name)) {
            let t = Tensor::from_vec(v.clone(), p.value().shape().clone());
            grads.insert(p.id(), t.cast());
        }
    });
    grads
}

/// One step of `optimizer` with gradients given by parameter name.
fn step_named(
    optimizer: &mut dyn Optimizer<f64>,
    model: &mut dyn Module<f64>,
    grads: &BTreeMap<String, Vec<f64>>,
) {
    let grads = grads_by_name(model, grads);
    optimizer.step(model, &grads);
}

/// `torch.optim.SGD`'s `_single_tensor_sgd` for one parameter, in f64, written from its source:
///
/// ```text
/// if weight_decay != 0: grad = grad.add(param, alpha=weight_decay)
/// if momentum != 0:
///     if buf is None: buf = torch.clone(grad).detach()
///     else: buf.mul_(momentum).add_(grad, alpha=1 - dampening)
///     if nesterov: grad = grad.add(buf, alpha=momentum)
///     else: grad = buf
/// param.add_(grad, alpha=-lr)
/// ```
fn torch_sgd_rule(
    c: &SgdConfig,
    param: &mut [f64],
    grad: &[f64],
    momentum_buffer: &mut Option<Vec<f64>>,
) {
    let mut grad: Vec<f64> = if c.weight_decay != 0.0 {
        grad.iter()
            .zip(param.iter())
            .map(|(g, p)| g + c.weight_decay * p)
            .collect()
    } else {
        grad.to_vec()
    };
    if c.momentum != 0.0 {
        let buf = match momentum_buffer {
            None => momentum_buffer.insert(grad.clone()),
            Some(buf) => {
                for (b, g) in buf.iter_mut().zip(&grad) {
                    *b = *b * c.momentum + g * (1.0 - c.dampening);
                }
                buf
            }
        };
        if c.nesterov {
            for (g, b) in grad.iter_mut().zip(buf.iter()) {
                *g += b * c.momentum;
            }
        } else {
            grad = buf.clone();
        }
    }
    for (p, g) in param.iter_mut().zip(&grad) {
        *p += g * -c.lr;
    }
}

/// A small two-layer model.
fn mlp(rng: &mut Rng) -> Sequential<f64> {
    Sequential::new(vec![
        Box::new(Linear::new(5, 4, rng)),
        Box::new(Linear::new(4, 3, rng)),
    ])
}

#[test]
fn sgd_follows_torchs_update_rule() {
    let configs = [
        SgdConfig::new(0.1),
        SgdConfig {
            weight_decay: 1e-2,
            ..SgdConfig::new(0.1)
        },
        SgdConfig {
            momentum: 0.9,
            weight_decay: 5e-4,
            ..SgdConfig::new(0.1)
        },
        SgdConfig {
            momentum: 0.8,
            dampening: 0.3,
            weight_decay: 1e-3,
            ..SgdConfig::new(0.05)
        },
        SgdConfig {
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: true,
            ..SgdConfig::new(0.1)
        },
    ];
    for config in configs {
        let mut rng = Rng::new(1);
        let mut model = mlp(&mut rng);
        let mut sgd = Sgd::new(config).unwrap();
        let mut want = params(&model);
        let mut buffers: BTreeMap<String, Option<Vec<f64>>> = BTreeMap::new();
        for step in 0..6 {
            // The learning rate changes between steps, as a schedule does; in step 2 one
            // parameter has no gradient and is skipped, its momentum buffer untouched.
            let lr = if step < 4 {
                config.lr
            } else {
                config.lr / 10.0
            };
            sgd.set_lr(lr);
            let mut grads = BTreeMap::new();
            for (name, p) in &want {
                grads.insert(
                    name.clone(),
                    rng.normal::<f64>([p.len()], 0.0, 1.0).to_vec(),
                );
            }
            if step == 2 {
                grads.remove("0.bias");
            }
            step_named(&mut sgd, &mut model, &grads);
            let c = SgdConfig { lr, ..config };
            for (name, g) in &grads {
                let buf = buffers.entry(name.clone()).or_default();
                torch_sgd_rule(&c, want.get_mut(name).unwrap(), g, buf);
            }
            let got = params(&model);
            for (name, w) in &want {
                let err = fixture::relative(&got[name], w);
                assert!(err < 1e-14, "{config:?} step {step} {name}: {err:e}");
            }
        }
        let state = sgd.state();
        assert_eq!(state.step, 6);
        if config.momentum == 0.0 {
            assert!(state.buffers.is_empty(), "no momentum, no buffers");
        } else {
            assert_eq!(state.buffers.len(), 4);
            for (name, buf) in &buffers {
                let got = state.buffers[&format!("momentum.{name}")].to_f64_vec();
                let err = fixture::relative(&got, buf.as_ref().unwrap());
                assert!(err < 1e-14, "{config:?} momentum.{name}: {err:e}");
            }
        }
    }
}

#[test]
fn first_momentum_step_is_plain_sgd() {
    // PyTorch starts the buffer at the gradient itself: neither dampening nor momentum apply
    // to the first step, and Nesterov's first step is (1 + momentum) times the gradient.
    let g = [0.5, -2.0, 4.0];
    for (config, factor) in [
        (
            SgdConfig {
                momentum: 0.9,
                dampening: 0.5,
                ..SgdConfig::new(0.1)
            },
            1.0,
        ),
        (
            SgdConfig {
                momentum: 0.9,
                nesterov: true,
                ..SgdConfig::new(0.1)
            },
            1.9,
        ),
    ] {
        let mut model = Linear::from_tensors(Tensor::<f64>::zeros([1, 3]), Tensor::zeros([1]));
        let grads = HashMap::from([
            (
                model.weight.id(),
                Tensor::from_vec(g.to_vec(), [1usize, 3].as_slice()),
            ),
            (model.bias.id(), Tensor::zeros([1])),
        ]);
        let mut sgd = Sgd::new(config).unwrap();
        sgd.step(&mut model, &grads);
        let want: Vec<f64> = g.iter().map(|g| -0.1 * factor * g).collect();
        let err = fixture::relative(model.weight.value().data(), &want);
        assert!(err < 1e-15, "{config:?}: {err:e}");
        let buf = &sgd.state().buffers["momentum.weight"];
        assert_eq!(buf.data(), g, "the buffer starts at the gradient");
    }
}

/// Gradients of the fixture: `unit(OPTIM_SEED * 1000 + 100 * (step + 1) + index)` for the
/// parameter numbered `index`, none for `skipped`.
fn fixture_grads<T: Element>(
    model: &dyn Module<T>,
    step: u64,
    skipped: Option<&str>,
) -> ParamGrads<T> {
    let mut grads = HashMap::new();
    let mut index = 0;
    model.visit("", &mut |name, e| {
        if let Entry::Param(p) = e {
            let seed = fixture::OPTIM_SEED * 1000 + 100 * (step + 1) + index;
            index += 1;
            if Some(name) != skipped {
                let v = fixture::unit(seed, p.value().numel());
                grads.insert(
                    p.id(),
                    Tensor::from_vec(v, p.value().shape().clone()).cast(),
                );
            }
        }
    });
    grads
}

/// Runs the fixture's three steps of `optimizer` (learning rates 0.1, 0.1, 0.01; `skipped` has
/// no gradient at the second step) on SmallCNN, and compares parameters and state buffers
/// with PyTorch's under `variant`.
fn against_torch<T: Element>(
    fx: &Fixture,
    variant: &str,
    mut optimizer: Box<dyn Optimizer<T>>,
    skipped: Option<&str>,
    rtol: f64,
) {
    let mut model = ModelKind::SmallCnn.build::<T>(&mut Rng::new(0));
    fill(model.as_mut(), fixture::OPTIM_SEED);
    for (step, lr) in [0.1, 0.1, 0.01].into_iter().enumerate() {
        optimizer.set_lr(lr);
        let skip = if step == 1 { skipped } else { None };
        let grads = fixture_grads(model.as_ref(), step as u64, skip);
        optimizer.step(model.as_mut(), &grads);
    }
    let (mut n, mut worst) = (0, 0f64);
    model.visit("", &mut |name, e| {
        if let Entry::Param(p) = e {
            let e = fx.assert_agrees(&format!("{variant}.param.{name}"), p.value(), rtol);
            worst = worst.max(e);
            n += 1;
        }
    });
    assert_eq!(n, 14);
    let state = optimizer.state();
    assert_eq!(state.step, 3);
    for (name, buffer) in &state.buffers {
        worst = worst.max(fx.assert_agrees(&format!("{variant}.{name}"), buffer, rtol));
    }
    eprintln!(
        "{variant} f{}: worst norm-relative error {worst:.1e}",
        8 * size_of::<T>()
    );
    // As many buffers as PyTorch keeps.
    let prefix = format!("{variant}.");
    let mut torch_buffers: Vec<&str> = fx
        .tensor_names()
        .filter_map(|k| k.strip_prefix(&prefix))
        .filter(|k| !k.starts_with("param."))
        .map(|k| {
            k.trim_end_matches(".sample")
                .trim_end_matches(".norm")
                .trim_end_matches(".proj")
        })
        .collect();
    torch_buffers.sort_unstable();
    torch_buffers.dedup();
    let ours: Vec<&str> = state.buffers.keys().map(String::as_str).collect();
    assert_eq!(ours, torch_buffers, "{variant}");
}

#[test]
fn sgd_matches_torch_optim_sgd() {
    let fx = Fixture::open("optim.safetensors");
    let skipped = Some("classifier.fc3.bias");
    let variants = [
        (
            "momentum",
            SgdConfig {
                momentum: 0.9,
                weight_decay: 5e-4,
                ..SgdConfig::new(0.1)
            },
        ),
        (
            "nesterov",
            SgdConfig {
                momentum: 0.9,
                weight_decay: 5e-4,
                nesterov: true,
                ..SgdConfig::new(0.1)
            },
        ),
        (
            "dampening",
            SgdConfig {
                momentum: 0.9,
                dampening: 0.5,
                ..SgdConfig::new(0.1)
            },
        ),
        (
            "plain",
            SgdConfig {
                weight_decay: 5e-4,
                ..SgdConfig::new(0.1)
            },
        ),
    ];
    for (variant, config) in variants {
        let (wide, narrow) = (Sgd::new(config).unwrap(), Sgd::new(config).unwrap());
        against_torch::<f64>(&fx, variant, Box::new(wide), skipped, 1e-12);
        against_torch::<f32>(&fx, variant, Box::new(narrow), skipped, 1e-6);
    }
}

#[test]
fn adam_matches_torch_optim_adam() {
    // Adam keeps one step count for all parameters, so every parameter gets a gradient.
    let fx = Fixture::open("optim.safetensors");
    let config = AdamConfig {
        weight_decay: 5e-4,
        ..AdamConfig::new(0.1)
    };
    against_torch::<f64>(
        &fx,
        "adam",
        Box::new(Adam::new(config).unwrap()),
        None,
        1e-12,
    );
    against_torch::<f32>(
        &fx,
        "adam",
        Box::new(Adam::new(config).unwrap()),
        None,
        1e-6,
    );
}

#[test]
fn state_restores_exactly_and_refuses_another_optimisers() {
    let config = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(0.1)
    };
    let mut rng = Rng::new(2);
    let random_grads = |rng: &mut Rng| -> BTreeMap<String, Vec<f64>> {
        params(&mlp(&mut Rng::new(0)))
            .into_iter()
            .map(|(n, p)| (n, rng.normal::<f64>([p.len()], 0.0, 1.0).to_vec()))
            .collect()
    };
    let (g1, g2) = (random_grads(&mut rng), random_grads(&mut rng));
    // Two equal models; the second's optimiser is replaced after a step by a new one given
    // its state: the next step is the same.
    let (mut a, mut b) = (mlp(&mut Rng::new(5)), mlp(&mut Rng::new(5)));
    let (mut sgd_a, mut sgd_b) = (Sgd::new(config).unwrap(), Sgd::new(config).unwrap());
    step_named(&mut sgd_a, &mut a, &g1);
    step_named(&mut sgd_b, &mut b, &g1);
    let mut resumed = Sgd::new(config).unwrap();
    resumed.load_state(sgd_b.state()).unwrap();
    drop(sgd_b);
    step_named(&mut sgd_a, &mut a, &g2);
    step_named(&mut resumed, &mut b, &g2);
    assert_eq!(params(&a), params(&b));
    // Without the state the second step differs (the test can tell).
    let mut c = mlp(&mut Rng::new(5));
    let mut sgd_c = Sgd::new(config).unwrap();
    step_named(&mut sgd_c, &mut c, &g1);
    sgd_c = Sgd::new(config).unwrap();
    step_named(&mut sgd_c, &mut c, &g2);
    assert_ne!(params(&a), params(&c));

    let mut adam = Adam::<f64>::new(AdamConfig::new(0.1)).unwrap();
    let mut d = mlp(&mut Rng::new(5));
    step_named(&mut adam, &mut d, &g1);
    let err = Sgd::<f64>::new(config)
        .unwrap()
        .load_state(adam.state())
        .unwrap_err();
    assert!(matches!(err, OptimError::UnknownBuffer { .. }), "{err}");
    assert!(err.to_string().contains("exp_avg"), "{err}");
    let err = adam.load_state(sgd_a.state()).unwrap_err();
    assert!(err.to_string().contains("momentum."), "{err}");
}

#[test]
fn settings_torch_refuses_are_refused() {
    let bad = [
        SgdConfig::new(-0.1),
        SgdConfig::new(f64::NAN),
        SgdConfig {
            momentum: -0.5,
            ..SgdConfig::new(0.1)
        },
        SgdConfig {
            weight_decay: -1e-4,
            ..SgdConfig::new(0.1)
        },
        SgdConfig {
            nesterov: true,
            ..SgdConfig::new(0.1)
        },
        SgdConfig {
            momentum: 0.9,
            dampening: 0.1,
            nesterov: true,
            ..SgdConfig::new(0.1)
        },
    ];
    for config in bad {
        let err = Sgd::<f32>::new(config).unwrap_err();
        assert!(matches!(err, OptimError::Setting { .. }), "{config:?}");
        assert!(err.to_string().starts_with("invalid SGD setting"), "{err}");
    }
    for config in [
        SgdConfig::new(0.0),
        SgdConfig {
            momentum: 0.9,
            dampening: 0.5,
            weight_decay: 5e-4,
            ..SgdConfig::new(0.1)
        },
    ] {
        assert!(Sgd::<f32>::new(config).is_ok(), "{config:?}");
    }
    for config in [
        AdamConfig {
            beta1: 1.0,
            ..AdamConfig::new(1e-3)
        },
        AdamConfig {
            eps: -1.0,
            ..AdamConfig::new(1e-3)
        },
        AdamConfig::new(-1e-3),
    ] {
        assert!(Adam::<f32>::new(config).is_err(), "{config:?}");
    }
}
