//! What can go wrong fetching or verifying a data set; every message names the URL or file
//! involved and says what to do.

use std::io;
use std::path::PathBuf;

/// One mirror's failure to deliver a file, kept so that the final error lists every URL tried.
#[derive(Debug)]
pub struct MirrorFailure {
    /// The URL tried.
    pub url: String,
    /// Why it did not deliver the file.
    pub reason: String,
}

/// A fetch or verify that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A data set name the manifest does not hold.
    #[error("unknown data set {0:?}: expected mnist, cifar10 or all")]
    UnknownDataset(String),

    /// Neither `$MART_DATA` nor a platform cache folder is known.
    #[error(
        "no data folder: $MART_DATA is not set and this platform has no cache folder; \
         set MART_DATA=DIR or pass --dir DIR"
    )]
    NoDataFolder,

    /// A file or folder could not be read or written.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Every URL of a file failed.
    #[error("could not download {file}:{}{}", list_failures(.failures), partial_note(.partial))]
    AllMirrorsFailed {
        file: String,
        failures: Vec<MirrorFailure>,
        /// The partial download kept for a later resume, if any, and its length.
        partial: Option<(PathBuf, u64)>,
    },

    /// An archive that does not hold a file the loader needs, or holds it with the wrong size.
    #[error("{} {detail}; delete it and run the fetch again", .archive.display())]
    BadArchive { archive: PathBuf, detail: String },
}

/// `url: reason` for every failure, one indented line each.
fn list_failures(failures: &[MirrorFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("\n  {}: {}", f.url, f.reason))
        .collect()
}

/// The sentence about a kept partial download, or nothing.
fn partial_note(partial: &Option<(PathBuf, u64)>) -> String {
    match partial {
        Some((path, len)) => format!(
            "\n  {len} bytes are kept in {}: run the same command again to resume",
            path.display()
        ),
        None => String::new(),
    }
}

impl FetchError {
    /// An [`FetchError::Io`] for `path`.
    pub(super) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FetchError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
