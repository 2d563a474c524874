//! Indexing by integer tensors against loops over the index: `gather`, `scatter_add` (repeated
//! indices accumulate) and `one_hot`, as proptest properties on the CPU in f64 (hundreds of
//! random cases would take minutes on the simulator), and the CPU's panics on out-of-range
//! values (a GPU defers those checks: `gpu_device.rs`).
//!
//! On every device (`device_test!`: cpu, sim, cuda), in f32: random shapes (the index smaller
//! than the target off the axis, every axis, ranks 1 to 5), sizes that are not multiples of the
//! GPU's block, cross-entropy's pick and its backward; `scatter_add` bit for bit against the
//! additions in index order, repeated indices included; the panics of shapes that do not fit.

mod common;

use common::device::{assert_bits, back, device_test, on};
use common::{F64_TOL, assert_tensor, config, dims, ravel, tensor_of, unravel, value};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Device, IndexTensor, Rng, Tensor};

/// A target tensor of rank 1 to 4, an axis, and an index tensor of the same rank: at most as
/// long as the target off `axis`, 1 to 4 long on it, with values in range for `axis` (so some
/// repeat).
fn target_axis_index() -> impl Strategy<Value = (Tensor<f64>, usize, IndexTensor)> {
    dims(1..=4, 4)
        .prop_flat_map(|d| {
            let rank = d.len();
            (tensor_of(d, value()), 0..rank)
        })
        .prop_flat_map(|(target, axis)| {
            let index_dims: Vec<_> = target
                .dims()
                .iter()
                .enumerate()
                .map(|(i, &d)| if i == axis { 1..=4 } else { 1..=d })
                .collect();
            (Just(target), Just(axis), index_dims)
        })
        .prop_flat_map(|(target, axis, index_dims)| {
            let len = target.dims()[axis] as u32;
            let values = vec(0..len, index_dims.iter().product::<usize>());
            let index = values.prop_map(move |v| IndexTensor::from_vec(v, index_dims.clone()));
            (Just(target), Just(axis), index)
        })
}

/// The position in `target_dims` that element `flat` of `index` points at: its own coordinates
/// with the one on `axis` replaced by the index value.
fn pointed_at(index: &IndexTensor, flat: usize, axis: usize, target_dims: &[usize]) -> usize {
    let mut at = unravel(flat, index.dims());
    at[axis] = index.data()[flat] as usize;
    ravel(&at, target_dims)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn gather_reads_where_the_index_points((x, axis, index) in target_axis_index()) {
        let expected: Vec<f64> = (0..index.numel())
            .map(|flat| x.data()[pointed_at(&index, flat, axis, x.dims())])
            .collect();
        assert_tensor(&x.gather(axis, &index), index.dims(), &expected, 0.0);
    }

    #[test]
    fn scatter_add_accumulates_where_the_index_points(
        ((x, axis, index), src) in target_axis_index().prop_flat_map(|(x, axis, index)| {
            let src = tensor_of(index.dims().to_vec(), value());
            (Just((x, axis, index)), src)
        })
    ) {
        let mut expected = x.to_vec();
        for flat in 0..index.numel() {
            expected[pointed_at(&index, flat, axis, x.dims())] += src.data()[flat];
        }
        assert_tensor(&x.scatter_add(axis, &index, &src), x.dims(), &expected, F64_TOL);
    }

    #[test]
    fn one_hot_marks_each_label(
        (labels, classes) in (1..=5u32, dims(0..=3, 4)).prop_flat_map(|(classes, d)| {
            let n = d.iter().product::<usize>();
            let labels = vec(0..classes, n).prop_map(move |v| IndexTensor::from_vec(v, d.clone()));
            (labels, Just(classes as usize))
        })
    ) {
        let mut out_dims = labels.dims().to_vec();
        out_dims.push(classes);
        let expected: Vec<f64> = (0..labels.numel() * classes)
            .map(|i| f64::from(u8::from(labels.data()[i / classes] as usize == i % classes)))
            .collect();
        assert_tensor(&Tensor::<f64>::one_hot(&labels, classes), &out_dims, &expected, 0.0);
    }
}

#[test]
#[should_panic(expected = "gather: index 3 out of range for axis 1 of shape [2, 3]")]
fn gather_out_of_range_panics() {
    let index = IndexTensor::from_vec(vec![0, 3], [2, 1]);
    let _ = Tensor::<f64>::zeros([2, 3]).gather(1, &index);
}

#[test]
#[should_panic(expected = "one_hot: label 3 out of range for 3 classes")]
fn one_hot_label_out_of_range_panics() {
    let _ = Tensor::<f64>::one_hot(&IndexTensor::from_vec(vec![0, 3], [2]), 3);
}

/// Random index values below `limit` in shape `dims`.
fn indices(rng: &mut Rng, dims: &[usize], limit: usize) -> IndexTensor {
    let n = dims.iter().product();
    Tensor::from_vec((0..n).map(|_| rng.below(limit) as u32).collect(), dims)
}

/// A target shape of rank `rank`, an axis, and an index shape that fits the target on it
/// (smaller or equal off the axis, 1 to 7 long on it).
fn shapes(rng: &mut Rng, rank: usize) -> (Vec<usize>, usize, Vec<usize>) {
    let target: Vec<usize> = (0..rank).map(|_| 1 + rng.below(6)).collect();
    let axis = rng.below(rank);
    let index = (0..rank)
        .map(|a| 1 + rng.below(if a == axis { 7 } else { target[a] }))
        .collect();
    (target, axis, index)
}

/// Checks `x.gather(axis, index)` on `device` against the values the index points at.
fn check_gather(device: Device, x: &Tensor<f32>, axis: usize, index: &IndexTensor) {
    let want: Vec<f64> = (0..index.numel())
        .map(|flat| f64::from(x.data()[pointed_at(index, flat, axis, x.dims())]))
        .collect();
    let got = back(device, &on(device, x).gather(axis, &on(device, index)));
    let what = format!(
        "gather {:?} axis {axis} index {:?} on {device}",
        x.dims(),
        index.dims()
    );
    assert_bits(&what, &got, index.dims(), &want);
}

fn gather_reads_where_the_index_points_on_random_shapes(device: Device) {
    let mut rng = Rng::new(11);
    for rank in 1..=5 {
        for _ in 0..4 {
            let (t, axis, i) = shapes(&mut rng, rank);
            let x: Tensor<f32> = rng.uniform(&t[..], -1.0, 1.0);
            check_gather(device, &x, axis, &indices(&mut rng, &i, t[axis]));
        }
    }
    // Cross-entropy's pick: logits [300, 10], labels [300, 1] (a ragged last GPU block).
    let logits: Tensor<f32> = rng.normal([300, 10], 0.0, 1.0);
    check_gather(device, &logits, 1, &indices(&mut rng, &[300, 1], 10));
}
device_test!(gather_reads_where_the_index_points_on_random_shapes);

/// Checks `x.scatter_add(axis, index, src)` on `device` bit for bit against f32 additions in
/// the order of the index's elements.
fn check_scatter_add(
    device: Device,
    x: &Tensor<f32>,
    axis: usize,
    index: &IndexTensor,
    src: &Tensor<f32>,
) {
    let mut want = x.to_vec();
    for flat in 0..index.numel() {
        want[pointed_at(index, flat, axis, x.dims())] += src.data()[flat];
    }
    let want: Vec<f64> = want.into_iter().map(f64::from).collect();
    let got = on(device, x).scatter_add(axis, &on(device, index), &on(device, src));
    let what = format!(
        "scatter_add {:?} axis {axis} index {:?} on {device}",
        x.dims(),
        index.dims()
    );
    assert_bits(&what, &back(device, &got), x.dims(), &want);
}

fn scatter_add_sums_in_index_order(device: Device) {
    let mut rng = Rng::new(12);
    for rank in 1..=5 {
        for _ in 0..4 {
            let (t, axis, i) = shapes(&mut rng, rank);
            let x: Tensor<f32> = rng.uniform(&t[..], -1.0, 1.0);
            let index = indices(&mut rng, &i, t[axis]);
            let src: Tensor<f32> = rng.uniform(&i[..], -1.0, 1.0);
            check_scatter_add(device, &x, axis, &index, &src);
        }
    }
    // Many repeats of few targets: the order of the additions matters in f32.
    let index = indices(&mut rng, &[3, 200], 4);
    let src: Tensor<f32> = rng.normal([3, 200], 0.0, 1000.0);
    check_scatter_add(device, &Tensor::zeros([3, 4]), 1, &index, &src);
    // Cross-entropy backward's shape: [300, 10] with one index per row.
    let x: Tensor<f32> = rng.uniform([300, 10], -1.0, 1.0);
    let index = indices(&mut rng, &[300, 1], 10);
    let src: Tensor<f32> = rng.uniform([300, 1], -1.0, 1.0);
    check_scatter_add(device, &x, 1, &index, &src);
}
device_test!(scatter_add_sums_in_index_order);

fn one_hot_of_every_label_shape(device: Device) {
    let mut rng = Rng::new(13);
    for (shape, classes) in [(vec![300], 10), (vec![4, 7], 3), (vec![], 5), (vec![0], 4)] {
        let labels = indices(&mut rng, &shape, classes);
        let want: Vec<f64> = (0..labels.numel() * classes)
            .map(|i| f64::from(u8::from(labels.data()[i / classes] as usize == i % classes)))
            .collect();
        let got: Tensor<f32> = Tensor::one_hot(&on(device, &labels), classes);
        let dims: Vec<usize> = shape.iter().copied().chain([classes]).collect();
        let what = format!("one_hot {shape:?} {classes} on {device}");
        assert_bits(&what, &back(device, &got), &dims, &want);
    }
}
device_test!(one_hot_of_every_label_shape);

fn gather_with_a_longer_index_panics(device: Device) {
    let index = on(device, &IndexTensor::from_vec(vec![0, 0, 0], [3, 1]));
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).gather(1, &index);
}
device_test!(
    #[should_panic(expected = "gather: index [3, 1] does not fit shape [2, 3] on axis 1")]
    gather_with_a_longer_index_panics: cpu, sim
);

fn scatter_add_with_a_mismatched_source_panics(device: Device) {
    let index = on(device, &IndexTensor::from_vec(vec![0, 1], [2, 1]));
    let src = on(device, &Tensor::zeros([2, 2]));
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).scatter_add(1, &index, &src);
}
device_test!(
    #[should_panic(expected = "scatter_add: index [2, 1] and source [2, 2] differ")]
    scatter_add_with_a_mismatched_source_panics: cpu, sim
);
