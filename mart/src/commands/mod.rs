//! What `mart train`, `mart eval`, `mart audit`, `mart pseudo-label` and `mart data` do, as
//! library functions: `main.rs` only parses the command line and prints, so the end-to-end tests
//! run exactly the code path of the CLI.

mod audit;
mod data;
mod evaluate;
mod pseudo_label;
mod train;

pub use audit::{AuditOutcome, run_audit};
pub use data::{VerifyReport, fetch_data, is_default_root, verify_data};
pub use evaluate::{AccuracyTable, attack_specs, evaluate, load, run_table};
pub use pseudo_label::{PseudoLabels, pseudo_label, pseudo_labels};
pub use train::{FINAL_EVAL_SEED, RunPlace, TrainReport, train, train_config};

use anyhow::{Context, Result};
use nn::{ModelKind, Module};
use std::path::Path;
use tensor::{Device, Rng};

/// Builds the model `name` and loads the checkpoint at `path` into it (every name and shape is
/// checked; mismatches are listed in one error). A WideResNet checkpoint that holds the unused
/// `sub_block1` group of the published TRADES/MART models gets a model with that group. The
/// model lives on `device`.
pub fn load_model(name: &str, path: &Path, device: Device) -> Result<Box<dyn Module<f32>>> {
    let kind = ModelKind::from_name(name).map_err(anyhow::Error::msg)?;
    let mut model = kind.build_with::<f32>(holds_sub_block1(path), &mut Rng::new(0));
    open_device(device)?;
    model.to_device(device)?;
    nn::checkpoint::load(path, &mut *model)?;
    Ok(model)
}

/// Opens `device` (a no-op for the CPU), so that a missing driver or GPU is reported before any
/// work starts, with the driver's reason.
pub fn open_device(device: Device) -> Result<()> {
    device
        .gpu()
        .with_context(|| format!("cannot use --device {device}"))?;
    Ok(())
}

/// Whether the checkpoint at `path` names a `sub_block1.` tensor, read from its header alone;
/// `false` when the header cannot be read, in which case loading reports the problem.
fn holds_sub_block1(path: &Path) -> bool {
    nn::checkpoint::read_header(path)
        .is_ok_and(|h| h.names.iter().any(|n| n.starts_with("sub_block1.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file holding one f32 scalar per name.
    fn write_file(dir: &Path, names: &[&str]) -> std::path::PathBuf {
        let data = 1.0f32.to_le_bytes();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = names
            .iter()
            .map(|n| {
                let view =
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![], &data)
                        .unwrap();
                (n.to_string(), view)
            })
            .collect();
        let path = dir.join("file.safetensors");
        safetensors::serialize_to_file(views, &None, &path).unwrap();
        path
    }

    #[test]
    fn sub_block1_is_found_in_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let with = write_file(
            dir.path(),
            &["conv1.weight", "sub_block1.layer.0.bn1.weight"],
        );
        assert!(holds_sub_block1(&with));
        let without = write_file(dir.path(), &["conv1.weight", "block1.layer.0.bn1.weight"]);
        assert!(!holds_sub_block1(&without));
        assert!(!holds_sub_block1(&dir.path().join("missing.safetensors")));
    }
}
