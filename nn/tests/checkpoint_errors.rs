//! Checkpoints that do not fit: a model's every mismatch with a file listed in one error (names,
//! shapes, dtypes, optimiser buffers), damaged files with clear errors, nothing loaded on
//! failure, and the atomic write that leaves no temporary file. Round trips and PyTorch's side
//! are in `checkpoint.rs`.

mod common;
mod fixture;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use common::{snapshot, wrn_10_1};
use fixture::fill;
use nn::checkpoint::{self, CheckpointError, Problem};
use nn::module::state_dict_shapes;
use nn::{Entry, Extras, ModelKind, Module, WideResNet};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use tensor::{Rng, Tensor};

/// The files in a folder.
fn files_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn resnet18_into_small_cnn_lists_every_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resnet18.safetensors");
    let resnet = ModelKind::ResNet18.build::<f32>(&mut Rng::new(0));
    let extras = Extras {
        metadata: BTreeMap::from([("model".to_string(), "resnet18".to_string())]),
        ..Extras::default()
    };
    checkpoint::save(&path, resnet.as_ref(), &extras).unwrap();
    let mut small = ModelKind::SmallCnn.build::<f32>(&mut Rng::new(0));
    let before = snapshot(small.as_ref());
    let err = checkpoint::load(&path, small.as_mut()).unwrap_err();
    assert_eq!(snapshot(small.as_ref()), before, "nothing loaded");
    let message = err.to_string();
    let CheckpointError::Mismatch {
        problems,
        file_model,
        ..
    } = err
    else {
        panic!("{message}");
    };
    assert_eq!(file_model.as_deref(), Some("resnet18"));
    let small_names = state_dict_shapes(small.as_ref());
    let resnet_names = state_dict_shapes(resnet.as_ref());
    assert_eq!(problems.len(), small_names.len() + resnet_names.len());
    for (name, shape) in &small_names {
        let missing = Problem::Missing {
            name: name.clone(),
            shape: shape.dims().to_vec(),
        };
        assert!(problems.contains(&missing), "{name}");
        assert!(message.contains(&format!("missing    {name} ")), "{name}");
    }
    for (name, shape) in &resnet_names {
        let unexpected = Problem::Unexpected {
            name: name.clone(),
            shape: shape.dims().to_vec(),
        };
        assert!(problems.contains(&unexpected), "{name}");
        assert!(message.contains(&format!("unexpected {name} ")), "{name}");
    }
    assert!(message.contains("136 problems"), "{message}");
    assert!(message.contains("'resnet18'"), "{message}");
    assert!(message.contains(&path.display().to_string()));
}

#[test]
fn shape_and_dtype_mismatches_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    // WRN-10-1 into WRN-10-2: every widened entry with both shapes, and block1's
    // convShortcut, which only the wider model has; in the model's order.
    let path = dir.path().join("wrn-10-1.safetensors");
    checkpoint::save(&path, &wrn_10_1::<f32>(0), &Extras::default()).unwrap();
    let mut wider = WideResNet::<f32>::new(10, 2, 10, false, &mut Rng::new(0));
    let Err(CheckpointError::Mismatch { problems, .. }) = checkpoint::load(&path, &mut wider)
    else {
        panic!("WRN-10-1 loaded into WRN-10-2");
    };
    let narrow: HashMap<String, Vec<usize>> = state_dict_shapes(&wrn_10_1::<f32>(0))
        .into_iter()
        .map(|(n, s)| (n, s.dims().to_vec()))
        .collect();
    let want: Vec<Problem> = state_dict_shapes(&wider)
        .into_iter()
        .filter_map(|(name, shape)| match narrow.get(&name) {
            None => Some(Problem::Missing {
                name,
                shape: shape.dims().to_vec(),
            }),
            Some(file) if file != shape.dims() => Some(Problem::Shape {
                name,
                file: file.clone(),
                model: shape.dims().to_vec(),
            }),
            Some(_) => None,
        })
        .collect();
    assert!(want.contains(&Problem::Missing {
        name: "block1.layer.0.convShortcut.weight".into(),
        shape: vec![32, 16, 1, 1],
    }));
    assert_eq!(want.len(), 34);
    assert_eq!(problems, want);

    // Types: a float counter, an integer weight, an F16 buffer; an optimiser buffer of the
    // wrong shape and one of no parameter.
    let model = wrn_10_1::<f32>(0);
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    model.visit("", &mut |name, e| {
        let (dtype, shape, bytes) = match e {
            Entry::Count(c) if name == "bn1.num_batches_tracked" => {
                (Dtype::F32, vec![], (c as f32).to_le_bytes().to_vec())
            }
            Entry::Count(c) => (Dtype::I64, vec![], c.to_le_bytes().to_vec()),
            Entry::Param(p) if name == "fc.weight" => {
                let n = p.value().numel();
                (Dtype::I32, p.value().dims().to_vec(), vec![0; 4 * n])
            }
            Entry::Buffer(b) if name == "bn1.running_var" => {
                (Dtype::F16, b.dims().to_vec(), vec![0; 2 * b.numel()])
            }
            Entry::Param(p) => (Dtype::F32, p.value().dims().to_vec(), f32_bytes(p.value())),
            Entry::Buffer(b) => (Dtype::F32, b.dims().to_vec(), f32_bytes(b)),
        };
        tensors.push((name.to_string(), dtype, shape, bytes));
    });
    tensors.push((
        "optimizer.momentum.fc.bias".into(),
        Dtype::F32,
        vec![11],
        vec![0; 44],
    ));
    tensors.push((
        "optimizer.momentum.fc.gone".into(),
        Dtype::F32,
        vec![2],
        vec![0; 8],
    ));
    let path = dir.path().join("types.safetensors");
    write_raw(&path, &tensors);
    let mut target = wrn_10_1::<f32>(1);
    let before = snapshot(&target);
    let Err(CheckpointError::Mismatch { problems, .. }) = checkpoint::load(&path, &mut target)
    else {
        panic!("a file with wrong types loaded");
    };
    assert_eq!(snapshot(&target), before, "nothing loaded");
    let dtype = |name: &str, file: &str, expected| Problem::Dtype {
        name: name.into(),
        file: file.into(),
        expected,
    };
    assert_eq!(
        problems,
        vec![
            dtype("bn1.running_var", "F16", "F32 or F64"),
            dtype("bn1.num_batches_tracked", "F32", "I64"),
            dtype("fc.weight", "I32", "F32 or F64"),
            Problem::Shape {
                name: "optimizer.momentum.fc.bias".into(),
                file: vec![11],
                model: vec![10],
            },
            Problem::Unexpected {
                name: "optimizer.momentum.fc.gone".into(),
                shape: vec![2],
            },
        ]
    );
}

fn f32_bytes(t: &Tensor<f32>) -> Vec<u8> {
    t.data().iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes a safetensors file from raw entries.
fn write_raw(path: &Path, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    fs::write(path, safetensors::serialize(views, &None).unwrap()).unwrap();
}

#[test]
fn damaged_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    let model = wrn_10_1::<f32>(0);
    checkpoint::save(&good, &model, &Extras::default()).unwrap();
    let bytes = fs::read(&good).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;

    let mut huge = (u64::MAX / 2).to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    let mut bad_json = 10u64.to_le_bytes().to_vec();
    bad_json.extend_from_slice(b"{\"a\": [1, ");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("half", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        ("header-only", bytes[..8 + header_len].to_vec(), "truncated"),
        ("empty", Vec::new(), "shorter than the 8-byte header"),
        ("huge-header", huge, "header length"),
        ("bad-json", bad_json, "not valid JSON"),
        ("zip", b"PK\x03\x04 a .pt file".to_vec(), "torch.load"),
    ];
    for (name, content, words) in cases {
        let path = dir.path().join(format!("{name}.safetensors"));
        fs::write(&path, &content).unwrap();
        let mut target = wrn_10_1::<f32>(1);
        let before = snapshot(&target);
        let err = checkpoint::load(&path, &mut target).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, CheckpointError::Corrupt { .. }),
            "{name}: {message}"
        );
        assert!(message.contains(words), "{name}: {message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains("not a valid safetensors file"),
            "{message}"
        );
        assert_eq!(snapshot(&target), before, "{name}: nothing loaded");
    }

    let missing = dir.path().join("nowhere.safetensors");
    let err = checkpoint::load(&missing, &mut wrn_10_1::<f32>(1)).unwrap_err();
    assert!(matches!(err, CheckpointError::Read { .. }));
    assert!(err.to_string().contains("no such file"), "{err}");
    let err = checkpoint::load(dir.path(), &mut wrn_10_1::<f32>(1)).unwrap_err();
    assert!(matches!(err, CheckpointError::Read { .. }), "{err}");

    // A training state that is not the JSON of a TrainingState.
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let views = file.tensors();
    let metadata = HashMap::from([("training_state".to_string(), "{\"epoch\": ".to_string())]);
    let path = dir.path().join("bad-state.safetensors");
    fs::write(
        &path,
        safetensors::serialize(views, &Some(metadata)).unwrap(),
    )
    .unwrap();
    let mut target = wrn_10_1::<f32>(1);
    let before = snapshot(&target);
    let err = checkpoint::load(&path, &mut target).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Metadata { key, .. } if key == "training_state"),
        "{err}"
    );
    assert_eq!(snapshot(&target), before, "nothing loaded");
}

#[test]
fn saving_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut model = wrn_10_1::<f32>(0);
    checkpoint::save(&path, &model, &Extras::default()).unwrap();
    assert_eq!(files_in(dir.path()), ["model.safetensors"]);
    // Overwriting replaces the file whole.
    fill(&mut model, 3);
    checkpoint::save(&path, &model, &Extras::default()).unwrap();
    assert_eq!(files_in(dir.path()), ["model.safetensors"]);
    let mut loaded = wrn_10_1::<f32>(1);
    checkpoint::load(&path, &mut loaded).unwrap();
    assert_eq!(snapshot(&loaded), snapshot(&model));

    // A failed write (the destination is a folder, so the rename fails) leaves the folder as it
    // was, with no temporary file, and says where.
    let folder = dir.path().join("taken");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("inside"), b"keep").unwrap();
    let err = checkpoint::save(&folder, &model, &Extras::default()).unwrap_err();
    assert!(matches!(err, CheckpointError::Write { .. }), "{err}");
    assert!(err.to_string().contains("taken"), "{err}");
    assert_eq!(files_in(dir.path()), ["model.safetensors", "taken"]);
    assert_eq!(files_in(&folder), ["inside"]);
    // A folder that does not exist.
    let err = checkpoint::save(
        dir.path().join("no/such/folder/m.safetensors"),
        &model,
        &Extras::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CheckpointError::Write { .. }), "{err}");
    assert_eq!(files_in(dir.path()), ["model.safetensors", "taken"]);
}
