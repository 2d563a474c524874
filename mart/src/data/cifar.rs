//! CIFAR-10, binary version: each record is one label byte and 3072 pixel bytes (the 1024 red,
//! then green, then blue values of a 32x32 image, row-major), which is already NCHW order.

use std::path::{Path, PathBuf};

use tensor::Tensor;

use super::idx::{gunzip_if_needed, read_file};
use super::{CLASSES, DataError, Split, unit_pixels};

/// Channels, rows and columns of one image.
const CHW: [usize; 3] = [3, 32, 32];
/// Bytes of one record: the label, then the pixels.
const RECORD: usize = 1 + 3 * 32 * 32;
/// The training batches, in order.
const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch.
const TEST_FILE: &str = "test_batch.bin";
/// The folder the official archive (cifar-10-binary.tar.gz) unpacks to.
const SUBFOLDER: &str = "cifar-10-batches-bin";

/// What `--data-dir` must hold for CIFAR-10, for error messages.
pub(super) fn files_hint() -> String {
    format!(
        "the CIFAR-10 binary version: {} and {TEST_FILE} (directly or in {SUBFOLDER}/), \
         from cifar-10-binary.tar.gz",
        TRAIN_FILES.join(", ")
    )
}

/// `dir` itself if it holds the batches, else its `cifar-10-batches-bin/` subfolder if that does.
fn batches_dir(dir: &Path) -> PathBuf {
    let sub = dir.join(SUBFOLDER);
    if !dir.join(TRAIN_FILES[0]).is_file() && sub.join(TRAIN_FILES[0]).is_file() {
        sub
    } else {
        dir.to_path_buf()
    }
}

/// Appends the records of one batch file to `pixels` and `labels`.
fn read_batch(path: &Path, pixels: &mut Vec<u8>, labels: &mut Vec<u32>) -> Result<(), DataError> {
    let file = read_file(path, &format!("--data-dir must hold {}", files_hint()))?;
    // Records have no header to bound a gzipped batch by: deflate's ratio bounds it.
    let bytes = gunzip_if_needed(path, &file, u64::MAX)?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            detail: format!(
                "{} bytes is not a whole number of {RECORD}-byte records; is it the binary \
                 version (not the Python or MATLAB one), complete? download it again",
                bytes.len()
            ),
        });
    }
    for (index, record) in bytes.chunks_exact(RECORD).enumerate() {
        let label = record[0];
        if usize::from(label) >= CLASSES {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                index,
                label: u32::from(label),
                classes: CLASSES,
            });
        }
        labels.push(u32::from(label));
        pixels.extend_from_slice(&record[1..]);
    }
    Ok(())
}

/// One split from the batch files `names` in `dir`.
fn read_split(dir: &Path, names: &[&str]) -> Result<Split, DataError> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for name in names {
        read_batch(&dir.join(name), &mut pixels, &mut labels)?;
    }
    let n = labels.len();
    Ok(Split {
        images: Tensor::from_vec(unit_pixels(&pixels), [n, CHW[0], CHW[1], CHW[2]]),
        labels: Tensor::from_vec(labels, [n]),
    })
}

/// CIFAR-10's 50,000 training and 10,000 test images from the binary batches in `dir`.
pub(super) fn load_cifar10(dir: &Path) -> Result<(Split, Split), DataError> {
    let dir = batches_dir(dir);
    let train = read_split(&dir, &TRAIN_FILES)?;
    let test = read_split(&dir, &[TEST_FILE])?;
    Ok((train, test))
}
