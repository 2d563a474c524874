//! Semi-supervised batches, as RST's `SemiSupervisedSampler` (yaircarmon/semisup-adv): each batch
//! holds `round(B (1 - fraction))` labelled examples, taken without replacement from a sequence of
//! passes over the labelled set (each pass a fresh permutation), and the rest pseudo-labelled
//! examples drawn uniformly with replacement, shuffled together. An epoch is as many batches as
//! the labelled set fills, `ceil(labelled / B)`, so it costs what a supervised epoch costs.

use tensor::{IndexTensor, Tensor};

pub use crate::train::semi_supervised::{DEFAULT_UNLABELED_FRACTION, SemiSupervised};
use crate::train::streams::{Split, Stream, stream};

/// Checks that a pseudo-labelled set fits a training set: as many labels as images, and images
/// of the training images' shape.
pub fn check_unlabeled(
    train_images: &Tensor<f32>,
    images: &Tensor<f32>,
    labels: &IndexTensor,
) -> Result<(), String> {
    let (n_images, n_labels) = (images.dims()[0], labels.numel());
    if n_images != n_labels || labels.dims().len() != 1 {
        return Err(format!(
            "the unlabeled set has {n_images} images but {n_labels} pseudo-labels: label exactly \
             those images (mart pseudo-label --images-out writes the images it labelled)"
        ));
    }
    if n_images == 0 {
        return Err("the unlabeled set holds no images".into());
    }
    let (have, want) = (&images.dims()[1..], &train_images.dims()[1..]);
    if have != want {
        return Err(format!(
            "the unlabeled images are {have:?} but the training images are {want:?}: use unlabeled \
             images of the training set's kind (MNIST digits or CIFAR-10 images)"
        ));
    }
    Ok(())
}

/// The batch plan of a semi-supervised run. Rows `0..labelled` are the labelled examples;
/// `labelled + j` is pseudo-labelled example `j`.
#[derive(Clone, Copy, Debug)]
pub struct Mixing {
    /// Labelled examples (the first `labelled` of the training set).
    pub labelled: usize,
    /// Pseudo-labelled examples.
    pub unlabeled: usize,
    /// Labelled examples per batch.
    pub labelled_per_batch: usize,
    /// Pseudo-labelled examples per batch.
    pub unlabeled_per_batch: usize,
    /// The run's seed.
    pub seed: u64,
}

impl Mixing {
    /// The plan for `labelled` and `unlabeled` examples under `semi` at `batch_size`.
    pub fn new(
        semi: &SemiSupervised,
        labelled: usize,
        unlabeled: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self, String> {
        let (labelled_per_batch, unlabeled_per_batch) = semi.per_batch(batch_size)?;
        if labelled == 0 || unlabeled == 0 {
            return Err(format!(
                "semi-supervised training needs labelled and unlabeled examples, got {labelled} and {unlabeled}"
            ));
        }
        Ok(Mixing {
            labelled,
            unlabeled,
            labelled_per_batch,
            unlabeled_per_batch,
            seed,
        })
    }

    /// Batches per epoch: `ceil(labelled / batch size)`, as a supervised epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.labelled
            .div_ceil(self.labelled_per_batch + self.unlabeled_per_batch)
    }

    /// The rows of every batch of `epoch` (0-based): a pure function of the seed and the epoch,
    /// so a resumed run draws what the uninterrupted run drew.
    pub fn epoch_rows(&self, epoch: usize) -> Vec<Vec<usize>> {
        let batches = self.batches_per_epoch();
        let per = self.labelled_per_batch;
        // Labelled positions of this epoch in the endless sequence of passes.
        let start = epoch * batches * per;
        let end = start + batches * per;
        let passes = start / self.labelled..end.div_ceil(self.labelled);
        let mut labelled = Vec::with_capacity(passes.len() * self.labelled);
        for pass in passes.clone() {
            let mut order: Vec<usize> = (0..self.labelled).collect();
            stream(self.seed, Stream::LabelledPass, pass as u64).shuffle(&mut order);
            labelled.extend(order);
        }
        let offset = start - passes.start * self.labelled;
        (0..batches)
            .map(|b| {
                let mut rows = labelled[offset + b * per..offset + (b + 1) * per].to_vec();
                let global = (epoch * batches + b) as u64;
                let mut rng = stream(self.seed, Stream::Unlabeled, global);
                rows.extend(
                    (0..self.unlabeled_per_batch)
                        .map(|_| self.labelled + rng.below(self.unlabeled)),
                );
                rng.shuffle(&mut rows);
                rows
            })
            .collect()
    }
}

/// Images and labels of `rows` in their order, where rows below `labelled` index `train` and
/// row `labelled + j` is example `j` of `unlabeled`.
pub(crate) fn gather(
    train: Split<'_>,
    unlabeled: Split<'_>,
    rows: &[usize],
    labelled: usize,
) -> (Tensor<f32>, IndexTensor) {
    // Labelled rows first, then pseudo-labelled ones; then back to the order of `rows`.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rows[i] >= labelled);
    let split = order.partition_point(|&i| rows[i] < labelled);
    let from_train: Vec<usize> = order[..split].iter().map(|&i| rows[i]).collect();
    let from_unlabeled: Vec<usize> = order[split..].iter().map(|&i| rows[i] - labelled).collect();
    let mut back = vec![0; rows.len()];
    for (stacked, &i) in order.iter().enumerate() {
        back[i] = stacked;
    }
    let images = Tensor::concat(
        &[
            &train.0.select_rows(&from_train),
            &unlabeled.0.select_rows(&from_unlabeled),
        ],
        0,
    );
    let labels = Tensor::concat(
        &[
            &train.1.select_rows(&from_train),
            &unlabeled.1.select_rows(&from_unlabeled),
        ],
        0,
    );
    (images.select_rows(&back), labels.select_rows(&back))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_keeps_the_order_of_the_rows() {
        // Training example i holds the value i, pseudo-labelled example j the value 100 + j;
        // labels likewise modulo 10.
        let train_images = Tensor::from_vec((0..6).map(|i| i as f32).collect(), [6, 1, 1, 1]);
        let train_labels = Tensor::from_vec((0..6).collect(), [6]);
        let images = Tensor::from_vec((0..4).map(|j| 100.0 + j as f32).collect(), [4, 1, 1, 1]);
        let labels = Tensor::from_vec((0..4).map(|j| (j + 6) % 10).collect(), [4]);
        // Four labelled examples (rows 0..4), so rows 4.. are pseudo-labelled examples 0..
        let rows = [5, 1, 4, 0, 7, 5, 2];
        let (got_images, got_labels) =
            gather((&train_images, &train_labels), (&images, &labels), &rows, 4);
        assert_eq!(
            got_images.to_vec(),
            [101.0, 1.0, 100.0, 0.0, 103.0, 101.0, 2.0]
        );
        assert_eq!(got_labels.to_vec(), [7, 1, 6, 0, 9, 7, 2]);
    }
}
