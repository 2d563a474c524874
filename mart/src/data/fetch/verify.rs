//! SHA-256 of files on disk, and the check of a fetched data set against its manifest.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::FetchError;
use super::manifest::DatasetSource;

/// The SHA-256 of the file at `path`, as 64 lowercase hex digits.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let mut file = File::open(path).map_err(|e| FetchError::io("cannot open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| FetchError::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Bytes as lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The state of one file of a fetched data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Present with the published size and digest (for an unpacked member: the expected size).
    Good,
    /// Not there.
    Missing,
    /// There, with another size.
    WrongSize { expected: u64, actual: u64 },
    /// There, with the right size and another SHA-256.
    WrongDigest { expected: String, actual: String },
}

impl std::fmt::Display for FileState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileState::Good => write!(f, "ok"),
            FileState::Missing => write!(f, "missing"),
            FileState::WrongSize { expected, actual } => {
                write!(f, "{actual} bytes, expected {expected}")
            }
            FileState::WrongDigest { expected, actual } => {
                write!(f, "SHA-256 {actual}, expected {expected}")
            }
        }
    }
}

/// One checked file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// Where it should be.
    pub path: PathBuf,
    /// What was found.
    pub state: FileState,
}

/// Checks the file at `path` against a size and, when the size matches and one is given, a
/// SHA-256.
pub fn check_file(path: &Path, size: u64, sha256: Option<&str>) -> Result<FileCheck, FetchError> {
    let state = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileState::Missing,
        Err(e) => return Err(FetchError::io("cannot read", path, e)),
        Ok(meta) if meta.len() != size => FileState::WrongSize {
            expected: size,
            actual: meta.len(),
        },
        Ok(_) => match sha256 {
            Some(expected) => {
                let actual = sha256_file(path)?;
                if actual == expected {
                    FileState::Good
                } else {
                    FileState::WrongDigest {
                        expected: expected.to_string(),
                        actual,
                    }
                }
            }
            None => FileState::Good,
        },
    };
    Ok(FileCheck {
        path: path.to_path_buf(),
        state,
    })
}

/// Checks every downloaded file of `dataset` in `dir` (size and SHA-256) and every unpacked
/// archive member (size), in manifest order.
pub fn verify_dataset(dataset: &DatasetSource, dir: &Path) -> Result<Vec<FileCheck>, FetchError> {
    let mut checks = Vec::new();
    for file in &dataset.files {
        checks.push(check_file(
            &dir.join(&file.name),
            file.size,
            Some(&file.sha256),
        )?);
    }
    if let Some(archive) = &dataset.archive {
        for member in &archive.members {
            checks.push(check_file(&dir.join(&member.path), member.size, None)?);
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_180_2_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::write(&path, b"").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // One million 'a's: spans many buffer refills.
        std::fs::write(&path, vec![b'a'; 1_000_000]).unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn check_file_tells_missing_size_and_digest_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(
            check_file(&path, 3, Some(abc)).unwrap().state,
            FileState::Missing
        );
        std::fs::write(&path, b"abcd").unwrap();
        assert_eq!(
            check_file(&path, 3, Some(abc)).unwrap().state,
            FileState::WrongSize {
                expected: 3,
                actual: 4
            }
        );
        std::fs::write(&path, b"abd").unwrap();
        assert!(matches!(
            check_file(&path, 3, Some(abc)).unwrap().state,
            FileState::WrongDigest { ref expected, .. } if expected == abc
        ));
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            check_file(&path, 3, Some(abc)).unwrap().state,
            FileState::Good
        );
    }
}
