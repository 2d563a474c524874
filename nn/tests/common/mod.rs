//! Helpers shared by the nn tests: reading and writing `state_dict` entries by name, the bits of
//! every entry, WRN-10-1 (the small model the checkpoint tests save), and a closeness check.
//! Every test file compiles its own copy and uses only part of it.
#![allow(dead_code)]

use nn::{Entry, EntryMut, Module, WideResNet};
use tensor::{Element, Rng, Tensor};

/// The value of the parameter or float buffer `name`, as f64.
pub fn entry<T: Element>(model: &dyn Module<T>, name: &str) -> Tensor<f64> {
    let mut found = None;
    model.visit("", &mut |n, e| {
        if n == name {
            found = match e {
                Entry::Param(p) => Some(p.value().cast()),
                Entry::Buffer(b) => Some(b.cast()),
                Entry::Count(c) => Some(Tensor::scalar(c as f64)),
            };
        }
    });
    found.unwrap_or_else(|| panic!("no state_dict entry '{name}'"))
}

/// Every integer counter (BatchNorm's `num_batches_tracked`) of a model.
pub fn counters<T: Element>(model: &dyn Module<T>) -> Vec<i64> {
    let mut out = Vec::new();
    model.visit("", &mut |_, e| {
        if let Entry::Count(c) = e {
            out.push(c);
        }
    });
    out
}

/// Replaces the parameter or float buffer `name` (same shape).
pub fn set<T: Element>(model: &mut dyn Module<T>, name: &str, value: &Tensor<T>) {
    let mut done = false;
    model.visit_mut("", &mut |n, e| {
        if n == name {
            let slot = match e {
                EntryMut::Param(p) => p.value_mut(),
                EntryMut::Buffer(b) => b,
                EntryMut::Count(_) => panic!("'{name}' is a counter"),
            };
            assert_eq!(slot.shape(), value.shape(), "shape of '{name}'");
            *slot = value.clone();
            done = true;
        }
    });
    assert!(done, "no state_dict entry '{name}'");
}

/// Asserts `|got - want| <= tol * (1 + |want|)` elementwise.
pub fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// Mean and (biased) standard deviation of some values.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Every `state_dict` entry: its name and its exact bits (floats as f64 bits of the value,
/// so f32 and f64 entries compare alike; counters as themselves).
pub fn snapshot<T: Element>(model: &dyn Module<T>) -> Vec<(String, Vec<u64>)> {
    let mut out = Vec::new();
    model.visit("", &mut |name, e| {
        let bits = match e {
            Entry::Param(p) => p.value().to_f64_vec().iter().map(|v| v.to_bits()).collect(),
            Entry::Buffer(b) => b.to_f64_vec().iter().map(|v| v.to_bits()).collect(),
            Entry::Count(c) => vec![c as u64],
        };
        out.push((name.to_string(), bits));
    });
    out
}

/// WRN-10-1: a WideResNet with every kind of entry, small enough for committed files.
pub fn wrn_10_1<T: Element>(seed: u64) -> WideResNet<T> {
    WideResNet::new(10, 1, 10, false, &mut Rng::new(seed))
}
