//! What the data-set fuzz tests (`fuzz_idx.rs`, `fuzz_cifar.rs`) share: gzip on both sides, what
//! a file justifies, how a damaged file is stored, and the allocation bound.
//!
//! The bound: a file of N bytes whose content is D bytes (D = N when raw) justifies
//! J = max(N, D). The largest single allocation may be 4 J (the content as f32 pixels or u32
//! labels; a decompression buffer grows to at most twice D) plus [`SLACK`]; the peak of live
//! bytes 8 J summed over the files of the set (each file, its content and its tensor) plus
//! `SLACK`. D is measured here by decompressing the whole file, so a loader that stops early
//! (as the IDX loader does at the length its header implies) is held to a looser bound than it
//! keeps; the zip-bomb test holds it to the tight one.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use proptest::prelude::*;

use crate::fuzz_kit::{SLACK, Usage};

/// `bytes` gzipped.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The content of a file as an independent reader sees it: decompressed if it starts with the
/// gzip header (`None` if that fails), else itself.
pub fn content(file: &[u8]) -> Option<Vec<u8>> {
    if !file.starts_with(&[0x1f, 0x8b]) {
        return Some(file.to_vec());
    }
    let mut out = Vec::new();
    GzDecoder::new(file).read_to_end(&mut out).ok()?;
    Some(out)
}

/// What a file justifies: max(its length, the length of its content), the content read as far
/// as it decodes.
pub fn justified(file: &[u8]) -> usize {
    let mut out = Vec::new();
    if file.starts_with(&[0x1f, 0x8b]) {
        let _ = GzDecoder::new(file).read_to_end(&mut out);
    }
    file.len().max(out.len())
}

/// How a damaged file is stored: raw, gzipped after the damage (a valid gzip of bad content),
/// or gzipped before it (a damaged gzip stream).
#[derive(Clone, Copy, Debug)]
pub enum Packing {
    Raw,
    GzipAfter,
    GzipBefore,
}

/// Any [`Packing`].
pub fn packing() -> impl Strategy<Value = Packing> {
    prop_oneof![
        Just(Packing::Raw),
        Just(Packing::GzipAfter),
        Just(Packing::GzipBefore)
    ]
}

/// `bytes` changed by `damage`, stored as `packing`.
pub fn damaged(bytes: &[u8], packing: Packing, damage: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = match packing {
        Packing::GzipBefore => gzip(bytes),
        _ => bytes.to_vec(),
    };
    damage(&mut out);
    match packing {
        Packing::GzipAfter => gzip(&out),
        _ => out,
    }
}

/// Asserts the bound for a load of files justifying `justified` bytes each.
pub fn assert_bounded(usage: Usage, justified: &[usize]) {
    let largest = 4 * justified.iter().max().unwrap() + SLACK;
    let peak = 8 * justified.iter().sum::<usize>() + SLACK;
    assert!(
        usage.largest <= largest && usage.peak <= peak,
        "allocated {usage:?}, beyond the bounds (largest {largest}, peak {peak}) of files \
         justifying {justified:?} bytes"
    );
}
