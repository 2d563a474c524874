//! A checkpoint's header alone: its tensor names and string metadata, read without the tensor
//! data, so that a caller can decide which model to build (or whether a WideResNet needs its
//! `sub_block1` group) before it loads a file that may be hundreds of megabytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::CheckpointError;

/// The largest header accepted, as the safetensors format bounds it (100 MB).
const MAX_HEADER_BYTES: u64 = 100_000_000;

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
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(read_error)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_HEADER_BYTES {
        return Err(corrupt(format!("a header of {len} bytes")));
    }
    let mut text = vec![0u8; len as usize];
    file.read_exact(&mut text).map_err(read_error)?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&text)
        .map_err(|e| corrupt(format!("the header is not a JSON object: {e}")))?;
    let mut header = Header::default();
    for (key, value) in json {
        if key != "__metadata__" {
            header.names.push(key);
            continue;
        }
        let entries = value
            .as_object()
            .ok_or_else(|| corrupt("__metadata__ is not an object".into()))?;
        for (k, v) in entries {
            let v = v
                .as_str()
                .ok_or_else(|| corrupt(format!("metadata '{k}' is not a string")))?;
            header.metadata.insert(k.clone(), v.to_string());
        }
    }
    Ok(header)
}
