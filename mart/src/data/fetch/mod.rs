//! `mart data fetch` and `mart data verify`: downloads MNIST and CIFAR-10 from their official
//! locations and mirrors, checks every file against the SHA-256 compiled into the binary,
//! resumes broken downloads, and unpacks CIFAR-10's archive into the layout the loaders read.
//!
//! Layout under the data root (`--dir`, else `$MART_DATA`, else `<cache>/mart`):
//! `mnist/` holds the four `.gz` IDX files; `cifar10/` holds `cifar-10-binary.tar.gz` (kept so
//! that `verify` can re-check it) and the batches in `cifar10/cifar-10-batches-bin/`.

mod download;
mod error;
mod extract;
mod manifest;
mod verify;

use std::path::{Path, PathBuf};

pub use download::Client;
pub use error::{FetchError, MirrorFailure};
pub use manifest::{Archive, DatasetSource, Manifest, Member, RemoteFile};
pub use verify::{FileCheck, FileState, verify_dataset};

use extract::unpack;
use verify::check_file;

/// The environment variable naming the data root.
pub const DATA_ENV: &str = "MART_DATA";

/// The data root: `$MART_DATA` when set and not empty, else `mart/` in the platform's cache
/// folder (`~/.cache/mart` on Linux, `~/Library/Caches/mart` on macOS).
pub fn default_root() -> Result<PathBuf, FetchError> {
    match std::env::var_os(DATA_ENV) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => dirs::cache_dir()
            .map(|cache| cache.join("mart"))
            .ok_or(FetchError::NoDataFolder),
    }
}

/// What happened to one file of a fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// It was already there with the published digest.
    Kept,
    /// It was downloaded from this URL.
    Downloaded(String),
}

/// What fetching one data set did.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The data set's name.
    pub name: String,
    /// Its folder: what `--data-dir` takes.
    pub dir: PathBuf,
    /// Each file and what happened to it.
    pub files: Vec<(String, FileOutcome)>,
    /// Whether the archive was unpacked in this run.
    pub unpacked: bool,
}

/// Fetches `dataset` into its folder under `root`: files already there with the published
/// digest are kept, the others downloaded (trying the mirrors in order) and verified, and the
/// archive unpacked when its members are not all there. On an error, the folders this call
/// created are removed again if they are empty.
pub fn fetch_dataset(
    dataset: &DatasetSource,
    root: &Path,
    client: &Client,
    progress: bool,
) -> Result<Fetched, FetchError> {
    let dir = root.join(&dataset.folder);
    let created: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    std::fs::create_dir_all(&dir).map_err(|e| FetchError::io("cannot create", &dir, e))?;
    let result = fetch_into(dataset, &dir, client, progress);
    if result.is_err() {
        for folder in created {
            // Only succeeds when nothing was left in it.
            let _ = std::fs::remove_dir(folder);
        }
    }
    result
}

/// The work of [`fetch_dataset`] in the existing folder `dir`.
fn fetch_into(
    dataset: &DatasetSource,
    dir: &Path,
    client: &Client,
    progress: bool,
) -> Result<Fetched, FetchError> {
    let mut files = Vec::new();
    for file in &dataset.files {
        let dest = dir.join(&file.name);
        let check = check_file(&dest, file.size, Some(&file.sha256))?;
        if check.state == FileState::Good {
            files.push((file.name.clone(), FileOutcome::Kept));
            continue;
        }
        if progress && check.state != FileState::Missing {
            eprintln!(
                "{} does not match the published file ({}): downloading it again",
                dest.display(),
                check.state
            );
        }
        let bar = crate::progress::byte_bar(file.size, progress);
        let url = client.download(file, &dataset.urls(file), &dest, &bar);
        bar.finish_and_clear();
        files.push((file.name.clone(), FileOutcome::Downloaded(url?)));
    }
    let mut unpacked = false;
    if let Some(archive) = &dataset.archive {
        let downloaded = files
            .iter()
            .any(|(name, outcome)| name == &archive.file && outcome != &FileOutcome::Kept);
        let mut complete = true;
        for member in &archive.members {
            complete &=
                check_file(&dir.join(&member.path), member.size, None)?.state == FileState::Good;
        }
        if downloaded || !complete {
            if progress {
                eprintln!("unpacking {}", archive.file);
            }
            unpack(&dir.join(&archive.file), archive, dir)?;
            unpacked = true;
        }
    }
    Ok(Fetched {
        name: dataset.name.clone(),
        dir: dir.to_path_buf(),
        files,
        unpacked,
    })
}
