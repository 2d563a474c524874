//! The default data set, `mnist-sample`: 8,000 training and 1,000 test MNIST digits compiled
//! into the binary (see `mart/data/mnist-sample/README.md` for provenance), so that every
//! command works with no download.

use std::path::Path;

use super::idx::split_from_bytes;
use super::{DataError, Split};

const TRAIN_IMAGES: &[u8] = include_bytes!("../../data/mnist-sample/train-images-idx3-ubyte.gz");
const TRAIN_LABELS: &[u8] = include_bytes!("../../data/mnist-sample/train-labels-idx1-ubyte.gz");
const TEST_IMAGES: &[u8] = include_bytes!("../../data/mnist-sample/t10k-images-idx3-ubyte.gz");
const TEST_LABELS: &[u8] = include_bytes!("../../data/mnist-sample/t10k-labels-idx1-ubyte.gz");

/// One embedded split; errors name the file as `mnist-sample/<file> (embedded)`.
fn split(images: (&str, &[u8]), labels: (&str, &[u8])) -> Result<Split, DataError> {
    let name = |file: &str| Path::new("mnist-sample (embedded)").join(file);
    split_from_bytes((&name(images.0), images.1), (&name(labels.0), labels.1))
}

/// The embedded sample's training and test splits.
pub(super) fn load_mnist_sample() -> Result<(Split, Split), DataError> {
    let train = split(
        ("train-images-idx3-ubyte.gz", TRAIN_IMAGES),
        ("train-labels-idx1-ubyte.gz", TRAIN_LABELS),
    )?;
    let test = split(
        ("t10k-images-idx3-ubyte.gz", TEST_IMAGES),
        ("t10k-labels-idx1-ubyte.gz", TEST_LABELS),
    )?;
    Ok((train, test))
}
