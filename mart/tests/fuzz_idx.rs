//! Fuzzed MNIST IDX loading: the four files of a small valid MNIST, raw or gzipped, with one of
//! them damaged (truncated, bytes flipped, inserted or removed, the magic or a dimension forged
//! up to 2^32 - 1, gzipped before or after the damage) must load exactly as an independent
//! reference parser says (the same values, or an error), never panic, and never allocate more
//! than the files justify; a zip bomb and a header claiming ~2^64 or 2^96 bytes are refused
//! before they cost memory.
//!
//! The allocation bound is `fuzz_data`'s (4 and 8 times what the files justify, plus a
//! constant); a gzipped IDX file is decompressed no further than its header allows.
//!
//! `PROPTEST_CASES` sets the cases (256 by default; the README's deep run uses 10,000).

mod fuzz_data;
#[path = "../../nn/tests/fuzz_kit/mod.rs"]
mod fuzz_kit;

use fuzz_data::{Packing, assert_bounded, content, damaged, gzip, justified, packing};
use fuzz_kit::{Mutation, SLACK, Usage, config, forged_u32, measure, mutation};
use mart::data::{DataError, load, load_labels};
use proptest::prelude::*;

const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;
/// File names, in the order [`valid_files`] returns them.
const NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn be(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// A small valid MNIST: 6 training and 3 test images of 4 x 3 pixels, and their labels.
fn valid_files() -> [Vec<u8>; 4] {
    let split = |n: u32, seed: u32| {
        let mut images = be(&[IMAGES_MAGIC, n, 4, 3]);
        images.extend((0..n * 12).map(|p| (p * 37 + seed * 11) as u8));
        let mut labels = be(&[LABELS_MAGIC, n]);
        labels.extend((0..n).map(|i| ((i * 7 + seed) % 10) as u8));
        (images, labels)
    };
    let ((a, b), (c, d)) = (split(6, 1), split(3, 2));
    [a, b, c, d]
}

/// The reference IDX reader: the dimensions and data of a file with this magic and rank whose
/// length is exactly what its header says, or `None`.
fn reference_idx(file: &[u8], magic: u32, rank: usize) -> Option<(Vec<usize>, Vec<u8>)> {
    let bytes = content(file)?;
    let header = 4 * (1 + rank);
    if bytes.len() < header {
        return None;
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
    if word(0) != magic {
        return None;
    }
    let dims: Vec<usize> = (1..=rank).map(|i| word(i) as usize).collect();
    let len: u128 = dims.iter().map(|&d| d as u128).product::<u128>() + header as u128;
    (len == bytes.len() as u128).then(|| (dims, bytes[header..].to_vec()))
}

/// One split as the reference expects it: (images dims, pixels, labels).
type RefSplit = (Vec<usize>, Vec<u8>, Vec<u8>);

/// The reference MNIST: both splits, or `None` if any file is bad, a label is 10 or more, the
/// counts of a split differ, or the two splits' image sizes differ.
fn reference_mnist(files: &[Vec<u8>; 4]) -> Option<(RefSplit, RefSplit)> {
    let split = |images: &[u8], labels: &[u8]| -> Option<RefSplit> {
        let (dims, pixels) = reference_idx(images, IMAGES_MAGIC, 3)?;
        let (count, labels) = reference_idx(labels, LABELS_MAGIC, 1)?;
        let ok = labels.iter().all(|&l| l < 10) && count[0] == dims[0];
        ok.then_some((dims, pixels, labels))
    };
    let train = split(&files[0], &files[1])?;
    let test = split(&files[2], &files[3])?;
    (train.0[1..] == test.0[1..]).then_some((train, test))
}

/// Damage to one file.
#[derive(Clone, Debug)]
enum Damage {
    /// A byte-level change.
    Bytes(Mutation),
    /// Header word `word % (rank + 1)` (0: the magic) set to `value`.
    Word { word: usize, value: u32 },
}

impl Damage {
    fn apply(&self, bytes: &mut Vec<u8>, rank: usize) {
        match self {
            Damage::Bytes(m) => m.apply(bytes),
            Damage::Word { word, value } => {
                let at = 4 * (word % (rank + 1));
                if bytes.len() >= at + 4 {
                    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
                }
            }
        }
    }
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        mutation().prop_map(Damage::Bytes),
        (0..4usize, forged_u32()).prop_map(|(word, value)| Damage::Word { word, value }),
    ]
}

/// The damaged file, the damage, how it is stored, and whether each other file is gzipped.
fn case() -> impl Strategy<Value = (usize, Vec<Damage>, Packing, [bool; 4])> {
    (
        0..4usize,
        proptest::collection::vec(damage(), 1..4),
        packing(),
        any::<[bool; 4]>(),
    )
}

/// `bytes` (of an IDX file with `rank` dimensions) with `damages`, stored as `packing`.
fn damaged_idx(bytes: &[u8], rank: usize, damages: &[Damage], packing: Packing) -> Vec<u8> {
    damaged(bytes, packing, |out| {
        damages.iter().for_each(|d| d.apply(out, rank))
    })
}

/// Writes the four files (file `i` as `NAMES[i].gz` when `gz[i]`) into a new folder.
fn write_mnist(files: &[Vec<u8>; 4], gz: [bool; 4]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for ((name, bytes), gz) in NAMES.iter().zip(files).zip(gz) {
        let name = if gz {
            format!("{name}.gz")
        } else {
            name.to_string()
        };
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

proptest! {
    #![proptest_config(config())]

    /// A damaged file of the set: the loader agrees with the reference, within the bounds.
    #[test]
    fn damaged_mnist_loads_as_the_reference_says(
        (which, damages, packing, gz) in case()
    ) {
        let mut files = valid_files();
        for (i, file) in files.iter_mut().enumerate() {
            let rank = if i % 2 == 0 { 3 } else { 1 };
            *file = if i == which {
                damaged_idx(file, rank, &damages, packing)
            } else if gz[i] {
                gzip(file)
            } else {
                file.clone()
            };
        }
        let dir = write_mnist(&files, gz);
        let (result, usage) = measure(|| load("mnist", Some(dir.path())));
        match (reference_mnist(&files), result) {
            (Some((train, test)), Ok(data)) => {
                for ((dims, pixels, labels), split) in [(train, &data.train), (test, &data.test)] {
                    prop_assert_eq!(split.images.dims(), &[dims[0], 1, dims[1], dims[2]][..]);
                    let want: Vec<f32> = pixels.iter().map(|&b| b as f32 / 255.0).collect();
                    prop_assert_eq!(split.images.data(), &want[..]);
                    let want: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
                    prop_assert_eq!(split.labels.data(), &want[..]);
                }
            }
            (None, Err(_)) => {}
            (want, got) => prop_assert!(
                false,
                "the reference says valid: {}, the loader: {:?}",
                want.is_some(),
                got.map(|_| ())
            ),
        }
        assert_bounded(usage, &files.iter().map(|f| justified(f)).collect::<Vec<_>>());
    }

    /// A damaged labels file read alone (`--pseudo-labels`), raw or gzipped.
    #[test]
    fn damaged_labels_file_loads_as_the_reference_says(
        damages in proptest::collection::vec(damage(), 1..4),
        gzipped in any::<bool>(),
        packing in packing(),
    ) {
        let file = damaged_idx(&valid_files()[1], 1, &damages, packing);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if gzipped { "labels.gz" } else { "labels" });
        std::fs::write(&path, &file).unwrap();
        let (result, usage) = measure(|| load_labels(&path));
        let reference = reference_idx(&file, LABELS_MAGIC, 1)
            .filter(|(_, labels)| labels.iter().all(|&l| l < 10));
        match (reference, result) {
            (Some((_, labels)), Ok(got)) => {
                let want: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
                prop_assert_eq!(got.data(), &want[..]);
            }
            (None, Err(_)) => {}
            (want, got) => prop_assert!(false, "reference {:?}, loader {:?}", want, got),
        }
        assert_bounded(usage, &[justified(&file)]);
    }
}

/// Loads the four files with `files[i]` replaced by `bad`; returns the error and the usage.
fn load_with(i: usize, bad: Vec<u8>, gz: bool) -> (DataError, Usage) {
    let mut files = valid_files();
    files[i] = bad;
    let dir = write_mnist(
        &files,
        [gz && i == 0, gz && i == 1, gz && i == 2, gz && i == 3],
    );
    let (result, usage) = measure(|| load("mnist", Some(dir.path())));
    (result.expect_err("a forged file must be refused"), usage)
}

#[test]
fn headers_claiming_2_to_the_64_or_96_bytes_are_refused_before_allocating() {
    for dims in [
        [u32::MAX; 3],
        [u32::MAX, u32::MAX, 1],
        [1 << 31, 1 << 31, 4],
    ] {
        let mut bad = be(&[IMAGES_MAGIC, dims[0], dims[1], dims[2]]);
        bad.extend([7u8; 100]);
        for gz in [false, true] {
            let file = if gz { gzip(&bad) } else { bad.clone() };
            let (err, usage) = load_with(0, file, gz);
            assert!(
                matches!(err, DataError::BadSize { .. } | DataError::Truncated { .. }),
                "{dims:?}: {err}"
            );
            assert!(usage.largest <= SLACK, "{dims:?} gz {gz}: {usage:?}");
        }
    }
}

#[test]
fn a_zip_bomb_is_decompressed_no_further_than_its_header_allows() {
    // 10 labels claimed, 64 MiB of zero labels given: about 64 KiB gzipped.
    let mut bomb = be(&[LABELS_MAGIC, 10]);
    bomb.resize(64 << 20, 0);
    let file = gzip(&bomb);
    assert!(file.len() < 128 << 10, "the bomb is {} bytes", file.len());
    let (err, usage) = load_with(1, file, true);
    assert!(matches!(err, DataError::BadSize { .. }), "{err}");
    assert!(err.to_string().contains("extra"), "{err}");
    assert!(usage.largest <= SLACK, "{usage:?}");
}
