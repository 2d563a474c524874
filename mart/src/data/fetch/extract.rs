//! Unpacking a verified `.tar.gz`: only the members the manifest names, each checked for its
//! size, written to `<path>.part` and renamed when whole. Paths on disk come from the manifest,
//! never from the archive, so an entry cannot write outside the data set's folder.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::FetchError;
use super::download::part_path;
use super::manifest::Archive;

/// Unpacks every member of `archive` from the `.tar.gz` at `path` into `dir`, each at its path
/// inside the archive; other entries are skipped. On error no `.part` file is left.
pub fn unpack(path: &Path, archive: &Archive, dir: &Path) -> Result<(), FetchError> {
    let mut parts = Vec::new();
    let result = unpack_members(path, archive, dir, &mut parts);
    if result.is_err() {
        for part in parts.iter().filter(|p| p.exists()) {
            let _ = std::fs::remove_file(part);
        }
    }
    result
}

/// The work of [`unpack`]; every `.part` file it creates is pushed to `parts` first.
fn unpack_members(
    path: &Path,
    archive: &Archive,
    dir: &Path,
    parts: &mut Vec<PathBuf>,
) -> Result<(), FetchError> {
    let bad = |detail: String| FetchError::BadArchive {
        archive: path.to_path_buf(),
        detail,
    };
    let unreadable = |e: std::io::Error| bad(format!("is not a readable .tar.gz ({e})"));
    let file = File::open(path).map_err(|e| FetchError::io("cannot open", path, e))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let mut found = vec![false; archive.members.len()];
    for entry in tar.entries().map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .into_owned();
        let name = name.trim_start_matches("./");
        let Some(index) = archive.members.iter().position(|m| m.path == name) else {
            continue;
        };
        let member = &archive.members[index];
        let size = entry.header().size().map_err(unreadable)?;
        if !entry.header().entry_type().is_file() || size != member.size {
            return Err(bad(format!(
                "holds {name} as a {size}-byte entry of type {:?}, expected a {}-byte file",
                entry.header().entry_type(),
                member.size
            )));
        }
        let target = dir.join(&member.path);
        write_member(entry, &target, member.size, parts).map_err(|e| match e {
            WriteError::Read(e) => unreadable(e),
            WriteError::Fs(e) => e,
        })?;
        found[index] = true;
    }
    let missing: Vec<&str> = archive
        .members
        .iter()
        .zip(&found)
        .filter(|(_, found)| !**found)
        .map(|(m, _)| m.path.as_str())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(bad(format!("lacks {}", missing.join(", "))))
    }
}

/// A member that could not be written: the archive broke, or the disk refused.
enum WriteError {
    Read(std::io::Error),
    Fs(FetchError),
}

/// Copies `size` bytes of `entry` to `target` + `.part`, then renames it to `target`.
fn write_member(
    mut entry: impl Read,
    target: &Path,
    size: u64,
    parts: &mut Vec<PathBuf>,
) -> Result<(), WriteError> {
    let fs = |action, path: &Path| {
        let path = path.to_path_buf();
        move |e| WriteError::Fs(FetchError::io(action, path, e))
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(fs("cannot create", parent))?;
    }
    let part = part_path(target);
    parts.push(part.clone());
    let mut out = File::create(&part).map_err(fs("cannot create", &part))?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut written = 0u64;
    while written < size {
        let want = buffer.len().min((size - written) as usize);
        let n = entry.read(&mut buffer[..want]).map_err(WriteError::Read)?;
        if n == 0 {
            return Err(WriteError::Read(std::io::ErrorKind::UnexpectedEof.into()));
        }
        std::io::Write::write_all(&mut out, &buffer[..n]).map_err(fs("cannot write", &part))?;
        written += n as u64;
    }
    drop(out);
    std::fs::rename(&part, target).map_err(fs("cannot rename to", target))
}
