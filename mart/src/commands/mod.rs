//! What `mart train` and `mart eval` do, as library functions: `main.rs` only parses the command
//! line and prints, so the end-to-end tests run exactly the code path of the CLI.

mod evaluate;
mod train;

pub use evaluate::{AccuracyTable, evaluate};
pub use train::{TrainReport, train};

use anyhow::Result;
use nn::{ModelKind, Module};
use std::path::Path;
use tensor::Rng;

/// Builds the model `name` and loads the checkpoint at `path` into it (every name and shape is
/// checked; mismatches are listed in one error).
pub fn load_model(name: &str, path: &Path) -> Result<Box<dyn Module<f32>>> {
    let kind = ModelKind::from_name(name).map_err(anyhow::Error::msg)?;
    let mut model = kind.build::<f32>(&mut Rng::new(0));
    nn::checkpoint::load(path, &mut *model)?;
    Ok(model)
}
