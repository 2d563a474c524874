//! Gradient checks of the movement ops (reshape, permute, transpose, slice, concat, pad,
//! broadcast_to, unsqueeze, squeeze) and of gather, whose gradient scatters back and adds up
//! where an element is gathered more than once.

use autograd::Var;
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{IndexTensor, Tensor};
use tests::gradcheck::check_gradients;
use tests::strategies::{broadcast_operand, config, dims, tensor, tensor_of, value, with_axis};

/// A tensor of rank 1 to 3 and one of its axes.
fn any_with_axis() -> impl Strategy<Value = (Tensor<f64>, usize)> {
    with_axis(tensor(1..=3, 4, value()))
}

/// A tensor, an axis, and a non-empty range `start..end` inside that axis.
fn slice_case() -> impl Strategy<Value = (Tensor<f64>, usize, usize, usize)> {
    any_with_axis().prop_flat_map(|(x, axis)| {
        let len = x.dims()[axis];
        (Just(x), Just(axis), 0..len).prop_flat_map(move |(x, axis, start)| {
            (Just(x), Just(axis), Just(start), start + 1..=len)
        })
    })
}

/// A tensor and new dimensions for it: its own in another order, or flattened.
fn reshape_case() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
    tensor(0..=3, 4, value()).prop_flat_map(|x| {
        let shuffled = Just(x.dims().to_vec()).prop_shuffle();
        let flat = Just(vec![x.numel()]);
        (Just(x), prop_oneof![shuffled, flat])
    })
}

/// A tensor of rank 0 to 4 and a permutation of its axes.
fn permute_case() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
    tensor(0..=4, 3, value()).prop_flat_map(|x| {
        let perm = Just((0..x.rank()).collect::<Vec<_>>()).prop_shuffle();
        (Just(x), perm)
    })
}

/// A tensor and two of its axes (possibly the same one).
fn transpose_case() -> impl Strategy<Value = (Tensor<f64>, usize, usize)> {
    any_with_axis().prop_flat_map(|(x, a)| {
        let rank = x.rank();
        (Just(x), Just(a), 0..rank)
    })
}

/// One to three tensors that agree on every axis but `axis`, and `axis`.
fn concat_case() -> impl Strategy<Value = (Vec<Tensor<f64>>, usize)> {
    dims(1..=3, 3).prop_flat_map(|d| {
        let rank = d.len();
        (Just(d), 0..rank, vec(1..=3usize, 1..=3)).prop_flat_map(|(d, axis, lens)| {
            let parts: Vec<_> = lens
                .iter()
                .map(|&len| {
                    let mut part = d.clone();
                    part[axis] = len;
                    tensor_of(part, value())
                })
                .collect();
            (parts, Just(axis))
        })
    })
}

/// An index tensor for `gather` on `dims` along `axis`: as many dimensions, no longer than
/// `dims` off the axis, any length (1 to 4) along it, values below `dims[axis]`.
fn gather_index(dims: Vec<usize>, axis: usize) -> impl Strategy<Value = IndexTensor> {
    let limit = u32::try_from(dims[axis]).expect("axis length fits in u32");
    let lens: Vec<_> = dims
        .iter()
        .enumerate()
        .map(|(a, &d)| if a == axis { 1..=4 } else { 1..=d })
        .collect();
    lens.prop_flat_map(move |index_dims| {
        let numel: usize = index_dims.iter().product();
        vec(0..limit, numel).prop_map(move |v| Tensor::from_vec(v, index_dims.clone()))
    })
}

/// A tensor, `(before, after)` padding of 0 to 2 for each axis, and a fill value.
fn pad_case() -> impl Strategy<Value = (Tensor<f64>, Vec<(usize, usize)>, f64)> {
    tensor(0..=3, 3, value()).prop_flat_map(|x| {
        let rank = x.rank();
        (Just(x), vec((0..=2usize, 0..=2usize), rank), value())
    })
}

/// A tensor and dimensions it broadcasts to (it lacks leading axes or has size-1 ones).
fn broadcast_case() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
    dims(0..=3, 3).prop_flat_map(|to| {
        let x = broadcast_operand(to.clone()).prop_flat_map(|from| tensor_of(from, value()));
        (x, Just(to))
    })
}

/// A tensor and a place for a new axis, `0..=rank`.
fn unsqueeze_case() -> impl Strategy<Value = (Tensor<f64>, usize)> {
    tensor(0..=3, 3, value()).prop_flat_map(|x| {
        let rank = x.rank();
        (Just(x), 0..=rank)
    })
}

/// A tensor with a size-1 axis, and that axis.
fn squeeze_case() -> impl Strategy<Value = (Tensor<f64>, usize)> {
    dims(0..=3, 3).prop_flat_map(|d| {
        (0..=d.len()).prop_flat_map(move |axis| {
            let mut with_one = d.clone();
            with_one.insert(axis, 1);
            (tensor_of(with_one, value()), Just(axis))
        })
    })
}

/// A tensor, an axis and an index tensor to gather along it.
fn gather_case() -> impl Strategy<Value = (Tensor<f64>, usize, IndexTensor)> {
    any_with_axis().prop_flat_map(|(x, axis)| {
        let index = gather_index(x.dims().to_vec(), axis);
        (Just(x), Just(axis), index)
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn reshape((x, to) in reshape_case()) {
        check_gradients(&[x], |v| v[0].reshape(to.clone()))?;
    }

    #[test]
    fn permute((x, perm) in permute_case()) {
        check_gradients(&[x], |v| v[0].permute(&perm))?;
    }

    #[test]
    fn transpose((x, a, b) in transpose_case()) {
        check_gradients(&[x], |v| v[0].transpose(a, b))?;
    }

    #[test]
    fn slice((x, axis, start, end) in slice_case()) {
        check_gradients(&[x], |v| v[0].slice(axis, start, end))?;
    }

    #[test]
    fn concat((parts, axis) in concat_case()) {
        check_gradients(&parts, |v| {
            let refs: Vec<&Var<'_, f64>> = v.iter().collect();
            Var::concat(&refs, axis)
        })?;
    }

    #[test]
    fn pad((x, pads, fill) in pad_case()) {
        check_gradients(&[x], |v| v[0].pad(&pads, fill))?;
    }

    #[test]
    fn broadcast_to((x, to) in broadcast_case()) {
        check_gradients(&[x], |v| v[0].broadcast_to(to.clone()))?;
    }

    #[test]
    fn unsqueeze((x, axis) in unsqueeze_case()) {
        check_gradients(&[x], |v| v[0].unsqueeze(axis))?;
    }

    #[test]
    fn squeeze((x, axis) in squeeze_case()) {
        check_gradients(&[x], |v| v[0].squeeze(axis))?;
    }

    /// Indices repeat, so some elements collect several gradients.
    #[test]
    fn gather((x, axis, index) in gather_case()) {
        check_gradients(&[x], |v| v[0].gather(axis, &index))?;
    }
}
