//! The CIFAR-10 loader against batch files written here in the official format, its bad-input
//! errors, and the crop-and-flip augmentation. MNIST, the embedded sample and the errors that
//! name a data set or folder are in `data.rs`.

mod load_error;

use std::collections::BTreeSet;
use std::path::Path;

use load_error::{assert_mentions, load_err};
use mart::data::{DataError, Dataset, augment_crop_flip, load};
use tensor::{Rng, Tensor};

// ---------- writing batch files in the official format ----------

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
