//! The data module against files written here in the official formats, the embedded sample
//! against its own gzip files, every bad-input error, and the crop-and-flip augmentation.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use mart::data::{DataError, Dataset, augment_crop_flip, load, load_with_root};
use tensor::{Rng, Tensor};

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

/// Pixel (channel, row, col) of record `r` of batch file `b`.
fn cifar_pixel(b: usize, r: usize, c: usize, row: usize, col: usize) -> u8 {
    ((b * 37 + r * 11 + c * 85 + row * 7 + col * 3) % 256) as u8
}

fn cifar_label(b: usize, r: usize) -> u8 {
    ((b * 2 + r * 5) % 10) as u8
}

/// A batch file of `n` records: label byte, then R, G, B planes, each 32x32 row-major.
fn cifar_batch(b: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for r in 0..n {
        out.push(cifar_label(b, r));
        for c in 0..3 {
            for row in 0..32 {
                for col in 0..32 {
                    out.push(cifar_pixel(b, r, c, row, col));
                }
            }
        }
    }
    out
}

const CIFAR_NAMES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Writes 2 records into each of the six batch files (batch index b = 0..6).
fn write_cifar(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (b, name) in CIFAR_NAMES.iter().enumerate() {
        std::fs::write(dir.join(name), cifar_batch(b, 2)).unwrap();
    }
}

fn check_cifar(data: &Dataset) {
    assert_eq!(data.name, "cifar10");
    assert_eq!(data.classes, 10);
    assert_eq!(data.train.images.dims(), &[10, 3, 32, 32]);
    assert_eq!(data.test.images.dims(), &[2, 3, 32, 32]);
    assert_eq!(data.train.labels.dims(), &[10]);
    assert_eq!(data.test.labels.dims(), &[2]);
    // Training images are batches 1..5 in order, two records each; the test batch is b = 5.
    let records = (0..5).flat_map(|b| (0..2).map(move |r| (b, r)));
    for (split, list) in [
        (&data.train, records.collect::<Vec<_>>()),
        (&data.test, vec![(5, 0), (5, 1)]),
    ] {
        let img = split.images.data();
        for (n, &(b, r)) in list.iter().enumerate() {
            assert_eq!(split.labels.data()[n], u32::from(cifar_label(b, r)));
            for c in 0..3 {
                for row in 0..32 {
                    for col in 0..32 {
                        let at = ((n * 3 + c) * 32 + row) * 32 + col;
                        let want = f32::from(cifar_pixel(b, r, c, row, col)) / 255.0;
                        assert_eq!(img[at], want, "image {n} ({b},{r}) pixel ({c},{row},{col})");
                    }
                }
            }
        }
    }
}

/// The error of `load`, which must fail.
fn load_err(dataset: &str, dir: Option<&Path>) -> DataError {
    match load(dataset, dir) {
        Ok(_) => panic!("loading {dataset} from {dir:?} should fail"),
        Err(e) => e,
    }
}

fn assert_mentions(err: &DataError, parts: &[&str]) {
    let msg = err.to_string();
    for part in parts {
        assert!(
            msg.contains(part),
            "message {msg:?} should mention {part:?}"
        );
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

// ---------- CIFAR-10 ----------

#[test]
fn cifar_loads_exactly_in_rgb_row_major_order() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path());
    check_cifar(&load("cifar10", Some(dir.path())).unwrap());
}

#[test]
fn cifar_loads_from_the_archive_subfolder() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(&dir.path().join("cifar-10-batches-bin"));
    check_cifar(&load("cifar10", Some(dir.path())).unwrap());
}

#[test]
fn cifar_missing_batch_names_it() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path());
    std::fs::remove_file(dir.path().join("data_batch_4.bin")).unwrap();
    let err = load_err("cifar10", Some(dir.path()));
    assert!(matches!(&err, DataError::Missing { path, .. } if path.ends_with("data_batch_4.bin")));
    assert_mentions(
        &err,
        &["data_batch_4.bin", "test_batch.bin", "cifar-10-batches-bin"],
    );
}

#[test]
fn cifar_partial_record_is_bad_size() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path());
    let batch = cifar_batch(5, 2);
    std::fs::write(
        dir.path().join("test_batch.bin"),
        &batch[..batch.len() - 100],
    )
    .unwrap();
    let err = load_err("cifar10", Some(dir.path()));
    assert!(matches!(err, DataError::BadSize { .. }), "{err:?}");
    assert_mentions(&err, &["test_batch.bin", "3073"]);
}

#[test]
fn cifar_label_ten_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path());
    let mut batch = cifar_batch(1, 2);
    batch[3073] = 10; // label of the second record
    std::fs::write(dir.path().join("data_batch_2.bin"), &batch).unwrap();
    let err = load_err("cifar10", Some(dir.path()));
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["data_batch_2.bin"]);
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

// ---------- augmentation ----------

/// Image `n` cropped at `(ox, oy)` from its 4-zero-padded version, then flipped if `flip`.
fn reference_crop(x: &Tensor<f32>, n: usize, ox: usize, oy: usize, flip: bool) -> Vec<f32> {
    let [_, c, h, w] = x.dims() else {
        unreachable!()
    };
    let (c, h, w) = (*c, *h, *w);
    let (ph, pw) = (h + 8, w + 8);
    let mut padded = vec![0.0f32; c * ph * pw];
    for ch in 0..c {
        for r in 0..h {
            for col in 0..w {
                padded[(ch * ph + r + 4) * pw + col + 4] =
                    x.data()[((n * c + ch) * h + r) * w + col];
            }
        }
    }
    let mut out = vec![0.0f32; c * h * w];
    for ch in 0..c {
        for r in 0..h {
            for col in 0..w {
                let v = padded[(ch * ph + r + oy) * pw + col + ox];
                let dst = if flip { w - 1 - col } else { col };
                out[(ch * h + r) * w + dst] = v;
            }
        }
    }
    out
}

/// Distinct, nonzero pixels, so that each crop of each image is unique.
fn test_images(n: usize, c: usize, h: usize, w: usize) -> Tensor<f32> {
    Tensor::from_vec(
        (1..=n * c * h * w).map(|v| v as f32).collect(),
        [n, c, h, w],
    )
}

#[test]
fn augment_output_is_a_padded_crop_possibly_flipped() {
    let (n, c, h, w) = (200, 2, 7, 6);
    let x = test_images(n, c, h, w);
    let mut rng = Rng::new(11);
    let y = augment_crop_flip(&x, &mut rng);
    assert_eq!(y.dims(), x.dims());
    let mut offsets = BTreeSet::new();
    let mut flips = BTreeSet::new();
    let mut draws = Rng::new(11);
    for i in 0..n {
        let got = &y.data()[i * c * h * w..][..c * h * w];
        let matches: Vec<(usize, usize, bool)> = (0..9)
            .flat_map(|ox| (0..9).flat_map(move |oy| [(ox, oy, false), (ox, oy, true)]))
            .filter(|&(ox, oy, flip)| reference_crop(&x, i, ox, oy, flip) == got)
            .collect();
        assert_eq!(matches.len(), 1, "image {i}: {matches:?}");
        let (ox, oy, flip) = matches[0];
        // The documented draw order: ox, oy, then the flip, per image.
        let want = (draws.below(9), draws.below(9), draws.below(2) == 1);
        assert_eq!((ox, oy, flip), want, "image {i}");
        offsets.insert((ox, oy));
        flips.insert(flip);
    }
    assert_eq!(flips.len(), 2, "both flipped and unflipped images occur");
    assert!(
        offsets.len() >= 40,
        "only {} distinct offsets in {n} images",
        offsets.len()
    );
    assert!(offsets.iter().any(|&(ox, _)| ox == 0) && offsets.iter().any(|&(ox, _)| ox == 8));
    assert!(offsets.iter().any(|&(_, oy)| oy == 0) && offsets.iter().any(|&(_, oy)| oy == 8));
}

#[test]
fn augment_is_deterministic_given_the_seed() {
    let x = test_images(32, 3, 32, 32);
    let (mut a, mut b) = (Rng::new(5), Rng::new(5));
    assert_eq!(
        augment_crop_flip(&x, &mut a).data(),
        augment_crop_flip(&x, &mut b).data()
    );
    assert_eq!(a, b, "the two generators advanced alike");
    // The advanced stream gives a different augmentation next time.
    assert_ne!(
        augment_crop_flip(&x, &mut a).data(),
        augment_crop_flip(&x, &mut Rng::new(5)).data()
    );
}
