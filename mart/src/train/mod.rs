//! Training: the configuration, the epoch loop with per-epoch evaluation, checkpoints, resume.

pub mod config;
mod defense_kind;
pub mod defenses;
mod lock;
pub mod mixing;
mod run;
pub mod semi_supervised;
mod state;
pub mod step;
mod streams;
pub mod subset;

pub use defenses::build_defense;
pub use mixing::{Mixing, SemiSupervised};
pub use run::{Augment, Outcome, TrainRun};
pub use state::RunState;
pub use step::batch_gradients;
