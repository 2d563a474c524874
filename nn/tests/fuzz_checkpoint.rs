//! Fuzzed checkpoint loading: a valid safetensors checkpoint of a small model (a linear layer,
//! a batch norm with its `I64` counter, momentum buffers, a training state and metadata) is
//! damaged (truncated, bytes flipped, inserted or removed, the header length forged up to
//! 2^64 - 1, a shape dimension or a data offset forged up to 2^64 - 1, two tensors given the
//! same or overlapping offsets, a duplicate entry, a dtype changed, non-UTF-8 bytes or deeply
//! nested arrays put in the JSON, the header padded or its metadata grown to a megabyte) and
//! `checkpoint::load` and `checkpoint::read_header` must never panic, never allocate more than
//! the file justifies, refuse every damage that makes the file invalid while leaving the model
//! as it was, and load every damage that leaves it valid (flipped data bytes, padding, big
//! metadata) with exactly the values the file holds.
//!
//! The allocation bound, for a file of N bytes: the largest single allocation 8 N, the peak of
//! live bytes 16 N, each plus [`SLACK`]. The file is read whole (N); its JSON header parses
//! into at most a few times its size (a shape array of one-digit numbers takes 2 bytes per
//! element in the file and 8 in memory, and a growing vector may hold twice that); tensors are
//! copied out of the file once or twice (N each). A header length claiming up to 2^64 - 1 bytes
//! must be refused before anything of that size is allocated.
//!
//! `PROPTEST_CASES` sets the cases (256 by default; the README's deep run uses 10,000).

mod fuzz_kit;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use fuzz_kit::{Mutation, SLACK, Usage, config, forged_u64, measure, mutation};
use nn::checkpoint::{self, read_header};
use nn::layers::{BatchNorm2d, Linear, Sequential};
use nn::{Entry, Extras, Module, OptimizerState, TrainingState};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};
use tensor::{Rng, Tensor};

/// The small model: `0.weight`, `0.bias` (linear), `1.weight`, `1.bias`, `1.running_mean`,
/// `1.running_var`, `1.num_batches_tracked` (batch norm); `seed` sets the linear weights.
fn model(seed: u64) -> Sequential<f32> {
    Sequential::new(vec![
        Box::new(Linear::new(3, 2, &mut Rng::new(seed))),
        Box::new(BatchNorm2d::new(2)),
    ])
}

/// The valid checkpoint's bytes: the model, momentum buffers for the linear layer's
/// parameters, a training state and one metadata entry (saved once).
fn valid_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(save_valid_file)
}

/// Saves the file [`valid_file`] returns.
fn save_valid_file() -> Vec<u8> {
    let buffers = BTreeMap::from([
        (
            "momentum.0.weight".to_string(),
            Tensor::from_vec(vec![0.5, -1.5, 2.5, 3.0, 4.0, -5.0], [2, 3]),
        ),
        (
            "momentum.0.bias".to_string(),
            Tensor::from_vec(vec![0.25, -0.75], [2]),
        ),
    ]);
    let extras = Extras {
        optimizer: Some(OptimizerState { step: 7, buffers }),
        training: Some(TrainingState {
            epoch: 2,
            step: 14,
            best_metric: Some(0.5),
            rngs: BTreeMap::from([("train".to_string(), (3, 4))]),
        }),
        metadata: BTreeMap::from([("model".to_string(), "tiny".to_string())]),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("valid.safetensors");
    checkpoint::save(&path, &model(1), &extras).unwrap();
    std::fs::read(&path).unwrap()
}

/// A file split into its header (parsed) and its data.
fn split(file: &[u8]) -> (Map<String, Value>, Vec<u8>) {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&file[8..8 + n]).unwrap();
    (header, file[8 + n..].to_vec())
}

/// A file of this header text and data.
fn join(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(data);
    out
}

/// The tensor names of a header, sorted.
fn names(header: &Map<String, Value>) -> Vec<String> {
    header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

/// One damage to the checkpoint.
#[derive(Clone, Debug)]
enum Damage {
    /// A byte-level change anywhere in the file.
    Bytes(Mutation),
    /// The header length field set to this.
    HeaderLen(u64),
    /// Axis `axis` of tensor `tensor`'s shape (a new axis for a scalar) set to `value`.
    Shape {
        tensor: Index,
        axis: Index,
        value: u64,
    },
    /// Tensor `tensor`'s data offsets set to these.
    Offsets { tensor: Index, start: u64, end: u64 },
    /// Tensor `to` given the offsets of tensor `from`, shifted by `shift` bytes (overlapping).
    CopyOffsets { from: Index, to: Index, shift: u64 },
    /// A second entry, under a new name, with the same dtype, shape and offsets as `tensor`.
    Duplicate { tensor: Index },
    /// Tensor `tensor`'s dtype set to this name.
    Dtype { tensor: Index, dtype: &'static str },
    /// These bytes (not UTF-8) inserted at a position of the header text.
    NonUtf8 { at: Index, bytes: Vec<u8> },
    /// A tensor entry of `depth` nested arrays added.
    Nested { depth: usize },
    /// `ones` leading 1s added to tensor `tensor`'s shape (same element count, another shape).
    LongShape { tensor: Index, ones: usize },
    /// `spaces` spaces added before or after the header's JSON object (valid).
    Pad { spaces: usize, before: bool },
    /// A metadata entry of `len` bytes added (valid).
    BigMetadata { len: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    let dtypes = prop::sample::select(vec!["F16", "BF16", "F64", "I32", "I64", "U8", "BOOL", "Q4"]);
    let non_utf8 = prop::sample::select(vec![
        vec![0xff],
        vec![0xc3, 0x28],
        vec![0xe2, 0x82],
        vec![0xed, 0xa0, 0x80],
        vec![0xf4, 0x90, 0x80, 0x80],
        vec![0x80],
    ]);
    prop_oneof![
        4 => mutation().prop_map(Damage::Bytes),
        2 => forged_u64().prop_map(Damage::HeaderLen),
        2 => (any::<Index>(), any::<Index>(), forged_u64())
            .prop_map(|(tensor, axis, value)| Damage::Shape { tensor, axis, value }),
        2 => (any::<Index>(), forged_u64(), forged_u64())
            .prop_map(|(tensor, start, end)| Damage::Offsets { tensor, start, end }),
        1 => (any::<Index>(), any::<Index>(), 0..16u64)
            .prop_map(|(from, to, shift)| Damage::CopyOffsets { from, to, shift }),
        1 => any::<Index>().prop_map(|tensor| Damage::Duplicate { tensor }),
        1 => (any::<Index>(), dtypes).prop_map(|(tensor, dtype)| Damage::Dtype { tensor, dtype }),
        1 => (any::<Index>(), non_utf8).prop_map(|(at, bytes)| Damage::NonUtf8 { at, bytes }),
        1 => (100..20_000usize).prop_map(|depth| Damage::Nested { depth }),
        1 => (any::<Index>(), 1..20_000usize)
            .prop_map(|(tensor, ones)| Damage::LongShape { tensor, ones }),
        1 => (0..65_536usize, any::<bool>())
            .prop_map(|(spaces, before)| Damage::Pad { spaces, before }),
        1 => (1..(1usize << 20)).prop_map(|len| Damage::BigMetadata { len }),
    ]
}

/// What loading a damaged file must do.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Be refused, the model unchanged.
    Refused,
    /// Load the values of the file's (possibly flipped) data.
    Loaded,
    /// Either (a damage whose validity this test does not work out, e.g. a flip in the JSON).
    Either,
}

/// Tensor `index` (of the sorted names) of a header: its name and its entry.
fn entry<'a>(header: &'a mut Map<String, Value>, index: &Index) -> &'a mut Map<String, Value> {
    let names = names(header);
    let name = &names[index.index(names.len())];
    header[name].as_object_mut().unwrap()
}

/// `valid` with `damage`, and what loading it must do.
fn apply(valid: &[u8], damage: &Damage) -> (Vec<u8>, Expect) {
    let (mut header, data) = split(valid);
    let header_end = valid.len() - data.len();
    let unchanged = header.clone();
    let rejoin = |header: &Map<String, Value>| join(&serde_json::to_vec(header).unwrap(), &data);
    match damage {
        Damage::Bytes(m) => {
            let mut out = valid.to_vec();
            m.apply(&mut out);
            let expect = match m {
                _ if out == valid => Expect::Loaded,
                Mutation::Truncate(_) | Mutation::Append(_) => Expect::Refused,
                Mutation::Flip(at, _) if at.index(valid.len()) >= header_end => Expect::Loaded,
                _ => Expect::Either,
            };
            (out, expect)
        }
        Damage::HeaderLen(len) => {
            let mut out = valid.to_vec();
            out[..8].copy_from_slice(&len.to_le_bytes());
            let same = *len == (header_end - 8) as u64;
            (
                out,
                if same {
                    Expect::Loaded
                } else {
                    Expect::Refused
                },
            )
        }
        Damage::Shape {
            tensor,
            axis,
            value,
        } => {
            let shape = entry(&mut header, tensor)["shape"].as_array_mut().unwrap();
            match shape.len() {
                0 => shape.push(json!(value)),
                n => shape[axis.index(n)] = json!(value),
            }
            refused_unless_unchanged(rejoin(&header), header == unchanged)
        }
        Damage::Offsets { tensor, start, end } => {
            entry(&mut header, tensor)["data_offsets"] = json!([start, end]);
            refused_unless_unchanged(rejoin(&header), header == unchanged)
        }
        Damage::CopyOffsets { from, to, shift } => {
            let offsets = entry(&mut header, from)["data_offsets"].clone();
            let [s, e] = [0, 1].map(|i| offsets[i].as_u64().unwrap() + shift);
            entry(&mut header, to)["data_offsets"] = json!([s, e]);
            refused_unless_unchanged(rejoin(&header), header == unchanged)
        }
        Damage::Duplicate { tensor } => {
            let copy = Value::Object(entry(&mut header, tensor).clone());
            header.insert("0.duplicate".to_string(), copy);
            (rejoin(&header), Expect::Refused)
        }
        Damage::Dtype { tensor, dtype } => {
            entry(&mut header, tensor)["dtype"] = json!(dtype);
            refused_unless_unchanged(rejoin(&header), header == unchanged)
        }
        Damage::NonUtf8 { at, bytes } => {
            let mut text = valid[8..header_end].to_vec();
            let at = at.index(text.len() + 1);
            text.splice(at..at, bytes.iter().copied());
            (join(&text, &data), Expect::Refused)
        }
        Damage::Nested { depth } => {
            let text = serde_json::to_string(&header).unwrap();
            let nested = format!("{{\"deep\":{}{},", "[".repeat(*depth), "]".repeat(*depth));
            (
                join(text.replacen('{', &nested, 1).as_bytes(), &data),
                Expect::Refused,
            )
        }
        Damage::LongShape { tensor, ones } => {
            let shape = entry(&mut header, tensor)["shape"].as_array_mut().unwrap();
            shape.splice(0..0, std::iter::repeat_n(json!(1), *ones));
            (rejoin(&header), Expect::Refused)
        }
        Damage::Pad { spaces, before } => {
            let text = String::from_utf8(valid[8..header_end].to_vec()).unwrap();
            let pad = " ".repeat(*spaces);
            let text = if *before { pad + &text } else { text + &pad };
            (join(text.as_bytes(), &data), Expect::Loaded)
        }
        Damage::BigMetadata { len } => {
            header["__metadata__"]["note"] = json!("n".repeat(*len));
            (rejoin(&header), Expect::Loaded)
        }
    }
}

fn refused_unless_unchanged(file: Vec<u8>, unchanged: bool) -> (Vec<u8>, Expect) {
    (
        file,
        if unchanged {
            Expect::Loaded
        } else {
            Expect::Refused
        },
    )
}

/// Values as comparable bits: every NaN as one (a flipped byte can make a NaN, and converting
/// a signalling NaN quiets it).
fn bits(values: Vec<f64>) -> Vec<u64> {
    let canonical = |v: f64| if v.is_nan() { f64::NAN } else { v };
    values.into_iter().map(|v| canonical(v).to_bits()).collect()
}

/// The file's value of every entry of the model, decoded here from its header and data, as
/// [`bits`] of f64 (counters converted exactly), by name.
fn file_values(file: &[u8]) -> BTreeMap<String, Vec<u64>> {
    let (header, data) = split(file);
    let mut out = BTreeMap::new();
    for name in names(&header) {
        let e = &header[&name];
        let [s, end] = [0, 1].map(|i| e["data_offsets"][i].as_u64().unwrap() as usize);
        let bytes = &data[s..end];
        let values = match e["dtype"].as_str().unwrap() {
            "F32" => bytes
                .chunks(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect(),
            "I64" => vec![i64::from_le_bytes(bytes.try_into().unwrap()) as f64],
            other => panic!("the valid file holds only F32 and I64, not {other}"),
        };
        out.insert(name, bits(values));
    }
    out
}

/// The model's entries, as [`file_values`] gives them.
fn model_values(model: &dyn Module<f32>) -> BTreeMap<String, Vec<u64>> {
    let mut out = BTreeMap::new();
    model.visit("", &mut |name, e| {
        let values = match e {
            Entry::Param(p) => p.value().to_f64_vec(),
            Entry::Buffer(b) => b.to_f64_vec(),
            Entry::Count(c) => vec![c as f64],
        };
        out.insert(name.to_string(), bits(values));
    });
    out
}

/// Asserts the allocation bound for a file of `len` bytes.
fn assert_bounded(what: &str, usage: Usage, len: usize) {
    let (largest, peak) = (8 * len + SLACK, 16 * len + SLACK);
    assert!(
        usage.largest <= largest && usage.peak <= peak,
        "{what} allocated {usage:?}, beyond the bounds (largest {largest}, peak {peak}) of a \
         {len}-byte file"
    );
}

/// Writes `file`, loads it into a fresh model and reads its header, and checks both against
/// `expect` and the bound.
fn check(file: &[u8], expect: Expect) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.safetensors");
    std::fs::write(&path, file).unwrap();
    let mut target = model(2);
    let before = model_values(&target);
    let (loaded, usage) = measure(|| checkpoint::load(&path, &mut target));
    assert_bounded("load", usage, file.len());
    let (header, usage) = measure(|| read_header(&path));
    assert_bounded("read_header", usage, file.len());
    let accepted = loaded.is_ok();
    match (expect, loaded) {
        (Expect::Refused | Expect::Either, Err(_)) => {
            prop_assert_eq!(
                model_values(&target),
                before,
                "a refused file changed the model"
            );
        }
        (Expect::Loaded | Expect::Either, Ok(extras)) => check_loaded(&path, &target, &extras)?,
        (Expect::Refused, Ok(_)) => prop_assert!(false, "an invalid file was loaded"),
        (Expect::Loaded, Err(e)) => prop_assert!(false, "a valid file was refused: {}", e),
    }
    // Whatever `load` accepts, `read_header` reads, with the same names.
    if accepted {
        let mut got = header
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .names;
        let mut want = names(&split(file).0);
        want.sort();
        got.sort();
        prop_assert_eq!(got, want);
    }
    Ok(())
}

/// A loaded model and its extras hold exactly the file's values: its tensors, and the
/// optimiser step, training state and other metadata its header's `__metadata__` holds.
fn check_loaded(
    path: &Path,
    model: &dyn Module<f32>,
    extras: &Extras<f32>,
) -> Result<(), TestCaseError> {
    let file = std::fs::read(path).unwrap();
    let mut values = file_values(&file);
    let mut metadata: BTreeMap<String, String> =
        serde_json::from_value(split(&file).0["__metadata__"].clone()).unwrap();
    let optimizer = extras.optimizer.as_ref();
    for (name, buffer) in optimizer.iter().flat_map(|o| &o.buffers) {
        let want = values.remove(&format!("optimizer.{name}"));
        prop_assert_eq!(Some(bits(buffer.to_f64_vec())), want, "{}", name);
    }
    prop_assert_eq!(model_values(model), values);
    let step = metadata
        .remove("optimizer.step")
        .map(|s| s.parse::<u64>().unwrap());
    prop_assert_eq!(optimizer.map(|o| o.step), step.or(optimizer.map(|_| 0)));
    let training = metadata.remove("training_state");
    let training: Option<TrainingState> = training.map(|t| serde_json::from_str(&t).unwrap());
    prop_assert_eq!(&extras.training, &training);
    metadata.remove("format");
    prop_assert_eq!(&extras.metadata, &metadata);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn damaged_checkpoints_load_or_are_refused_within_bounds(damage in damage()) {
        let (file, expect) = apply(valid_file(), &damage);
        check(&file, expect)?;
    }
}

#[test]
fn a_header_length_of_up_to_2_to_the_64_is_refused_before_allocating() {
    let valid = valid_file();
    for len in [
        99_999_999,
        100_000_000,
        100_000_001,
        1 << 32,
        1 << 63,
        u64::MAX,
    ] {
        let mut file = valid.to_vec();
        file[..8].copy_from_slice(&u64::to_le_bytes(len));
        check(&file, Expect::Refused).unwrap();
    }
}
