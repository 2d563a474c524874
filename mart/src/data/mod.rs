//! Data sets: the embedded MNIST sample, full MNIST and CIFAR-10 from disk (fetched by
//! [`fetch`]), and the training augmentation. Images come out as `[N, C, H, W]` floats in [0, 1] (byte / 255), labels as `[N]`
//! class indices.

mod augment;
mod cifar;
mod embedded;
mod error;
pub mod fetch;
mod idx;
mod unlabeled;

use std::path::Path;

pub use augment::augment_crop_flip;
pub use error::DataError;
pub use unlabeled::{load_images, load_labels, write_images, write_labels};

use tensor::{IndexTensor, Tensor};

/// Classes of every supported data set (digits 0-9, CIFAR-10's ten classes).
const CLASSES: usize = 10;

/// Names accepted by [`load`]; the first is the default.
pub const DATASETS: [&str; 3] = ["mnist-sample", "mnist", "cifar10"];

/// Images and their labels, aligned by index.
#[derive(Clone, Debug)]
pub struct Split {
    /// `[N, C, H, W]`, values in [0, 1].
    pub images: Tensor<f32>,
    /// `[N]`, each below the data set's class count.
    pub labels: IndexTensor,
}

/// A data set: its training and test splits.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The name it was loaded by (one of [`DATASETS`]).
    pub name: String,
    /// The split to train on.
    pub train: Split,
    /// The held-out split to evaluate on.
    pub test: Split,
    /// Number of classes; labels lie in `0..classes`.
    pub classes: usize,
}

/// Loads a data set by name.
///
/// - `mnist-sample`: 8,000 training and 1,000 test MNIST digits embedded in the binary;
///   `data_dir` is ignored.
/// - `mnist`: the four official IDX files in `data_dir` (`train-images-idx3-ubyte`,
///   `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`), each raw or
///   gzipped with a `.gz` suffix (raw is preferred when both exist).
/// - `cifar10`: the binary batches `data_batch_1.bin`..`data_batch_5.bin` and `test_batch.bin` in
///   `data_dir` or in its `cifar-10-batches-bin/` subfolder.
///
/// Without `data_dir`, `mnist` and `cifar10` are read from their folder (named as the data set)
/// under the default data root, [`fetch::default_root`], where `mart data fetch` puts them.
pub fn load(dataset: &str, data_dir: Option<&Path>) -> Result<Dataset, DataError> {
    let root = fetch::default_root().ok();
    load_with_root(dataset, data_dir, root.as_deref())
}

/// [`load`] with `default_root` as the data root used when `data_dir` is `None` (`None`: no
/// default is known, so `data_dir` is needed).
pub fn load_with_root(
    dataset: &str,
    data_dir: Option<&Path>,
    default_root: Option<&Path>,
) -> Result<Dataset, DataError> {
    let (read, files): (ReadFn, String) = match dataset {
        "mnist-sample" => (|_| embedded::load_mnist_sample(), String::new()),
        "mnist" => (idx::load_mnist, idx::mnist_files_hint()),
        "cifar10" => (cifar::load_cifar10, cifar::files_hint()),
        _ => return Err(DataError::UnknownDataset(dataset.to_string())),
    };
    let (train, test) = match (dataset, data_dir, default_root) {
        ("mnist-sample", _, _) => read(Path::new(""))?,
        (_, Some(dir), _) => read(existing_dir(dir, &files)?)?,
        (_, None, Some(root)) => read_fetched(dataset, &root.join(dataset), read)?,
        (_, None, None) => {
            return Err(DataError::NeedsDataDir {
                dataset: dataset.to_string(),
                files,
            });
        }
    };
    Ok(Dataset {
        name: dataset.to_string(),
        train,
        test,
        classes: CLASSES,
    })
}

/// A loader of a data set's two splits from a folder.
type ReadFn = fn(&Path) -> Result<(Split, Split), DataError>;

/// Reads a data set from its folder `dir` under the default root; a missing folder or file
/// becomes [`DataError::NotFetched`], which names the `mart data fetch` command to run.
fn read_fetched(dataset: &str, dir: &Path, read: ReadFn) -> Result<(Split, Split), DataError> {
    let not_fetched = || DataError::NotFetched {
        dataset: dataset.to_string(),
        dir: dir.to_path_buf(),
    };
    if !dir.is_dir() {
        return Err(not_fetched());
    }
    read(dir).map_err(|e| match e {
        DataError::Missing { .. } => not_fetched(),
        other => other,
    })
}

/// `dir` if it is a folder; `files` says what it must hold.
fn existing_dir<'a>(dir: &'a Path, files: &str) -> Result<&'a Path, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir.to_path_buf(),
            hint: format!("--data-dir must be an existing folder holding {files}"),
        });
    }
    Ok(dir)
}

/// Bytes to floats in [0, 1] (`byte / 255`), in one vectorizable pass.
fn unit_pixels(bytes: &[u8]) -> Vec<f32> {
    bytes.iter().map(|&b| f32::from(b) / 255.0).collect()
}
