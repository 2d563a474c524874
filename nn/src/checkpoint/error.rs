//! What can go wrong with a checkpoint, in words that say what to do.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A checkpoint that could not be written or read, or that does not fit the model.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read (wrong path, no permission, a folder).
    #[error("cannot read checkpoint {}: {source}{}", .path.display(), read_hint(.source))]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The file was read but is not a valid safetensors file.
    #[error(
        "checkpoint {} is not a valid safetensors file ({reason}): it may be truncated (an \
         interrupted copy or download) or another format; a PyTorch .pt/.pth file must be \
         converted first with safetensors.torch.save_file(torch.load(pt), out)",
        .path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the safetensors reader found wrong.
        reason: String,
    },
    /// A metadata value that cannot be read (e.g. a `training_state` that is not the JSON of
    /// a [`super::TrainingState`]).
    #[error("checkpoint {}: metadata '{key}' cannot be read: {reason}", .path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// The values were read but could not be moved to the model's device (out of GPU memory).
    #[error("checkpoint {}: cannot move the loaded values to {device}: {source}", .path.display())]
    Device {
        /// The file.
        path: PathBuf,
        /// The model's device.
        device: tensor::Device,
        /// The device's error.
        source: tensor::gpu::GpuError,
    },
    /// The file's names, shapes or types differ from the model's; nothing was loaded.
    #[error("{}", mismatch_message(.path, .problems, .file_model.as_deref()))]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Every difference, in the model's order then the file's.
        problems: Vec<Problem>,
        /// The file's `model` metadata, when it names one.
        file_model: Option<String>,
    },
    /// The checkpoint could not be written.
    #[error(
        "cannot write checkpoint {}: {source}; check that the folder exists, is writable and \
         has space",
        .path.display()
    )]
    Write {
        /// The destination.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
}

/// One difference between a checkpoint and a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The model has this entry, the file does not.
    Missing {
        /// The `state_dict` name.
        name: String,
        /// Its shape in the model.
        shape: Vec<usize>,
    },
    /// The file has this entry, the model does not.
    Unexpected {
        /// The name in the file.
        name: String,
        /// Its shape in the file.
        shape: Vec<usize>,
    },
    /// Both have the entry, with different shapes.
    Shape {
        /// The `state_dict` name.
        name: String,
        /// Its shape in the file.
        file: Vec<usize>,
        /// Its shape in the model.
        model: Vec<usize>,
    },
    /// Both have the entry; the file's element type cannot be loaded into it.
    Dtype {
        /// The `state_dict` name.
        name: String,
        /// The file's type (safetensors' name, e.g. `F16`).
        file: String,
        /// What the model's entry accepts.
        expected: &'static str,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { name, shape } => {
                write!(
                    f,
                    "missing    {name} {shape:?}: in the model, not in the file"
                )
            }
            Problem::Unexpected { name, shape } => {
                write!(
                    f,
                    "unexpected {name} {shape:?}: in the file, not in the model"
                )
            }
            Problem::Shape { name, file, model } => {
                write!(
                    f,
                    "shape      {name}: {file:?} in the file, {model:?} in the model"
                )
            }
            Problem::Dtype {
                name,
                file,
                expected,
            } => write!(
                f,
                "dtype      {name}: {file} in the file, the model needs {expected}"
            ),
        }
    }
}

/// A hint for the common read failures.
fn read_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => " (check the path: no such file)",
        io::ErrorKind::PermissionDenied => " (check the file's permissions)",
        _ => "",
    }
}

/// The message of [`CheckpointError::Mismatch`]: every problem on its own line, then hints.
fn mismatch_message(
    path: &std::path::Path,
    problems: &[Problem],
    file_model: Option<&str>,
) -> String {
    let mut text = format!(
        "checkpoint {} does not fit the model ({} problem{}); nothing was loaded:\n",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        text += &format!("  {p}\n");
    }
    text += "Is this a checkpoint of this model? Check the model name and its options (depth, \
             width, WideResNet's sub_block1)";
    if let Some(model) = file_model {
        text += &format!("; the file says it holds a '{model}'");
    }
    let unexpected: Vec<&str> = problems
        .iter()
        .filter_map(|p| match p {
            Problem::Unexpected { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if !unexpected.is_empty() && unexpected.iter().all(|n| n.starts_with("module.")) {
        text += "; its names start with 'module.' (saved from nn.DataParallel): strip that \
                 prefix when converting it";
    }
    text + "."
}
