//! The part of a training step every data-parallel replica runs on its own share of the batch:
//! the defense's loss, its gradients and the batch's accuracy.

use autograd::Tape;
use autograd::loss::accuracy;
use nn::{Forward, Module, ParamGrads};
use tensor::Rng;

use crate::defense::{Batch, Defense};
use crate::distributed::Reduced;

/// The mean loss of `batch` under `defense`, with the parameters' gradients and the number of
/// correct train-mode predictions; gradients `None` when the loss is not finite. An empty batch
/// (a replica's share of a batch smaller than the world) gives loss 0 and no gradients to add.
/// `rngs` are the dropout stream and the defense's attack stream.
pub fn batch_gradients(
    model: &dyn Module<f32>,
    defense: &mut dyn Defense,
    batch: &Batch<'_>,
    (dropout, attack): (Rng, &mut Rng),
) -> Reduced {
    if batch.indices.is_empty() {
        return (0.0, Some((ParamGrads::new(), 0)));
    }
    // The tape and everything recorded on it live only inside this call.
    let tape = Tape::new();
    let mut fwd = Forward::train(&tape, dropout);
    let out = defense.loss(model, batch, &mut fwd, attack);
    let loss = f64::from(out.loss.value().item());
    if !loss.is_finite() {
        return (loss, None);
    }
    let grads = fwd.param_grads(&out.loss);
    let seen = batch.indices.len() as f64;
    let correct = (accuracy(&out.logits, batch.labels) * seen).round() as usize;
    (loss, Some((grads, correct)))
}
