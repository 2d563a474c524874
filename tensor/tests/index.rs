//! Indexing by integer tensors against loops over the index: `gather`, `scatter_add` (repeated
//! indices accumulate) and `one_hot`.

mod common;

use common::{F64_TOL, assert_tensor, config, dims, ravel, tensor_of, unravel, value};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{IndexTensor, Tensor};

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
#[should_panic(expected = "gather: index [3, 1] does not fit shape [2, 3] on axis 1")]
fn gather_with_a_longer_index_panics() {
    let index = IndexTensor::from_vec(vec![0, 0, 0], [3, 1]);
    let _ = Tensor::<f64>::zeros([2, 3]).gather(1, &index);
}

#[test]
#[should_panic(expected = "scatter_add: index [2, 1] and source [2, 2] differ")]
fn scatter_add_with_a_mismatched_source_panics() {
    let index = IndexTensor::from_vec(vec![0, 1], [2, 1]);
    let _ = Tensor::<f64>::zeros([2, 3]).scatter_add(1, &index, &Tensor::zeros([2, 2]));
}

#[test]
#[should_panic(expected = "one_hot: label 3 out of range for 3 classes")]
fn one_hot_label_out_of_range_panics() {
    let _ = Tensor::<f64>::one_hot(&IndexTensor::from_vec(vec![0, 3], [2]), 3);
}
