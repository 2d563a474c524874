//! Writing a checkpoint: the model's `state_dict` and the extras, into a temporary file in the
//! destination's folder that is then renamed over the destination.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use safetensors::{Dtype, View};
use tensor::{Element, Tensor};

use super::dtype::{dtype_of, float_bytes};
use super::{
    CheckpointError, Extras, FORMAT_KEY, OPTIMIZER_PREFIX, OPTIMIZER_STEP_KEY, RESERVED_KEYS,
    TRAINING_STATE_KEY,
};
use crate::module::{Entry, Module};

/// Saves `model`'s `state_dict` and `extras` to `path` (`safetensors.torch.save_file`),
/// atomically: either the old file or the complete new one is there, whatever happens.
///
/// Panics if `extras.metadata` uses one of the checkpoint's own keys (`format`,
/// `optimizer.step`, `training_state`).
pub fn save<T: Element>(
    path: impl AsRef<Path>,
    model: &dyn Module<T>,
    extras: &Extras<T>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let mut items: Vec<(String, Item<T>)> = Vec::new();
    model.visit("", &mut |name, entry| {
        let item = match entry {
            Entry::Param(p) => Item::Float(p.value().clone()),
            Entry::Buffer(b) => Item::Float(b.clone()),
            Entry::Count(c) => Item::Count(c),
        };
        items.push((name.to_string(), item));
    });

    let mut metadata = HashMap::from([(FORMAT_KEY.to_string(), "pt".to_string())]);
    if let Some(optimizer) = &extras.optimizer {
        metadata.insert(OPTIMIZER_STEP_KEY.to_string(), optimizer.step.to_string());
        for (name, buffer) in &optimizer.buffers {
            items.push((
                format!("{OPTIMIZER_PREFIX}{name}"),
                Item::Float(buffer.clone()),
            ));
        }
    }
    if let Some(training) = &extras.training {
        let json = serde_json::to_string(training).expect("a TrainingState always serialises");
        metadata.insert(TRAINING_STATE_KEY.to_string(), json);
    }
    for (key, value) in &extras.metadata {
        assert!(
            !RESERVED_KEYS.contains(&key.as_str()),
            "checkpoint::save: metadata key '{key}' is reserved for the checkpoint itself"
        );
        metadata.insert(key.clone(), value.clone());
    }

    let write_error = |source| CheckpointError::Write {
        path: path.to_path_buf(),
        source,
    };
    let bytes = safetensors::serialize(items, &Some(metadata))
        .map_err(|e| write_error(io::Error::other(e.to_string())))?;
    write_file_atomically(path, &bytes).map_err(write_error)
}

/// One tensor to write; its bytes are made only when the serialiser asks for them, so saving
/// holds one converted tensor at a time besides the file's bytes.
enum Item<T: Element> {
    /// A parameter or float buffer, stored in `T`'s type.
    Float(Tensor<T>),
    /// An integer counter, stored as an `I64` scalar.
    Count(i64),
}

impl<T: Element> View for Item<T> {
    fn dtype(&self) -> Dtype {
        match self {
            Item::Float(_) => dtype_of::<T>(),
            Item::Count(_) => Dtype::I64,
        }
    }

    fn shape(&self) -> &[usize] {
        match self {
            Item::Float(t) => t.dims(),
            Item::Count(_) => &[],
        }
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match self {
            Item::Float(t) => Cow::Owned(float_bytes(t)),
            Item::Count(c) => Cow::Owned(c.to_le_bytes().to_vec()),
        }
    }

    fn data_len(&self) -> usize {
        self.shape().iter().product::<usize>() * self.dtype().size()
    }
}

/// Writes `bytes` to a temporary file next to `path`, flushes it to disk and renames it to
/// `path`; on any failure the temporary file is removed. A reader, or a process killed at any
/// moment, sees the old file or the new one, never a part of one.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".partial-")
        .suffix(".tmp")
        .tempfile_in(folder)?;
    file.write_all(bytes)?;
    // The temporary file is private (0600); the result is an ordinary file, readable like any other.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    file.as_file().sync_all()?;
    file.persist(path)?;
    Ok(())
}
