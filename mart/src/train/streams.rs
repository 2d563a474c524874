//! The random streams of a training run and the shape of its data: what the epoch loop and
//! the semi-supervised batches both draw from.

use tensor::{IndexTensor, Rng, Tensor};

/// Independent random streams of a run, each forked from the seed.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    Init = 1,
    Order = 2,
    Attack = 3,
    Dropout = 4,
    Augment = 5,
    Eval = 6,
    /// The permutation of each pass over the labelled set of a semi-supervised run.
    LabelledPass = 7,
    /// The pseudo-labelled draws and the shuffle of each semi-supervised batch.
    Unlabeled = 8,
}

/// The stream `which` at position `at` (an epoch or a step): a pure function of the seed, so a
/// resumed run draws exactly what the uninterrupted run would have.
pub(crate) fn stream(seed: u64, which: Stream, at: u64) -> Rng {
    Rng::new(seed).fork(which as u64).fork(at)
}

/// Images and labels of one split.
pub type Split<'a> = (&'a Tensor<f32>, &'a IndexTensor);
