//! A checkpoint's header alone: its tensor names and string metadata, read without the tensor
//! data, so that a caller can decide which model to build (or whether a WideResNet needs its
//! `sub_block1` group) before it loads a file that may be hundreds of megabytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::CheckpointError;
use super::parse::{header_len, parse_header};

/// What a safetensors header says.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// Every tensor's name, in the header's order.
    pub names: Vec<String>,
    /// The string metadata (`__metadata__`).
    pub metadata: BTreeMap<String, String>,
}

/// Reads the header of the safetensors file at `path`: 8 bytes of little-endian length, then
/// that many bytes of JSON.
pub fn read_header(path: impl AsRef<Path>) -> Result<Header, CheckpointError> {
    let path = path.as_ref();
    let read_error = |source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |reason: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let file_len = file.metadata().map_err(read_error)?.len();
    let mut first = [0u8; 8];
    if file_len < 8 {
        return Err(corrupt("shorter than the 8-byte header length".into()));
    }
    file.read_exact(&mut first).map_err(read_error)?;
    let len = header_len(first, file_len).map_err(corrupt)?;
    // Read what the file holds, no more: the length was checked against the file's size, but
    // the file may shrink meanwhile, and a buffer sized from the header alone could be huge.
    let mut text = Vec::new();
    file.take(len as u64)
        .read_to_end(&mut text)
        .map_err(read_error)?;
    if text.len() < len {
        return Err(corrupt(format!(
            "the file ends {} bytes into its {len}-byte header",
            text.len()
        )));
    }
    let header = parse_header(&text).map_err(corrupt)?;
    Ok(Header {
        names: header.tensors.into_iter().map(|(name, _)| name).collect(),
        metadata: header.metadata,
    })
}
