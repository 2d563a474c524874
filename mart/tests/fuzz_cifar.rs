//! Fuzzed CIFAR-10 loading: the six binary batches of a small valid CIFAR-10 (one to three
//! records each), raw or gzipped, with one batch damaged (truncated into or between records,
//! bytes flipped, inserted or removed, a label byte forged to 10..=255, gzipped before or after
//! the damage) must load exactly as an independent reference says (the same values, or an
//! error), never panic, and never allocate more than the files justify; the same for a damaged
//! CIFAR-style file of unlabelled images (`--unlabeled`).
//!
//! The allocation bound is `fuzz_data`'s (4 and 8 times what the files justify, plus a
//! constant). A record batch has no header: a gzipped one is bounded by deflate's ratio only.
//!
//! `PROPTEST_CASES` sets the cases (256 by default; the README's deep run uses 10,000).

mod fuzz_data;
#[path = "../../nn/tests/fuzz_kit/mod.rs"]
mod fuzz_kit;

use fuzz_data::{Packing, assert_bounded, content, damaged, gzip, justified, packing};
use fuzz_kit::{Mutation, config, measure, mutation};
use mart::data::{load, load_images};
use proptest::prelude::*;
use proptest::sample::Index;

/// Bytes of a record: the label, then 3 x 32 x 32 pixels.
const RECORD: usize = 3073;
/// The batch files, training first.
const NAMES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Batch `b` of a small valid CIFAR-10: `b % 3 + 1` records.
fn valid_batch(b: usize) -> Vec<u8> {
    (0..b % 3 + 1)
        .flat_map(|r| {
            let label = ((b * 3 + r) % 10) as u8;
            std::iter::once(label).chain((0..RECORD - 1).map(move |p| (p * 13 + b * 7 + r) as u8))
        })
        .collect()
}

/// The reference reader of a batch: its (labels, pixels), or `None` unless its content is a
/// nonzero whole number of records with labels below 10.
fn reference_batch(file: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let bytes = content(file)?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return None;
    }
    let labels: Vec<u8> = bytes.chunks(RECORD).map(|r| r[0]).collect();
    let pixels = bytes
        .chunks(RECORD)
        .flat_map(|r| &r[1..])
        .copied()
        .collect();
    labels.iter().all(|&l| l < 10).then_some((labels, pixels))
}

/// Damage to one batch.
#[derive(Clone, Debug)]
enum Damage {
    /// A byte-level change.
    Bytes(Mutation),
    /// The label byte of a record (of those the file holds) set to `value`.
    Label { record: Index, value: u8 },
}

impl Damage {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            Damage::Bytes(m) => m.apply(bytes),
            Damage::Label { record, value } => {
                let records = bytes.len().div_ceil(RECORD);
                if records > 0 {
                    bytes[record.index(records) * RECORD] = *value;
                }
            }
        }
    }
}

fn damages() -> impl Strategy<Value = Vec<Damage>> {
    let damage = prop_oneof![
        mutation().prop_map(Damage::Bytes),
        (any::<Index>(), 10..=255u8).prop_map(|(record, value)| Damage::Label { record, value }),
    ];
    proptest::collection::vec(damage, 1..4)
}

/// `bytes` with `damages`, stored as `packing`.
fn damaged_batch(bytes: &[u8], damages: &[Damage], packing: Packing) -> Vec<u8> {
    damaged(bytes, packing, |out| {
        damages.iter().for_each(|d| d.apply(out))
    })
}

proptest! {
    #![proptest_config(config())]

    /// A damaged batch of the set: the loader agrees with the reference, within the bounds.
    #[test]
    fn damaged_cifar_loads_as_the_reference_says(
        which in 0..6usize,
        damages in damages(),
        packing in packing(),
        gz in any::<[bool; 6]>(),
    ) {
        let files: Vec<Vec<u8>> = (0..6)
            .map(|b| match (b == which, gz[b]) {
                (true, _) => damaged_batch(&valid_batch(b), &damages, packing),
                (false, true) => gzip(&valid_batch(b)),
                (false, false) => valid_batch(b),
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in NAMES.iter().zip(&files) {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let (result, usage) = measure(|| load("cifar10", Some(dir.path())));
        let reference: Option<Vec<(Vec<u8>, Vec<u8>)>> =
            files.iter().map(|f| reference_batch(f)).collect();
        match (reference, result) {
            (Some(batches), Ok(data)) => {
                let (train, test) = batches.split_at(5);
                for (batches, split) in [(train, &data.train), (test, &data.test)] {
                    let labels: Vec<u32> =
                        batches.iter().flat_map(|b| &b.0).map(|&l| l as u32).collect();
                    let pixels: Vec<f32> =
                        batches.iter().flat_map(|b| &b.1).map(|&p| p as f32 / 255.0).collect();
                    prop_assert_eq!(split.images.dims(), &[labels.len(), 3, 32, 32][..]);
                    prop_assert_eq!(split.images.data(), &pixels[..]);
                    prop_assert_eq!(split.labels.data(), &labels[..]);
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

    /// A damaged CIFAR-style file of unlabelled images: records whatever their label bytes,
    /// unless the content now starts with the IDX images magic (then it must be a valid IDX
    /// images file, which a few damaged bytes never make it).
    #[test]
    fn damaged_unlabelled_records_load_as_the_reference_says(
        damages in damages(),
        packing in packing(),
    ) {
        let file = damaged_batch(&valid_batch(2), &damages, packing);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unlabeled.bin");
        std::fs::write(&path, &file).unwrap();
        let (result, usage) = measure(|| load_images(&path));
        let reference = content(&file).filter(|bytes| {
            !bytes.starts_with(&[0, 0, 8, 3]) && !bytes.is_empty() && bytes.len() % RECORD == 0
        });
        match (reference, result) {
            (Some(bytes), Ok(images)) => {
                let pixels: Vec<f32> = bytes
                    .chunks(RECORD)
                    .flat_map(|r| &r[1..])
                    .map(|&p| p as f32 / 255.0)
                    .collect();
                prop_assert_eq!(images.dims(), &[bytes.len() / RECORD, 3, 32, 32][..]);
                prop_assert_eq!(images.data(), &pixels[..]);
            }
            (None, Err(_)) => {}
            (want, got) => prop_assert!(
                false,
                "the reference says valid: {}, the loader: {:?}",
                want.is_some(),
                got.map(|t| t.dims().to_vec())
            ),
        }
        assert_bounded(usage, &[justified(&file)]);
    }
}
