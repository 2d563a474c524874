//! MNIST's IDX format: a big-endian header (magic, then one u32 per dimension) and raw u8 data,
//! optionally gzipped. Reads the official files and the embedded sample alike.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use tensor::{IndexTensor, Tensor};

use super::{CLASSES, DataError, Split, unit_pixels};

/// Magic of an IDX file of u8 with three dimensions (images: count, rows, columns).
pub(super) const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic of an IDX file of u8 with one dimension (labels: count).
pub(super) const LABELS_MAGIC: u32 = 0x0000_0801;

/// The four files of the official distribution, by (split, role).
pub(super) const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// What `--data-dir` must hold for MNIST, for error messages.
pub(super) fn mnist_files_hint() -> String {
    format!(
        "the four MNIST files {} (each raw or with a .gz suffix)",
        MNIST_FILES.join(", ")
    )
}

/// Reads a file whole; a missing file becomes [`DataError::Missing`] with `hint`.
pub(super) fn read_file(path: &Path, hint: &str) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_path_buf(),
            hint: hint.to_string(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// The content of `bytes`: decompressed if they start with the gzip header (1f 8b), whatever
/// the file is called, else as they are. A raw file is returned whole (it is in memory already);
/// of a gzipped one at most `limit` bytes are decompressed, so that a small file that inflates
/// to far more than its format allows (a "zip bomb") costs no more memory than the caller
/// allows. Without a limit (`u64::MAX`) the output is bounded by deflate's own ratio, at most
/// 1032 bytes per compressed byte.
pub(super) fn gunzip_if_needed<'a>(
    path: &Path,
    bytes: &'a [u8],
    limit: u64,
) -> Result<Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    // MNIST's files inflate about 5 times; reserve that much, never more than the limit.
    let guess = (bytes.len() as u64).saturating_mul(4).min(limit);
    let mut out = Vec::with_capacity(usize::try_from(guess).unwrap_or(0));
    GzDecoder::new(bytes)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(Cow::Owned(out))
}

/// The content of an IDX file with `rank` dimensions, raw or gzipped. Of a gzipped file the
/// header is decompressed first, then no more than the length it implies plus one byte (so that
/// extra data is still noticed): a forged header or a zip bomb is refused before it costs memory.
pub(super) fn idx_content<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    rank: usize,
) -> Result<Cow<'a, [u8]>, DataError> {
    let head = gunzip_if_needed(path, bytes, header_len(rank) as u64)?;
    let (_, expected) = expected_len(path, &head, magic, rank)?;
    gunzip_if_needed(path, bytes, expected.saturating_add(1))
}

/// Bytes of the header of an IDX file with `rank` dimensions: the magic and one u32 each.
fn header_len(rank: usize) -> usize {
    4 * (1 + rank)
}

/// The header's u32 number `i` (0 = magic), big-endian; the caller checked the length.
fn header_word(bytes: &[u8], i: usize) -> u32 {
    let w = &bytes[4 * i..4 * i + 4];
    u32::from_be_bytes([w[0], w[1], w[2], w[3]])
}

/// Checks the magic of an IDX file with `rank` dimensions and returns its dimensions and the
/// length in bytes they imply; `bytes` needs to hold the header only.
fn expected_len(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    rank: usize,
) -> Result<(Vec<usize>, u64), DataError> {
    let header = header_len(rank);
    let truncated = || DataError::Truncated {
        path: path.to_path_buf(),
        expected: header as u64,
        actual: bytes.len() as u64,
    };
    if bytes.len() < 4 {
        return Err(truncated());
    }
    let found = header_word(bytes, 0);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
        });
    }
    if bytes.len() < header {
        return Err(truncated());
    }
    let dims: Vec<usize> = (1..=rank).map(|i| header_word(bytes, i) as usize).collect();
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .and_then(|n| n.checked_add(header as u64))
        .ok_or_else(|| DataError::BadSize {
            path: path.to_path_buf(),
            detail: format!("its header claims dimensions {dims:?}, too large to be real"),
        })?;
    Ok((dims, expected))
}

/// Checks the magic and the exact length of an IDX file with `rank` dimensions and returns the
/// dimensions and the data after the header.
fn parse<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    rank: usize,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let (dims, expected) = expected_len(path, bytes, magic, rank)?;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            detail: format!(
                "its header {dims:?} needs {expected} bytes but it has {actual} \
                 ({} extra); is it a complete, unmodified MNIST file?",
                actual - expected
            ),
        });
    }
    Ok((dims, &bytes[header_len(rank)..]))
}

/// Images `[N, 1, rows, cols]` in [0, 1] from the bytes of an IDX images file.
pub(super) fn parse_images(path: &Path, bytes: &[u8]) -> Result<Tensor<f32>, DataError> {
    let (dims, data) = parse(path, bytes, IMAGES_MAGIC, 3)?;
    Ok(Tensor::from_vec(
        unit_pixels(data),
        [dims[0], 1, dims[1], dims[2]],
    ))
}

/// Labels `[N]` from the bytes of an IDX labels file; each must be below [`CLASSES`].
pub(super) fn parse_labels(path: &Path, bytes: &[u8]) -> Result<IndexTensor, DataError> {
    let (dims, data) = parse(path, bytes, LABELS_MAGIC, 1)?;
    if let Some(index) = data.iter().position(|&l| usize::from(l) >= CLASSES) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: u32::from(data[index]),
            classes: CLASSES,
        });
    }
    Ok(Tensor::from_vec(
        data.iter().map(|&l| u32::from(l)).collect(),
        [dims[0]],
    ))
}

/// One split from the (possibly gzipped) bytes of its images and labels files.
pub(super) fn split_from_bytes(
    (images_path, images): (&Path, &[u8]),
    (labels_path, labels): (&Path, &[u8]),
) -> Result<Split, DataError> {
    let images = parse_images(
        images_path,
        &idx_content(images_path, images, IMAGES_MAGIC, 3)?,
    )?;
    let labels = parse_labels(
        labels_path,
        &idx_content(labels_path, labels, LABELS_MAGIC, 1)?,
    )?;
    let (n_images, n_labels) = (images.dims()[0], labels.dims()[0]);
    if n_images != n_labels {
        return Err(DataError::Mismatch {
            images: images_path.to_path_buf(),
            labels: labels_path.to_path_buf(),
            detail: format!("{n_images} images but {n_labels} labels"),
        });
    }
    Ok(Split { images, labels })
}

/// `dir/name` if it exists, else `dir/name.gz` if that exists, else a [`DataError::Missing`].
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if raw.is_file() {
        Ok(raw)
    } else if gz.is_file() {
        Ok(gz)
    } else {
        Err(DataError::Missing {
            path: raw,
            hint: format!(
                "neither it nor {name}.gz is there; --data-dir must hold {}",
                mnist_files_hint()
            ),
        })
    }
}

/// Reads one split's two files from `dir`.
fn read_split(dir: &Path, images_name: &str, labels_name: &str) -> Result<Split, DataError> {
    let images_path = find(dir, images_name)?;
    let labels_path = find(dir, labels_name)?;
    let hint = format!("--data-dir must hold {}", mnist_files_hint());
    let images = read_file(&images_path, &hint)?;
    let labels = read_file(&labels_path, &hint)?;
    split_from_bytes((&images_path, &images), (&labels_path, &labels))
}

/// The full MNIST set from the official IDX files in `dir`.
pub(super) fn load_mnist(dir: &Path) -> Result<(Split, Split), DataError> {
    let train = read_split(dir, MNIST_FILES[0], MNIST_FILES[1])?;
    let test = read_split(dir, MNIST_FILES[2], MNIST_FILES[3])?;
    let (train_hw, test_hw) = (&train.images.dims()[2..], &test.images.dims()[2..]);
    if train_hw != test_hw {
        return Err(DataError::BadSize {
            path: find(dir, MNIST_FILES[2])?,
            detail: format!(
                "its images are {}x{} but the training images are {}x{}; \
                 are both files from the same data set?",
                test_hw[0], test_hw[1], train_hw[0], train_hw[1]
            ),
        });
    }
    Ok((train, test))
}
