//! The data module against MNIST files written here in the official formats, the embedded
//! sample against its own gzip files, every bad-input error of the IDX files, and the errors that
//! name a data set or folder. CIFAR-10 and the crop-and-flip augmentation are in `data_cifar.rs`.

mod load_error;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use load_error::{assert_mentions, load_err};
use mart::data::{DataError, Dataset, load, load_with_root};

// ---------- writing files in the official formats ----------

fn be(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn idx_images(n: usize, rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = be(&[2051, n as u32, rows as u32, cols as u32]);
    out.extend_from_slice(pixels);
    out
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = be(&[2049, labels.len() as u32]);
    out.extend_from_slice(labels);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

const ROWS: usize = 4;
const COLS: usize = 3;

/// Pixel `p` (row-major) of image `i` of split `s`.
fn mnist_pixel(s: usize, i: usize, p: usize) -> u8 {
    ((s * 101 + i * 31 + p * 7) % 256) as u8
}

fn mnist_label(s: usize, i: usize) -> u8 {
    ((s * 3 + i * 7) % 10) as u8
}

/// (images file, labels file) bytes of split `s` with `n` images.
fn mnist_split(s: usize, n: usize) -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..n)
        .flat_map(|i| (0..ROWS * COLS).map(move |p| mnist_pixel(s, i, p)))
        .collect();
    let labels: Vec<u8> = (0..n).map(|i| mnist_label(s, i)).collect();
    (idx_images(n, ROWS, COLS, &pixels), idx_labels(&labels))
}

const MNIST_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Writes 5 training and 3 test images, gzipped (with the .gz suffix) or raw.
fn write_mnist(dir: &Path, gz: bool) {
    let (tri, trl) = mnist_split(0, 5);
    let (tei, tel) = mnist_split(1, 3);
    for (name, bytes) in MNIST_NAMES.iter().zip([tri, trl, tei, tel]) {
        if gz {
            std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

fn check_mnist(data: &Dataset) {
    assert_eq!(data.name, "mnist");
    assert_eq!(data.classes, 10);
    for (s, split, n) in [(0, &data.train, 5), (1, &data.test, 3)] {
        assert_eq!(split.images.dims(), &[n, 1, ROWS, COLS]);
        assert_eq!(split.labels.dims(), &[n]);
        for i in 0..n {
            assert_eq!(split.labels.data()[i], u32::from(mnist_label(s, i)));
            for p in 0..ROWS * COLS {
                let want = f32::from(mnist_pixel(s, i, p)) / 255.0;
                assert_eq!(
                    split.images.data()[i * ROWS * COLS + p],
                    want,
                    "split {s} image {i} pixel {p}"
                );
            }
        }
    }
}

// ---------- the embedded sample ----------

#[test]
fn embedded_sample_matches_its_gzip_files() {
    let data = load("mnist-sample", None).unwrap();
    assert_eq!(data.name, "mnist-sample");
    assert_eq!(data.classes, 10);
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-sample");
    for (split, prefix, n) in [(&data.train, "train", 8000), (&data.test, "t10k", 1000)] {
        assert_eq!(split.images.dims(), &[n, 1, 28, 28]);
        assert_eq!(split.labels.dims(), &[n]);
        let images =
            gunzip(&std::fs::read(folder.join(format!("{prefix}-images-idx3-ubyte.gz"))).unwrap());
        let labels =
            gunzip(&std::fs::read(folder.join(format!("{prefix}-labels-idx1-ubyte.gz"))).unwrap());
        // Documented layout: 16-byte header (magic, N, 28, 28), then N*784 pixels; labels after 8 bytes.
        assert_eq!(&images[..16], &be(&[2051, n as u32, 28, 28])[..]);
        assert_eq!(&labels[..8], &be(&[2049, n as u32])[..]);
        assert_eq!(images.len(), 16 + n * 784);
        assert_eq!(labels.len(), 8 + n);
        for i in 0..n {
            assert_eq!(
                split.labels.data()[i],
                u32::from(labels[8 + i]),
                "{prefix} label {i}"
            );
        }
        for (k, (&got, &byte)) in split.images.data().iter().zip(&images[16..]).enumerate() {
            assert_eq!(got, f32::from(byte) / 255.0, "{prefix} pixel {k}");
        }
        assert!(
            split
                .images
                .data()
                .iter()
                .all(|&v| (0.0..=1.0).contains(&v))
        );
        let classes: BTreeSet<u32> = split.labels.data().iter().copied().collect();
        assert_eq!(
            classes,
            (0..10).collect(),
            "{prefix}: every class present, none above 9"
        );
        // Real digits, not blank images: roughly a fifth of the pixels are ink.
        let mean = split.images.data().iter().sum::<f32>() / split.images.numel() as f32;
        assert!((0.05..0.3).contains(&mean), "{prefix} mean pixel {mean}");
    }
}

#[test]
fn embedded_sample_ignores_data_dir() {
    let a = load("mnist-sample", Some(Path::new("/no/such/folder"))).unwrap();
    let b = load("mnist-sample", None).unwrap();
    assert_eq!(a.train.labels.data(), b.train.labels.data());
    assert_eq!(a.test.images.data(), b.test.images.data());
}

// ---------- MNIST from disk ----------

#[test]
fn mnist_raw_files_load_exactly() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), false);
    check_mnist(&load("mnist", Some(dir.path())).unwrap());
}

#[test]
fn mnist_gz_files_load_exactly() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), true);
    check_mnist(&load("mnist", Some(dir.path())).unwrap());
}

#[test]
fn mnist_prefers_raw_over_gz_and_detects_gzip_by_content() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), false);
    // A .gz beside the raw file holding different labels must be ignored.
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte.gz"),
        gzip(&idx_labels(&[9, 9, 9, 9, 9])),
    )
    .unwrap();
    // A gzipped file without the .gz suffix is still read.
    let (_, tel) = mnist_split(1, 3);
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), gzip(&tel)).unwrap();
    check_mnist(&load("mnist", Some(dir.path())).unwrap());
}

#[test]
fn mnist_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), false);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let err = load_err("mnist", Some(dir.path()));
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path.ends_with("t10k-labels-idx1-ubyte"))
    );
    assert_mentions(
        &err,
        &["t10k-labels-idx1-ubyte", ".gz", "train-images-idx3-ubyte"],
    );
}

#[test]
fn mnist_swapped_images_and_labels_is_bad_magic() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), false);
    let (images, labels) = mnist_split(0, 5);
    std::fs::write(dir.path().join("train-images-idx3-ubyte"), &labels).unwrap();
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), &images).unwrap();
    let err = load_err("mnist", Some(dir.path()));
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: 2049,
                expected: 2051,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["train-images-idx3-ubyte", "2049", "2051", "swap"]);
}

#[test]
fn mnist_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), false);
    let (images, _) = mnist_split(0, 5);
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        &images[..images.len() - 1],
    )
    .unwrap();
    let err = load_err("mnist", Some(dir.path()));
    let full = (16 + 5 * ROWS * COLS) as u64;
    assert!(
        matches!(err, DataError::Truncated { expected, actual, .. } if expected == full && actual == full - 1),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &[
            "train-images-idx3-ubyte",
            "truncated",
            &full.to_string(),
            "download it again",
        ],
    );

    // A file too short for its header is truncated too.
    std::fs::write(dir.path().join("train-images-idx3-ubyte"), &images[..10]).unwrap();
    let err = load_err("mnist", Some(dir.path()));
    assert!(
        matches!(
            err,
            DataError::Truncated {
                expected: 16,
                actual: 10,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn mnist_extra_bytes_is_bad_size() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), false);
    let (_, mut labels) = mnist_split(1, 3);
    labels.push(0);
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    let err = load_err("mnist", Some(dir.path()));
    assert!(matches!(err, DataError::BadSize { .. }), "{err:?}");
    assert_mentions(&err, &["t10k-labels-idx1-ubyte", "1 extra"]);
}

#[test]
fn mnist_count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), false);
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx_labels(&[1, 2, 3, 4]),
    )
    .unwrap();
    let err = load_err("mnist", Some(dir.path()));
    assert!(matches!(err, DataError::Mismatch { .. }), "{err:?}");
    assert_mentions(
        &err,
        &[
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "5 images",
            "4 labels",
        ],
    );
}

#[test]
fn mnist_label_ten_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), false);
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx_labels(&[1, 2, 10, 4, 5]),
    )
    .unwrap();
    let err = load_err("mnist", Some(dir.path()));
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 2,
                label: 10,
                classes: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["train-labels-idx1-ubyte", "10"]);
}

#[test]
fn mnist_corrupt_gzip() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist(dir.path(), true);
    let path = dir.path().join("t10k-images-idx3-ubyte.gz");
    let (images, _) = mnist_split(1, 3);
    let good = gzip(&images);
    for bad in [
        [&[0x1f, 0x8b][..], b"this is not deflate data"].concat(),
        good[..good.len() / 2].to_vec(),
    ] {
        std::fs::write(&path, bad).unwrap();
        let err = load_err("mnist", Some(dir.path()));
        assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
        assert_mentions(&err, &["t10k-images-idx3-ubyte.gz", "gzip"]);
    }
}

// ---------- names and folders ----------

#[test]
fn unknown_dataset_is_named() {
    let err = load_err("fashion-mnist", None);
    assert!(matches!(&err, DataError::UnknownDataset(name) if name == "fashion-mnist"));
    assert_mentions(&err, &["fashion-mnist", "mnist-sample", "cifar10"]);
}

#[test]
fn disk_datasets_without_a_data_dir_or_default_root_need_a_data_dir() {
    let err = load_with_root("mnist", None, None).unwrap_err();
    assert!(matches!(&err, DataError::NeedsDataDir { dataset, .. } if dataset == "mnist"));
    assert_mentions(
        &err,
        &[
            "--data-dir",
            "MART_DATA",
            "mart data fetch mnist",
            "train-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ],
    );
    let err = load_with_root("cifar10", None, None).unwrap_err();
    assert!(matches!(&err, DataError::NeedsDataDir { dataset, .. } if dataset == "cifar10"));
    assert_mentions(&err, &["--data-dir", "data_batch_1.bin", "test_batch.bin"]);
}

#[test]
fn disk_datasets_missing_from_the_default_root_name_the_fetch_command() {
    let root = tempfile::tempdir().unwrap();
    // No folder at all, then a folder without the files: both say which command fetches them.
    std::fs::create_dir(root.path().join("mnist")).unwrap();
    for dataset in ["mnist", "cifar10"] {
        let err = load_with_root(dataset, None, Some(root.path())).unwrap_err();
        let dir = root.path().join(dataset);
        assert!(
            matches!(&err, DataError::NotFetched { dataset: d, dir: p } if d == dataset && p == &dir),
            "{err:?}"
        );
        let command = format!("mart data fetch {dataset}");
        assert_mentions(&err, &[&command, &dir.display().to_string(), "--data-dir"]);
    }
    // A file that is there but broken is reported as such, not as "not fetched".
    write_mnist(&root.path().join("mnist"), true);
    std::fs::write(
        root.path().join("mnist/train-images-idx3-ubyte.gz"),
        gzip(b"not an IDX file"),
    )
    .unwrap();
    let err = load_with_root("mnist", None, Some(root.path())).unwrap_err();
    assert!(!matches!(err, DataError::NotFetched { .. }), "{err:?}");
}

#[test]
fn nonexistent_data_dir_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("nope");
    let err = load_err("mnist", Some(&gone));
    assert!(matches!(&err, DataError::Missing { path, .. } if path == &gone));
    assert_mentions(&err, &["nope", "--data-dir"]);
}
