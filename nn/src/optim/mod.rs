//! Optimisers: they change parameters in place from their gradients (`torch.optim`).
//!
//! An optimiser walks the model with [`Module::visit_mut`], so its per-parameter state (SGD's
//! momentum buffers) is keyed by the parameter's `state_dict` name and can be saved next to the
//! model in a checkpoint and restored for an exact resume.

pub mod adam;
pub mod sgd;

use std::collections::BTreeMap;

use tensor::{Element, Tensor};

use crate::module::{Module, ParamGrads};

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

/// A state buffer on its parameter's device: state restored from a checkpoint is read on the
/// CPU and follows its parameter to the GPU at the first step.
fn beside<T: Element>(buffer: Tensor<T>, param: &Tensor<T>) -> Tensor<T> {
    let device = param.device();
    buffer
        .to_device(device)
        .unwrap_or_else(|e| panic!("optimiser state to {device}: {e}"))
}

/// An optimiser over a model's parameters (`torch.optim.Optimizer`).
pub trait Optimizer<T: Element> {
    /// One update of every parameter that has a gradient in `grads`; parameters without one
    /// are left alone, as PyTorch skips a parameter whose `grad` is `None`.
    fn step(&mut self, model: &mut dyn Module<T>, grads: &ParamGrads<T>);

    /// The current learning rate (`param_groups[0]["lr"]`).
    fn lr(&self) -> f64;

    /// Sets the learning rate, as a schedule does each epoch.
    fn set_lr(&mut self, lr: f64);

    /// A copy of the state needed to resume exactly (`optimizer.state_dict()`).
    fn state(&self) -> OptimizerState<T>;

    /// Restores a state from [`Optimizer::state`] (`optimizer.load_state_dict`).
    fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimError>;
}

/// An optimiser's resumable state: how many steps it took and its per-parameter buffers.
///
/// Buffers are named `<kind>.<parameter state_dict name>`, e.g. `momentum.conv1.weight`, and
/// have the parameter's shape; a checkpoint stores them as `optimizer.<buffer name>`.
#[derive(Clone, Debug, Default)]
pub struct OptimizerState<T: Element> {
    /// Completed [`Optimizer::step`] calls.
    pub step: u64,
    /// Per-parameter buffers by name, in name order.
    pub buffers: BTreeMap<String, Tensor<T>>,
}

/// A bad optimiser setting or state (from the command line or a checkpoint).
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A hyper-parameter PyTorch would also refuse.
    #[error("invalid {optimizer} setting: {reason}")]
    Setting {
        /// The optimiser's name.
        optimizer: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A state buffer this optimiser does not keep (a checkpoint of another optimiser?).
    #[error(
        "{optimizer} keeps no state buffer '{name}': was this state saved by another optimiser?"
    )]
    UnknownBuffer {
        /// The optimiser's name.
        optimizer: &'static str,
        /// The buffer's name.
        name: String,
    },
}
