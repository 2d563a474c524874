//! Checkpoints: bit-exact round trips and resumes, PyTorch's names, dtypes and shapes, and files
//! written by PyTorch and read by PyTorch. Files that do not fit (every mismatch in one error,
//! damaged files) and the atomic write are in `checkpoint_errors.rs`.
//!
//! The PyTorch side is `fixtures/make_fixtures.py`: it lists every `state_dict()` entry of the
//! reference models (`parity/state_dicts.json`), wrote `parity/wrn-10-1.torch.safetensors` with
//! `safetensors.torch.save_file`, and loads `parity/wrn-10-1.rust.safetensors` (written by
//! `rust_checkpoint_is_the_file_pytorch_loaded`) with `load_state_dict(strict=True)`.

mod common;
mod fixture;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use autograd::Tape;
use autograd::Var;
use autograd::loss::cross_entropy;
use common::{snapshot, wrn_10_1};
use fixture::{Fixture, count_value, entry_values, fill};
use nn::checkpoint;
use nn::module::state_dict_shapes;
use nn::optim::{Optimizer, Sgd, SgdConfig};
use nn::{Entry, Extras, Forward, ModelKind, Module, ParamGrads, TrainingState};
use safetensors::{Dtype, SafeTensors};
use tensor::{Element, IndexTensor, Rng, Tensor};

/// Bits of each optimiser buffer.
fn buffer_bits<T: Element>(state: &BTreeMap<String, Tensor<T>>) -> Vec<(String, Vec<u64>)> {
    state
        .iter()
        .map(|(k, v)| {
            let bits = v.to_f64_vec().iter().map(|x| x.to_bits()).collect();
            (k.clone(), bits)
        })
        .collect()
}

/// Hashed gradients for every parameter of `model`.
fn hashed_grads<T: Element>(model: &dyn Module<T>, seed: u64) -> ParamGrads<T> {
    let mut grads = HashMap::new();
    let mut index = 0;
    model.visit("", &mut |_, e| {
        if let Entry::Param(p) = e {
            let v = fixture::unit(seed * 1000 + index, p.value().numel());
            grads.insert(
                p.id(),
                Tensor::from_vec(v, p.value().shape().clone()).cast(),
            );
            index += 1;
        }
    });
    grads
}

/// A momentum SGD that has taken one step on `model` with hashed gradients.
fn sgd_after_a_step<T: Element>(model: &mut dyn Module<T>) -> Sgd<T> {
    let mut sgd = Sgd::new(SgdConfig {
        momentum: 0.9,
        weight_decay: 5e-4,
        ..SgdConfig::new(0.1)
    })
    .unwrap();
    let grads = hashed_grads(model, 9);
    sgd.step(model, &grads);
    sgd
}

fn training_state() -> TrainingState {
    TrainingState {
        epoch: 3,
        step: 42,
        best_metric: Some(0.625),
        rngs: BTreeMap::from([
            ("data".to_string(), (7, 128)),
            ("attack".to_string(), (8, 3)),
        ]),
    }
}

/// The names, dtypes and shapes in a safetensors file's header.
fn header(path: &Path) -> BTreeMap<String, (Dtype, Vec<usize>)> {
    let bytes = fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, v)| (name, (v.dtype(), v.shape().to_vec())))
        .collect()
}

/// Saves a ResNet-18 with moved BatchNorm statistics and counters, momentum buffers, a
/// training state and metadata, and loads it into another: every bit comes back.
fn round_trip<T: Element>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut model = ModelKind::ResNet18.build::<T>(&mut Rng::new(0));
    fill(model.as_mut(), 11);
    let tape = Tape::new();
    let x = Rng::new(3).uniform([2, 3, 32, 32], 0.0, 1.0);
    model.forward(&tape.var(x), &mut Forward::train(&tape, Rng::new(0)));
    let sgd = sgd_after_a_step(model.as_mut());
    let metadata = BTreeMap::from([
        ("model".to_string(), "resnet18".to_string()),
        (
            "config".to_string(),
            r#"{"lr": 0.1, "beta": 6.0}"#.to_string(),
        ),
    ]);
    let extras = Extras {
        optimizer: Some(sgd.state()),
        training: Some(training_state()),
        metadata: metadata.clone(),
    };
    checkpoint::save(&path, model.as_ref(), &extras).unwrap();

    let mut fresh = ModelKind::ResNet18.build::<T>(&mut Rng::new(1));
    let before = snapshot(model.as_ref());
    assert_ne!(before, snapshot(fresh.as_ref()));
    let got = checkpoint::load(&path, fresh.as_mut()).unwrap();
    assert_eq!(snapshot(fresh.as_ref()), before, "bit-exact model");
    let counters: Vec<u64> = before
        .iter()
        .filter(|(n, _)| n.ends_with("num_batches_tracked"))
        .map(|(_, bits)| bits[0])
        .collect();
    assert_eq!(counters.len(), 20);
    assert!(
        counters.iter().all(|&c| c > 3),
        "filled, then counted a batch"
    );
    let state = got.optimizer.expect("optimiser state");
    assert_eq!(state.step, 1);
    assert_eq!(state.buffers.len(), 62, "a momentum buffer per parameter");
    assert_eq!(
        buffer_bits(&state.buffers),
        buffer_bits(&sgd.state().buffers)
    );
    assert_eq!(got.training, Some(training_state()));
    assert_eq!(got.metadata, metadata);
}

#[test]
fn round_trip_is_bit_exact() {
    round_trip::<f32>();
    round_trip::<f64>();
}

/// Saves a hashed WRN-10-1 of type `T`; returns the file's header.
fn save_wrn<T: Element>(path: &Path) -> BTreeMap<String, (Dtype, Vec<usize>)> {
    let mut model = wrn_10_1::<T>(0);
    fill(&mut model, 12);
    checkpoint::save(path, &model, &Extras::default()).unwrap();
    header(path)
}

#[test]
fn files_store_each_type_as_pytorch_does() {
    let dir = tempfile::tempdir().unwrap();
    let (narrow, wide) = (dir.path().join("f32"), dir.path().join("f64"));
    for (h, float) in [
        (save_wrn::<f32>(&narrow), Dtype::F32),
        (save_wrn::<f64>(&wide), Dtype::F64),
    ] {
        assert_eq!(h.len(), 25 + 7 * 3, "parameters, BatchNorm buffers");
        for (name, (dtype, shape)) in h {
            if name.ends_with("num_batches_tracked") {
                assert_eq!((dtype, shape), (Dtype::I64, vec![]), "{name}");
            } else {
                assert_eq!(dtype, float, "{name}");
            }
        }
    }
    // Either type loads into either model; the hashed values are f32-exact, so all agree.
    let mut want = wrn_10_1::<f64>(0);
    fill(&mut want, 12);
    for path in [&narrow, &wide] {
        let mut a = wrn_10_1::<f32>(1);
        checkpoint::load(path, &mut a).unwrap();
        let mut b = wrn_10_1::<f64>(1);
        checkpoint::load(path, &mut b).unwrap();
        assert_eq!(snapshot(&a), snapshot(&want));
        assert_eq!(snapshot(&b), snapshot(&want));
    }
}

#[test]
fn resume_is_exact() {
    // Three steps straight, or two, a checkpoint, a fresh model and optimiser, and one more:
    // the same bits, running statistics, counters and momentum included.
    let batch = |step: u64| {
        let x: Tensor<f32> = Rng::new(100 + step).uniform([4, 3, 32, 32], 0.0, 1.0);
        let labels: Vec<u32> = (0..4).map(|i| ((i + step) % 10) as u32).collect();
        (x, IndexTensor::from_vec(labels, [4]))
    };
    let train_step = |model: &mut dyn Module<f32>, sgd: &mut Sgd<f32>, step: u64| {
        let (x, labels) = batch(step);
        let tape = Tape::new();
        let mut fwd = Forward::train(&tape, Rng::new(step));
        let loss = cross_entropy(&model.forward(&tape.var(x), &mut fwd), &labels);
        let grads = fwd.param_grads(&loss);
        sgd.step(model, &grads);
    };
    let config = SgdConfig {
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: true,
        ..SgdConfig::new(0.05)
    };
    let mut straight = wrn_10_1::<f32>(4);
    let mut sgd = Sgd::new(config).unwrap();
    for step in 0..3 {
        train_step(&mut straight, &mut sgd, step);
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("last.safetensors");
    let mut first = wrn_10_1::<f32>(4);
    let mut sgd_first = Sgd::new(config).unwrap();
    let mut data_rng = Rng::new(5);
    for step in 0..2 {
        train_step(&mut first, &mut sgd_first, step);
        data_rng.below(1000);
    }
    let mut state = TrainingState {
        epoch: 0,
        step: 2,
        best_metric: None,
        rngs: BTreeMap::new(),
    };
    state.rngs.insert("data".into(), data_rng.state());
    let extras = Extras {
        optimizer: Some(sgd_first.state()),
        training: Some(state),
        metadata: BTreeMap::new(),
    };
    checkpoint::save(&path, &first, &extras).unwrap();

    let mut resumed = wrn_10_1::<f32>(99);
    let got = checkpoint::load(&path, &mut resumed).unwrap();
    let mut sgd_resumed = Sgd::new(config).unwrap();
    sgd_resumed.load_state(got.optimizer.unwrap()).unwrap();
    let training = got.training.unwrap();
    train_step(&mut resumed, &mut sgd_resumed, training.step);

    assert_eq!(snapshot(&resumed), snapshot(&straight));
    assert_eq!(
        buffer_bits(&sgd_resumed.state().buffers),
        buffer_bits(&sgd.state().buffers)
    );
    assert_eq!(sgd_resumed.state().step, 3);
    // The saved random stream continues where it stopped.
    let (seed, offset) = training.rngs["data"];
    let mut restored = Rng::from_state(seed, offset);
    let next: Vec<usize> = (0..5).map(|_| restored.below(1000)).collect();
    let want: Vec<usize> = (0..5).map(|_| data_rng.below(1000)).collect();
    assert_eq!(next, want);
}

#[test]
fn saved_names_dtypes_and_shapes_are_pytorchs() {
    // What strict=True loading checks (names, both ways) and what it does not (dtypes), for
    // each model, against PyTorch's state_dict().
    let listing: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(fixture::path("state_dicts.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let models: Vec<(&str, Box<dyn Module<f32>>)> = vec![
        ("smallcnn", ModelKind::SmallCnn.build(&mut Rng::new(0))),
        ("resnet18", ModelKind::ResNet18.build(&mut Rng::new(0))),
        ("wrn-10-1", Box::new(wrn_10_1(0))),
    ];
    for (name, model) in models {
        let path = dir.path().join(format!("{name}.safetensors"));
        checkpoint::save(&path, model.as_ref(), &Extras::default()).unwrap();
        let want: BTreeMap<String, (Dtype, Vec<usize>)> = listing[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let dtype = match e[1].as_str().unwrap() {
                    "float32" => Dtype::F32,
                    "int64" => Dtype::I64,
                    other => panic!("{other}"),
                };
                let shape = e[2]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect();
                (e[0].as_str().unwrap().to_string(), (dtype, shape))
            })
            .collect();
        assert!(want.len() >= 14, "{name}");
        assert_eq!(header(&path), want, "{name}");
    }
}

#[test]
fn pytorch_written_checkpoint_loads() {
    let path = fixture::path("wrn-10-1.torch.safetensors");
    let fx = Fixture::open("wrn-10-1.safetensors");
    // The f32 model gets exactly the hashed values, the counters as written.
    let mut model = wrn_10_1::<f32>(0);
    let extras = checkpoint::load(&path, &mut model).unwrap();
    assert!(extras.optimizer.is_none() && extras.training.is_none());
    assert!(extras.metadata.is_empty(), "'format' is the file's own");
    let mut index = 0;
    model.visit("", &mut |name, e| {
        match e {
            Entry::Param(p) => {
                let want = entry_values(fixture::WRN_SEED, index, name, p.value().dims());
                assert_eq!(p.value().to_vec(), want, "{name}");
            }
            Entry::Buffer(b) => {
                let want = entry_values(fixture::WRN_SEED, index, name, b.dims());
                assert_eq!(b.to_vec(), want, "{name}");
            }
            Entry::Count(c) => assert_eq!(c, count_value(index), "{name}"),
        }
        index += 1;
    });
    let mut hashed = wrn_10_1::<f32>(1);
    fill(&mut hashed, fixture::WRN_SEED);
    assert_eq!(snapshot(&model), snapshot(&hashed));
    // And it computes what PyTorch computes with it.
    let x = fx.tensor::<f32>("input");
    let logits = model
        .forward(&Var::constant(x), &mut Forward::eval())
        .into_value();
    fx.assert_agrees("eval.logits", &logits, 1e-4);
    let mut wide = wrn_10_1::<f64>(0);
    checkpoint::load(&path, &mut wide).unwrap();
    let logits = wide
        .forward(&Var::constant(fx.tensor("input")), &mut Forward::eval())
        .into_value();
    fx.assert_agrees("eval.logits", &logits, 1e-10);
}

#[test]
fn rust_checkpoint_is_the_file_pytorch_loaded() {
    // make_fixtures.py loaded the committed file into PyTorch's WideResNet with strict=True
    // and found PyTorch's dtypes and shapes, the hashed values, the momentum buffers and the
    // training state. Rust must still write the same thing: the same tensors (names, dtypes,
    // shapes, bytes) and metadata. NN_WRITE_RUST_CHECKPOINT=1 writes the file anew.
    let mut model = wrn_10_1::<f32>(0);
    fill(&mut model, fixture::WRN_SEED);
    let mut twin = wrn_10_1::<f32>(0);
    fill(&mut twin, fixture::WRN_SEED);
    let sgd = sgd_after_a_step(&mut twin);
    let extras = Extras {
        optimizer: Some(sgd.state()),
        training: Some(training_state()),
        metadata: BTreeMap::from([("model".to_string(), "wrn-10-1".to_string())]),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrn.safetensors");
    checkpoint::save(&path, &model, &extras).unwrap();
    let committed = fixture::path("wrn-10-1.rust.safetensors");
    if std::env::var_os("NN_WRITE_RUST_CHECKPOINT").is_some() {
        fs::copy(&path, &committed).unwrap();
    }

    let old = fs::read(&committed).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run NN_WRITE_RUST_CHECKPOINT=1 cargo test -p nn --release --test \
             checkpoint, then python3 nn/tests/fixtures/make_fixtures.py to check it in PyTorch",
            committed.display()
        )
    });
    let (new, old) = (fs::read(&path).unwrap(), old);
    let (new, old) = (
        SafeTensors::deserialize(&new).unwrap(),
        SafeTensors::deserialize(&old).unwrap(),
    );
    let tensors = |f: &SafeTensors| -> BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> {
        f.tensors()
            .into_iter()
            .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
            .collect()
    };
    let (new_t, old_t) = (tensors(&new), tensors(&old));
    assert_eq!(new_t.len(), old_t.len());
    let params = parameter_count_of(&model);
    assert_eq!(params, 25);
    assert_eq!(
        new_t.len(),
        state_dict_shapes(&model).len() + params,
        "a momentum buffer per parameter"
    );
    assert!(new_t == old_t, "the tensors differ from the committed file");
    let meta = |p: &Path| {
        let bytes = fs::read(p).unwrap();
        let (_, h) = SafeTensors::read_metadata(&bytes).unwrap();
        h.metadata()
            .clone()
            .unwrap()
            .into_iter()
            .collect::<BTreeMap<_, _>>()
    };
    let new_meta = meta(&path);
    assert_eq!(new_meta, meta(&committed));
    assert_eq!(new_meta["format"], "pt");
}

/// The number of parameter entries.
fn parameter_count_of<T: Element>(model: &dyn Module<T>) -> usize {
    let mut n = 0;
    model.visit("", &mut |_, e| n += matches!(e, Entry::Param(_)) as usize);
    n
}
