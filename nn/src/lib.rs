//! `nn`: layers, the paper's models, SGD, learning-rate schedules and checkpoints.
//!
//! A [`Module`] runs forward over [`autograd::Var`]s under a [`Forward`] context that carries
//! the mode (train, eval, attack), and visits its parameters and buffers under their PyTorch
//! `state_dict` names, so checkpoints move between this project and PyTorch unchanged.

pub mod checkpoint;
pub mod layers;
pub mod models;
pub mod module;
pub mod optim;
pub mod schedule;

pub use checkpoint::{CheckpointError, Extras, TrainingState};
pub use layers::{
    AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential,
};
pub use models::{Init, ModelKind, ResNet, SmallCnn, WideResNet};
pub use module::{Entry, EntryMut, Forward, Mode, Module, Param, ParamGrads, ParamId, device_of};
pub use optim::{OptimError, Optimizer, OptimizerState, Sgd, SgdConfig};
pub use schedule::{Schedule, ScheduleError};
