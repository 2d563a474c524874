//! Defenses: each gives the training loss of a batch, crafting the adversarial examples it needs
//! with the model in attack mode, then running the training forwards in train mode.

pub mod dynamic;
mod logit_pairing;
mod mart;
pub mod mma;
mod natural;
mod standard;
mod trades;
mod treated;

pub use dynamic::{Dynamic, DynamicOptions, dynamic_loss};
pub use logit_pairing::{Alp, Clp, alp_loss, clp_loss, clp_order, smoothed_cross_entropy};
pub use mart::{Mart, MartOptions, mart_loss};
pub use mma::{Mma, MmaOptions};
pub use natural::Natural;
pub use standard::Standard;
pub use trades::{Trades, trades_loss};
pub use treated::{Treated, subset_regularized_loss};

use autograd::Var;
use nn::{Forward, Module};
use tensor::{IndexTensor, Rng, Tensor};

/// One training batch: images, labels, and the examples' positions in the training set (MMA
/// keeps a margin estimate per example).
pub struct Batch<'a> {
    /// Images `[B, C, H, W]` in [0, 1].
    pub images: &'a Tensor<f32>,
    /// Labels `[B]`.
    pub labels: &'a IndexTensor,
    /// Index of each example in the training set.
    pub indices: &'a [usize],
}

/// A batch's training loss and the train-mode logits that describe how the batch went (natural
/// logits for TRADES, MART and MMA; adversarial ones for Standard, which has no natural pass).
pub struct StepLoss<'t> {
    /// The loss, recorded on the training tape.
    pub loss: Var<'t, f32>,
    /// Logits whose accuracy the progress bar shows.
    pub logits: Tensor<f32>,
}

/// A training objective that may craft adversarial examples first.
pub trait Defense {
    /// The name used on the command line.
    fn name(&self) -> &'static str;

    /// The loss of `batch`, recorded on `fwd`'s tape (a train-mode context).
    fn loss<'t>(
        &mut self,
        model: &dyn Module<f32>,
        batch: &Batch<'_>,
        fwd: &mut Forward<'t, f32>,
        rng: &mut Rng,
    ) -> StepLoss<'t>;

    /// Scales the configured radius by `fraction` in (0, 1] for the coming epoch (an eps ramp).
    fn set_radius_fraction(&mut self, fraction: f32);

    /// Told at the start of each epoch (0-based), resumed ones included, before its first
    /// batch: defenses whose constants follow a per-epoch schedule (Dynamic's FOSC threshold)
    /// set them here, from the epoch alone, so a resumed run matches an uninterrupted one.
    fn begin_epoch(&mut self, _epoch: usize) {}

    /// State carried from batch to batch that a resumed run needs (MMA's per-example
    /// margins); empty for stateless defenses.
    fn state(&self) -> Vec<f32> {
        Vec::new()
    }

    /// Restores [`Defense::state`]; an error names what does not fit.
    fn restore(&mut self, state: Vec<f32>) -> Result<(), String> {
        if state.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} keeps no state, but {} values were saved",
                self.name(),
                state.len()
            ))
        }
    }
}
