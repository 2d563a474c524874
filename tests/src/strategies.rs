//! Proptest strategies for the gradient checks: small random shapes (broadcast-compatible sets
//! of them included), tensors over them, values kept away from kinks or planted exactly on them,
//! and the number of cases each property runs.

use std::ops::RangeInclusive;

use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{IndexTensor, Tensor};

/// Elements closer than this to a kink are left out of finite-difference comparisons.
pub const KINK_GAP: f64 = 1e-3;

/// A property's configuration: `cases` cases by default, or as many as the `PROPTEST_CASES`
/// environment variable asks for (`PROPTEST_CASES=1000 cargo test -p tests --release`).
pub fn config(cases: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        base
    } else {
        ProptestConfig { cases, ..base }
    }
}

/// Dimensions of a rank in `ranks`, each axis `1..=max_len` long.
pub fn dims(ranks: RangeInclusive<usize>, max_len: usize) -> impl Strategy<Value = Vec<usize>> {
    ranks.prop_flat_map(move |rank| vec(1..=max_len, rank))
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

/// Dimensions that broadcast to `full`: some leading axes dropped (possibly all, giving rank 0)
/// and some of the others shrunk to 1.
pub fn broadcast_operand(full: Vec<usize>) -> impl Strategy<Value = Vec<usize>> {
    let rank = full.len();
    (0..=rank, vec(prop::bool::weighted(0.3), rank)).prop_map(move |(dropped, to_one)| {
        let kept = full.iter().zip(&to_one).skip(dropped);
        kept.map(|(&d, &one)| if one { 1 } else { d }).collect()
    })
}

/// A tensor from `tensors` (rank 1 or more) and one of its axes.
pub fn with_axis<S>(tensors: S) -> impl Strategy<Value = (Tensor<f64>, usize)>
where
    S: Strategy<Value = Tensor<f64>>,
{
    tensors.prop_flat_map(|x| {
        let rank = x.rank();
        (Just(x), 0..rank)
    })
}

/// Dimensions of `count` operands that broadcast together: each is a [`broadcast_operand`] of
/// a common shape of rank 0 to 3, so ranks differ and size-1 axes meet full ones.
pub fn broadcast_dims(count: usize) -> impl Strategy<Value = Vec<Vec<usize>>> {
    dims(0..=3, 3).prop_flat_map(move |full| vec(broadcast_operand(full), count))
}

/// Two tensors whose shapes broadcast together, with elements from `a` and from `b`.
pub fn broadcast_pair<A, B>(a: A, b: B) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)>
where
    A: Strategy<Value = f64> + Clone,
    B: Strategy<Value = f64> + Clone,
{
    broadcast_dims(2).prop_flat_map(move |d| {
        (
            tensor_of(d[0].clone(), a.clone()),
            tensor_of(d[1].clone(), b.clone()),
        )
    })
}

/// Ordinary values, in `[-2, 2)`.
pub fn value() -> impl Strategy<Value = f64> + Clone {
    -2.0..2.0
}

/// Values of either sign with magnitude in `[low, high)`: away from zero.
pub fn magnitude(low: f64, high: f64) -> impl Strategy<Value = f64> + Clone {
    (low..high, any::<bool>()).prop_map(|(m, negative)| if negative { -m } else { m })
}

/// Values from `values`, or exactly `kink` about one time in four.
pub fn planted<S>(values: S, kink: f64) -> impl Strategy<Value = f64> + Clone
where
    S: Strategy<Value = f64> + Clone + 'static,
{
    prop_oneof![3 => values, 1 => Just(kink)]
}

/// Values on one of two interleaved ladders (`side` 0 or 1): every value of one side is at least
/// 0.05 away from every value of the other, so `maximum` and `minimum` across sides never tie.
pub fn ladder(side: u8) -> impl Strategy<Value = f64> + Clone {
    (-10i32..10, 0.0..0.05)
        .prop_map(move |(rung, jitter)| f64::from(2 * rung + i32::from(side)) * 0.1 + jitter)
}

/// Small integers 0, 1, 2 as floats: tensors of them are full of ties.
pub fn tie_prone() -> impl Strategy<Value = f64> + Clone {
    (0u8..3).prop_map(f64::from)
}

/// A tensor of dimensions `dims` whose elements are pairwise at least 0.1 apart (a shuffled
/// ladder with jitter), so no max or min is ever near a tie.
pub fn distinct_tensor(dims: Vec<usize>) -> impl Strategy<Value = Tensor<f64>> {
    let numel: usize = dims.iter().product();
    let rungs = Just((0..numel).collect::<Vec<_>>()).prop_shuffle();
    (rungs, vec(0.0..0.1, numel)).prop_map(move |(rungs, jitter)| {
        let data = rungs.iter().zip(jitter);
        let data = data.map(|(&r, j)| 0.2 * (r as f64 - numel as f64 / 2.0) + j);
        Tensor::from_vec(data.collect(), dims.clone())
    })
}

/// `batch` class labels below `classes`, as a `[batch]` index tensor.
pub fn labels(batch: usize, classes: usize) -> impl Strategy<Value = IndexTensor> {
    let below = u32::try_from(classes).expect("class count fits in u32");
    vec(0..below, batch).prop_map(move |l| Tensor::from_vec(l, [batch]))
}
