//! The resumable checkpoint of a run: `resume.safetensors` holds the model, the optimiser, the
//! run state and the defense state.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use nn::checkpoint::{self, Extras};

use super::{Parts, TrainRun, build_parts};
use crate::train::state::RunState;

/// Metadata key of the run state in `resume.safetensors`.
const RUN_STATE_KEY: &str = "mart.run_state";
/// Metadata key of the defense's state in `resume.safetensors`.
const DEFENSE_STATE_KEY: &str = "mart.defense_state";

impl TrainRun<'_> {
    /// Writes `resume.safetensors`: model, optimiser, run state and defense state.
    pub(super) fn save_resume(&self, parts: &Parts, state: &RunState) -> Result<()> {
        if !self.leads() {
            return Ok(());
        }
        let mut metadata = BTreeMap::new();
        self.note_world(&mut metadata);
        metadata.insert(RUN_STATE_KEY.to_string(), serde_json::to_string(state)?);
        metadata.insert(
            DEFENSE_STATE_KEY.to_string(),
            serde_json::to_string(&parts.defense.state())?,
        );
        let extras = Extras {
            optimizer: Some(parts.optimizer.state()),
            training: None,
            metadata,
        };
        checkpoint::save(self.out.join("resume.safetensors"), &*parts.model, &extras)?;
        Ok(())
    }

    /// Rebuilds the run in `out` from `resume.safetensors`.
    pub(super) fn load_resume(&self) -> Result<(Parts, RunState)> {
        let path = self.out.join("resume.safetensors");
        let missing = || {
            format!(
                "{} has no resumable run: {} is missing",
                self.out.display(),
                path.display()
            )
        };
        if !path.exists() {
            bail!(missing());
        }
        // The state comes first: it names the model to build before its weights can load.
        let probe = checkpoint::read_header(&path)?.metadata;
        let state: RunState =
            serde_json::from_str(probe.get(RUN_STATE_KEY).with_context(|| {
                format!(
                    "{} holds no run state: was it written by `mart train`?",
                    path.display()
                )
            })?)?;
        self.check_world(&probe)?;
        let train_size = self
            .train
            .1
            .numel()
            .min(state.config.train_limit.unwrap_or(usize::MAX));
        let mut parts = build_parts(&state.config, self.indexed(train_size), self.device)?;
        let extras = checkpoint::load(&path, &mut *parts.model)?;
        if let Some(opt) = extras.optimizer {
            parts.optimizer.load_state(opt)?;
        }
        let defense_state: Vec<f32> =
            serde_json::from_str(probe.get(DEFENSE_STATE_KEY).map_or("[]", String::as_str))?;
        parts
            .defense
            .restore(defense_state)
            .map_err(anyhow::Error::msg)?;
        Ok((parts, state))
    }
}
