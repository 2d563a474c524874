//! Unlabelled images and their pseudo-labels (semi-supervised MART, as RST): images from an MNIST
//! IDX images file or a CIFAR-10-style binary file, pseudo-labels as an IDX labels file.

use std::path::Path;

use tensor::{IndexTensor, Tensor};

use super::idx::{
    IMAGES_MAGIC, LABELS_MAGIC, gunzip_if_needed, idx_content, parse_images, parse_labels,
    read_file,
};
use super::{DataError, unit_pixels};

/// Bytes of a CIFAR-10 binary record: one label byte, then 3 x 32 x 32 pixel bytes.
const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;

/// What an unlabelled images file must be, for error messages.
const IMAGES_HINT: &str = "--images / --unlabeled takes an MNIST IDX images file (idx3-ubyte, \
     raw or .gz) or a CIFAR-10-style binary file (records of 1 label byte + 3072 pixel bytes)";

/// Images `[N, C, H, W]` in [0, 1] from `path`: an IDX images file (magic 2051, raw or gzipped)
/// gives `[N, 1, rows, cols]`; any other file whose length is a whole number of 3073-byte
/// records is read as CIFAR-10 binary records, `[N, 3, 32, 32]`, their label bytes ignored.
pub fn load_images(path: &Path) -> Result<Tensor<f32>, DataError> {
    let file = read_file(path, IMAGES_HINT)?;
    // The magic decides the format; an IDX file is then decompressed no further than its
    // header allows, CIFAR-style records (no header) as far as deflate's ratio allows.
    let head = gunzip_if_needed(path, &file, 4)?;
    if head.starts_with(&IMAGES_MAGIC.to_be_bytes()) {
        return parse_images(path, &idx_content(path, &file, IMAGES_MAGIC, 3)?);
    }
    let bytes = gunzip_if_needed(path, &file, u64::MAX)?;
    if bytes.is_empty() || bytes.len() % CIFAR_RECORD != 0 {
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            detail: format!(
                "it is not an IDX images file (no magic {IMAGES_MAGIC}) and its {} bytes are \
                 not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records; {IMAGES_HINT}",
                bytes.len()
            ),
        });
    }
    let n = bytes.len() / CIFAR_RECORD;
    let pixels: Vec<u8> = bytes
        .chunks_exact(CIFAR_RECORD)
        .flat_map(|record| &record[1..])
        .copied()
        .collect();
    Ok(Tensor::from_vec(unit_pixels(&pixels), [n, 3, 32, 32]))
}

/// Labels `[N]` from an IDX labels file (magic 2049, raw or gzipped), each below 10: the
/// format `mart pseudo-label` writes and the MNIST loader reads.
pub fn load_labels(path: &Path) -> Result<IndexTensor, DataError> {
    let file = read_file(
        path,
        "--pseudo-labels takes an IDX labels file (idx1-ubyte)",
    )?;
    parse_labels(path, &idx_content(path, &file, LABELS_MAGIC, 1)?)
}

/// Writes `labels` (each below 256) as an uncompressed IDX labels file: the big-endian magic
/// 2049, the big-endian count, then one byte per label.
pub fn write_labels(path: &Path, labels: &[u32]) -> Result<(), DataError> {
    let mut bytes = header(LABELS_MAGIC, &[labels.len()]);
    bytes.extend(
        labels
            .iter()
            .map(|&l| u8::try_from(l).expect("a class index below 256")),
    );
    write(path, &bytes)
}

/// Writes `images` (`[N, C, H, W]` in [0, 1]) in the format [`load_images`] reads back to the
/// same values: one channel as an uncompressed IDX images file, `[N, 3, 32, 32]` as CIFAR-10
/// binary records whose label byte is `labels[i]`. Pixels are stored as `round(255 v)`.
pub fn write_images(path: &Path, images: &Tensor<f32>, labels: &[u32]) -> Result<(), DataError> {
    let dims = images.dims();
    assert_eq!(
        labels.len(),
        dims[0],
        "write_images: one label per image ({:?} images)",
        dims
    );
    let byte = |v: &f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let bytes = match dims {
        &[n, 1, h, w] => {
            let mut bytes = header(IMAGES_MAGIC, &[n, h, w]);
            bytes.extend(images.data().iter().map(byte));
            bytes
        }
        &[_, 3, 32, 32] => images
            .data()
            .chunks_exact(CIFAR_RECORD - 1)
            .zip(labels)
            .flat_map(|(pixels, &label)| {
                std::iter::once(u8::try_from(label).expect("a class index below 256"))
                    .chain(pixels.iter().map(byte))
            })
            .collect(),
        other => {
            return Err(DataError::BadSize {
                path: path.to_path_buf(),
                detail: format!(
                    "images of shape {other:?} have no file format here: one channel (MNIST) \
                     or 3 x 32 x 32 (CIFAR-10) only"
                ),
            });
        }
    };
    write(path, &bytes)
}

/// An IDX header: the magic and one big-endian u32 per dimension.
fn header(magic: u32, dims: &[usize]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for &d in dims {
        bytes.extend((d as u32).to_be_bytes());
    }
    bytes
}

/// Writes `bytes` to `path`, naming the file in the error.
fn write(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    std::fs::write(path, bytes).map_err(|source| DataError::Write {
        path: path.to_path_buf(),
        source,
    })
}
