//! Parsing a safetensors file with checked arithmetic and memory in proportion to the file:
//! 8 bytes of little-endian header length, that many bytes of UTF-8 JSON (an object of tensor
//! entries `{"dtype", "shape", "data_offsets"}` and an optional `__metadata__` object of
//! strings), then the tensors' bytes, each tensor right after the one before.
//!
//! The JSON goes straight into typed entries (a shape costs 8 bytes per number, at least 2 bytes
//! of JSON), not through a generic tree (32 bytes per value), so a header of a million `1,`s in
//! a shape costs a few times the file, not 30 times; every size is computed with checked
//! arithmetic, so a forged dimension or offset up to 2^64 - 1 is an error, never an overflow.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

/// The largest header accepted, as the safetensors format bounds it (100 MB).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// One tensor's entry in the header.
#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    /// The element type.
    pub dtype: Dtype,
    /// The dimensions.
    pub shape: Vec<usize>,
    /// The first byte and one past the last byte of its data, counted from the data's start.
    pub data_offsets: (usize, usize),
}

/// What a header says: the tensors in the header's order and the string metadata.
#[derive(Debug, Default)]
pub(super) struct Header {
    /// Each tensor's name and entry.
    pub tensors: Vec<(String, Entry)>,
    /// The `__metadata__` object.
    pub metadata: BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeaderVisitor)
    }
}

/// Reads the header object entry by entry, each into its own type.
struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of tensor entries and __metadata__")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut header = Header::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == "__metadata__" {
                header.metadata = map.next_value()?;
            } else {
                header.tensors.push((key, map.next_value()?));
            }
        }
        Ok(header)
    }
}

/// The length of the header text, from the first 8 bytes of a file of `file_len` bytes.
pub(super) fn header_len(first: [u8; 8], file_len: u64) -> Result<usize, String> {
    let len = u64::from_le_bytes(first);
    if len > MAX_HEADER_BYTES || len > file_len.saturating_sub(8) {
        return Err(format!(
            "the header length at its start ({len} bytes) is impossible for a file of \
             {file_len} bytes"
        ));
    }
    Ok(len as usize)
}

/// The header from its JSON text.
pub(super) fn parse_header(text: &[u8]) -> Result<Header, String> {
    let text = std::str::from_utf8(text)
        .map_err(|e| format!("its header is not valid JSON: it is not UTF-8 ({e})"))?;
    let header: Header = serde_json::from_str(text)
        .map_err(|e| format!("its header is not valid JSON for safetensors: {e}"))?;
    let mut seen = HashSet::new();
    if let Some((name, _)) = header.tensors.iter().find(|(n, _)| !seen.insert(n)) {
        return Err(format!("its header names tensor '{name}' twice"));
    }
    Ok(header)
}

/// A parsed file: its tensors, by name, as views of its bytes, and its string metadata.
pub(super) type Parsed<'a> = (Vec<(String, TensorView<'a>)>, BTreeMap<String, String>);

/// The tensors (as views of `bytes`) and the metadata of the safetensors file `bytes`, after
/// checking that each tensor's offsets are where the one before ends, that they hold exactly its
/// shape's bytes, and that together they are the whole rest of the file.
pub(super) fn parse_file(bytes: &[u8]) -> Result<Parsed<'_>, String> {
    let first: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("shorter than the 8-byte header length")?;
    let len = header_len(first, bytes.len() as u64)?;
    let Header {
        mut tensors,
        metadata,
    } = parse_header(&bytes[8..8 + len])?;
    let data = &bytes[8 + len..];
    tensors.sort_by_key(|(_, e)| e.data_offsets);
    let mut end = 0;
    let mut views = Vec::with_capacity(tensors.len());
    for (name, e) in tensors {
        let (start, stop) = e.data_offsets;
        if start != end || stop < start {
            return Err(format!(
                "tensor '{name}' has data offsets [{start}, {stop}] where the tensors before it \
                 end at byte {end}: tensors must follow each other, without gaps or overlaps"
            ));
        }
        let needed = e
            .shape
            .iter()
            .try_fold(e.dtype.size(), |n, &d| n.checked_mul(d))
            .ok_or_else(|| {
                format!(
                    "tensor '{name}' has a shape {:?} too large to be real",
                    e.shape
                )
            })?;
        if needed != stop - start {
            return Err(format!(
                "tensor '{name}' of shape {:?} and type {:?} needs {needed} bytes but its data \
                 offsets give {}",
                e.shape,
                e.dtype,
                stop - start
            ));
        }
        let slice = data
            .get(start..stop)
            .ok_or_else(|| truncated(stop, data.len()))?;
        let view = TensorView::new(e.dtype, e.shape, slice).map_err(|e| format!("{e:?}"))?;
        views.push((name, view));
        end = stop;
    }
    if end != data.len() {
        return Err(truncated(end, data.len()));
    }
    Ok((views, metadata))
}

/// The reason for data that does not end where the header says.
fn truncated(end: usize, len: usize) -> String {
    format!(
        "its length does not match its header: truncated? (the header's tensors end at byte \
         {end} of the data, which has {len})"
    )
}
