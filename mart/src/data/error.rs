//! What can go wrong reading a data set, each message naming the file and the fix.

use std::io;
use std::path::PathBuf;

/// A data set that could not be loaded. Every message names the file involved and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file the data set needs is not there.
    #[error("{} not found: {hint}", .path.display())]
    Missing { path: PathBuf, hint: String },

    /// The file exists but could not be read.
    #[error("could not read {}: {source}; check its permissions", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A file that could not be written.
    #[error("could not write {}: {source}; check the folder exists and is writable", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// An IDX file whose magic number is not the one its role needs.
    #[error("{}", bad_magic_message(.path, *.found, *.expected))]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
    },

    /// A file whose length does not fit its format (extra bytes, partial records).
    #[error("{} has the wrong size: {detail}", .path.display())]
    BadSize { path: PathBuf, detail: String },

    /// A file shorter than its header says it should be.
    #[error(
        "{} is truncated: expected {expected} bytes, found {actual}; download it again",
        .path.display()
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },

    /// A label outside `0..classes`.
    #[error(
        "{} holds label {label} at index {index}, but the data set has only {classes} classes \
         (0..{classes}); is this the right file?",
        .path.display()
    )]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u32,
        classes: usize,
    },

    /// An images file and a labels file that do not belong together.
    #[error(
        "{} and {} do not match: {detail}; are both from the same split and download?",
        .images.display(),
        .labels.display()
    )]
    Mismatch {
        images: PathBuf,
        labels: PathBuf,
        detail: String,
    },

    /// A file that starts like gzip but does not decompress.
    #[error("{} is a corrupt gzip file ({source}); download it again", .path.display())]
    Gzip {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A data set name this program does not know.
    #[error("unknown data set {0:?}: expected one of mnist-sample, mnist, cifar10")]
    UnknownDataset(String),

    /// A data set read from disk was asked for without saying where it is, and no default data
    /// folder is known.
    #[error(
        "data set {dataset} is read from disk and no default data folder is known ($MART_DATA \
         is not set and this platform has no cache folder): set MART_DATA=DIR and run \
         `mart data fetch {dataset}`, or pass --data-dir DIR, where DIR holds {files}"
    )]
    NeedsDataDir { dataset: String, files: String },

    /// A data set read from disk is not in its folder under the default data root.
    #[error(
        "data set {dataset} is not in {} (the default data folder; $MART_DATA moves it): \
         run `mart data fetch {dataset}` to download it, or pass --data-dir DIR",
        .dir.display()
    )]
    NotFetched { dataset: String, dir: PathBuf },
}

/// The message for [`DataError::BadMagic`], with a hint when the two IDX roles look swapped.
fn bad_magic_message(path: &std::path::Path, found: u32, expected: u32) -> String {
    let kind = |magic: u32| match magic {
        super::idx::IMAGES_MAGIC => "image",
        super::idx::LABELS_MAGIC => "label",
        _ => "IDX",
    };
    let hint = if kind(found) != "IDX" && found != expected {
        "did you swap the images and labels files?"
    } else {
        "is it an MNIST IDX file? download it again"
    };
    format!(
        "{} is not an MNIST {} file (magic {found}, expected {expected}): {hint}",
        path.display(),
        kind(expected)
    )
}
