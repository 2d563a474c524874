//! Reading a checkpoint: check every name, shape and type against the model, then load.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use tensor::{Element, Tensor};

use super::dtype::{count_value, float_tensor, is_float};
use super::parse::parse_file;
use super::{
    CheckpointError, Extras, FORMAT_KEY, OPTIMIZER_PREFIX, OPTIMIZER_STEP_KEY, Problem,
    TRAINING_STATE_KEY,
};
use crate::module::{Entry, EntryMut, Module, device_of};
use crate::optim::OptimizerState;

/// Loads the checkpoint at `path` into `model` (`model.load_state_dict(load_file(path),
/// strict=True)`) and returns what else it carries.
///
/// Every entry of the model must be in the file with the same shape and a loadable type
/// (floats: `F32` or `F64`, converted to `T`; counters: `I64`), and the file may hold nothing
/// else but optimiser state for the model's parameters. Otherwise the error lists every
/// difference, and the model is left as it was.
pub fn load<T: Element>(
    path: impl AsRef<Path>,
    model: &mut dyn Module<T>,
) -> Result<Extras<T>, CheckpointError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (tensors, metadata) = parse_file(&bytes).map_err(|reason| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason,
    })?;
    let views: Views<'_> = tensors.iter().map(|(n, v)| (n.as_str(), v)).collect();

    let problems = check(&*model, &views);
    if !problems.is_empty() {
        return Err(CheckpointError::Mismatch {
            path: path.to_path_buf(),
            problems,
            file_model: metadata.get("model").cloned(),
        });
    }
    // Read the extras before touching the model, so that a bad one leaves it unchanged.
    let extras = extras(path, &views, metadata)?;
    let device = device_of(&*model);
    model.visit_mut("", &mut |name, entry| {
        let v = &views[name];
        match entry {
            EntryMut::Param(p) => *p.value_mut() = float_tensor(v.dtype(), v.shape(), v.data()),
            EntryMut::Buffer(b) => *b = float_tensor(v.dtype(), v.shape(), v.data()),
            EntryMut::Count(c) => *c = count_value(v.data()),
        }
    });
    model
        .to_device(device)
        .map_err(|source| CheckpointError::Device {
            path: path.to_path_buf(),
            device,
            source,
        })?;
    Ok(extras)
}

/// The file's tensors by name.
type Views<'a> = HashMap<&'a str, &'a TensorView<'a>>;

/// Every difference between the file and the model: the model's entries in order, then the
/// file's other names in name order.
fn check<T: Element>(model: &dyn Module<T>, views: &Views<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut known = HashSet::new();
    let mut params = HashMap::new();
    model.visit("", &mut |name, entry| {
        let (shape, counter) = match entry {
            Entry::Param(p) => {
                params.insert(name.to_string(), p.value().dims().to_vec());
                (p.value().dims().to_vec(), false)
            }
            Entry::Buffer(b) => (b.dims().to_vec(), false),
            Entry::Count(_) => (Vec::new(), true),
        };
        known.insert(name.to_string());
        match views.get(name) {
            None => problems.push(Problem::Missing {
                name: name.to_string(),
                shape,
            }),
            Some(v) => problems.extend(compare(name, v, &shape, counter)),
        }
    });
    let mut others: Vec<&str> = views
        .keys()
        .copied()
        .filter(|n| !known.contains(*n))
        .collect();
    others.sort_unstable();
    for name in others {
        let v = &views[name];
        // `optimizer.<kind>.<parameter>` must fit a parameter of the model.
        let param = name
            .strip_prefix(OPTIMIZER_PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(_, param)| params.get(param));
        match param {
            Some(shape) => problems.extend(compare(name, v, shape, false)),
            None => problems.push(Problem::Unexpected {
                name: name.to_string(),
                shape: v.shape().to_vec(),
            }),
        }
    }
    problems
}

/// The type and shape differences of one entry (a counter must be `I64`, anything else a float).
fn compare(name: &str, v: &TensorView<'_>, shape: &[usize], counter: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    let type_ok = if counter {
        v.dtype() == Dtype::I64
    } else {
        is_float(v.dtype())
    };
    if !type_ok {
        problems.push(Problem::Dtype {
            name: name.to_string(),
            file: format!("{:?}", v.dtype()),
            expected: if counter { "I64" } else { "F32 or F64" },
        });
    }
    if v.shape() != shape {
        problems.push(Problem::Shape {
            name: name.to_string(),
            file: v.shape().to_vec(),
            model: shape.to_vec(),
        });
    }
    problems
}

/// The optimiser state, training state and remaining metadata of a checked file.
fn extras<T: Element>(
    path: &Path,
    views: &Views<'_>,
    mut metadata: BTreeMap<String, String>,
) -> Result<Extras<T>, CheckpointError> {
    let bad = |key: &str, reason: String| CheckpointError::Metadata {
        path: path.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    metadata.remove(FORMAT_KEY);
    let step = metadata
        .remove(OPTIMIZER_STEP_KEY)
        .map(|s| {
            s.parse::<u64>()
                .map_err(|e| bad(OPTIMIZER_STEP_KEY, format!("'{s}': {e}")))
        })
        .transpose()?;
    let buffers: BTreeMap<String, Tensor<T>> = views
        .iter()
        .filter_map(|(name, v)| {
            let buffer = name.strip_prefix(OPTIMIZER_PREFIX)?;
            Some((
                buffer.to_string(),
                float_tensor(v.dtype(), v.shape(), v.data()),
            ))
        })
        .collect();
    let optimizer = (step.is_some() || !buffers.is_empty()).then(|| OptimizerState {
        step: step.unwrap_or(0),
        buffers,
    });
    let training = metadata
        .remove(TRAINING_STATE_KEY)
        .map(|json| serde_json::from_str(&json).map_err(|e| bad(TRAINING_STATE_KEY, e.to_string())))
        .transpose()?;
    Ok(Extras {
        optimizer,
        training,
        metadata,
    })
}
