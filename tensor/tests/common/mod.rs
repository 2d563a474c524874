//! Helpers shared by the tensor tests: the proptest configuration, strategies for shapes and
//! values, row-major index arithmetic for the naive references, and the closeness check.
//!
//! Every test file compiles its own copy of this module and uses only part of it; `device`
//! runs one test body on every device.
#![allow(dead_code)]

pub mod device;

use proptest::collection::vec;
use proptest::prelude::*;
use std::ops::RangeInclusive;
use tensor::{Element, Tensor};

/// Tolerance of f64 results against the f64 reference (see [`assert_close`]).
pub const F64_TOL: f64 = 1e-9;

/// Tolerance of f32 results against the f64 reference computed on the same (rounded) inputs.
pub const F32_TOL: f64 = 1e-4;

/// A property's configuration: `cases` cases, or as many as the `PROPTEST_CASES` environment
/// variable asks for (`PROPTEST_CASES=2000 cargo test -p tensor --release`).
pub fn config(cases: u32) -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(cases)
    }
}

/// Dimensions of a rank in `ranks`, each axis `1..=max_len` long.
pub fn dims(ranks: RangeInclusive<usize>, max_len: usize) -> impl Strategy<Value = Vec<usize>> {
    ranks.prop_flat_map(move |rank| vec(1..=max_len, rank))
}

/// One value in `[-10, 10)`, now and then exactly 0 or a small integer (where `sign`, `relu`,
/// `clamp` and the comparisons have their edges).
pub fn value() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![8 => -10.0..10.0, 1 => Just(0.0), 1 => (-2i32..=2).prop_map(f64::from)]
}

/// One value from {-2, -1, 0, 1, 2}: tensors of these are full of ties.
pub fn tied_value() -> impl Strategy<Value = f64> + Clone {
    (-2i32..=2).prop_map(f64::from)
}

/// A tensor of dimensions `dims` whose elements are drawn from `values`.
pub fn tensor_of<S>(dims: Vec<usize>, values: S) -> impl Strategy<Value = Tensor<f64>>
where
    S: Strategy<Value = f64>,
{
    let numel: usize = dims.iter().product();
    vec(values, numel).prop_map(move |data| Tensor::from_vec(data, dims.clone()))
}

/// A tensor of random dimensions (see [`dims`]) whose elements are drawn from `values`.
pub fn tensor<S>(
    ranks: RangeInclusive<usize>,
    max_len: usize,
    values: S,
) -> impl Strategy<Value = Tensor<f64>>
where
    S: Strategy<Value = f64> + Clone,
{
    dims(ranks, max_len).prop_flat_map(move |d| tensor_of(d, values.clone()))
}

/// A tensor of rank 1 to 4 drawn from `values`, one of its axes and a keepdim flag.
pub fn with_axis<S>(values: S) -> impl Strategy<Value = (Tensor<f64>, usize, bool)>
where
    S: Strategy<Value = f64> + Clone,
{
    tensor(1..=4, 4, values).prop_flat_map(|x| {
        let rank = x.rank();
        (Just(x), 0..rank, any::<bool>())
    })
}

/// Dimensions that broadcast to `full`: some leading axes dropped (possibly all, giving rank 0)
/// and some of the others shrunk to 1.
pub fn broadcast_operand(full: Vec<usize>) -> impl Strategy<Value = Vec<usize>> {
    let rank = full.len();
    (0..=rank, vec(prop::bool::weighted(0.3), rank)).prop_map(move |(dropped, to_one)| {
        let kept = full.iter().zip(&to_one).skip(dropped);
        kept.map(|(&d, &one)| if one { 1 } else { d }).collect()
    })
}

/// Deterministic, varied values for the large tensors that exercise the multi-threaded paths.
pub fn wave(n: usize) -> Vec<f64> {
    (0..n).map(|i| (i as f64 * 0.731).sin() * 3.0).collect()
}

/// Row-major strides of `dims`.
pub fn strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1];
    }
    strides
}

/// The coordinates of row-major position `flat` in `dims`.
pub fn unravel(flat: usize, dims: &[usize]) -> Vec<usize> {
    strides(dims)
        .iter()
        .zip(dims)
        .map(|(&s, &d)| (flat / s) % d)
        .collect()
}

/// The row-major position of `coords` in `dims`.
pub fn ravel(coords: &[usize], dims: &[usize]) -> usize {
    coords.iter().zip(strides(dims)).map(|(&c, s)| c * s).sum()
}

/// The element of `data` (shaped `dims`) that numpy broadcasting pairs with the output
/// coordinates `out`: missing leading axes and size-1 axes are read at 0.
pub fn broadcast_read(data: &[f64], dims: &[usize], out: &[usize]) -> f64 {
    let skipped = out.len() - dims.len();
    let coords: Vec<usize> = dims
        .iter()
        .zip(&out[skipped..])
        .map(|(&d, &c)| if d == 1 { 0 } else { c })
        .collect();
    data[ravel(&coords, dims)]
}

/// `values` as a tensor of element type `T` (rounded for f32).
pub fn to_element<T: Element>(values: &Tensor<f64>) -> Tensor<T> {
    Tensor::from_f64s(values.data(), values.shape().clone())
}

/// Asserts `|actual - expected| <= tol * (1 + |expected|)` elementwise; equal values
/// (infinities included) and NaN against NaN always pass.
#[track_caller]
pub fn assert_close(actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            a == e || (a.is_nan() && e.is_nan()) || (a - e).abs() <= tol * (1.0 + e.abs()),
            "element {i}: got {a}, expected {e} (tolerance {tol})"
        );
    }
}

/// Asserts that `t` has dimensions `dims` and elements close to `expected` (see
/// [`assert_close`]).
#[track_caller]
pub fn assert_tensor<T: Element>(t: &Tensor<T>, dims: &[usize], expected: &[f64], tol: f64) {
    assert_eq!(t.dims(), dims, "dimensions differ");
    assert_close(&t.to_f64_vec(), expected, tol);
}
