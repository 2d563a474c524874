//! Movement ops against index arithmetic written out: `broadcast_to`, `permute`, `transpose`,
//! `slice`, `concat`, `pad`, `unsqueeze`, `squeeze`, on random shapes from rank 0 up, on index
//! tensors too, and on a tensor large enough for the multi-threaded copy: proptest properties
//! on the CPU (hundreds of random cases would take minutes on the simulator); `devices.rs` runs
//! the same references on every device.

#[path = "../common/mod.rs"]
mod common;
mod devices;

use common::{
    assert_tensor, broadcast_operand, broadcast_read, config, dims, ravel, tensor, tensor_of,
    unravel, value, wave, with_axis,
};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{IndexTensor, Tensor};

/// The elements of `f(coordinates)` over every position of `dims`, in row-major order.
fn build<T>(dims: &[usize], f: impl Fn(&[usize]) -> T) -> Vec<T> {
    (0..dims.iter().product())
        .map(|flat| f(&unravel(flat, dims)))
        .collect()
}

/// Output axis `i` of `permute(perm)` is input axis `perm[i]`.
fn reference_permute<T: Copy>(data: &[T], dims: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<T>) {
    let out_dims: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let values = build(&out_dims, |at| {
        let mut from = vec![0; dims.len()];
        for (i, &p) in perm.iter().enumerate() {
            from[p] = at[i];
        }
        data[ravel(&from, dims)]
    });
    (out_dims, values)
}

/// `slice(axis, start, end)`: the output's dimensions and elements.
fn reference_slice<T: Copy>(
    data: &[T],
    dims: &[usize],
    axis: usize,
    (start, end): (usize, usize),
) -> (Vec<usize>, Vec<T>) {
    let mut out_dims = dims.to_vec();
    out_dims[axis] = end - start;
    let values = build(&out_dims, |at| {
        let mut from = at.to_vec();
        from[axis] += start;
        data[ravel(&from, dims)]
    });
    (out_dims, values)
}

/// `concat(parts, axis)` of parts given as (data, dims): the output's dimensions and elements,
/// each read from the part its coordinate on `axis` falls in.
fn reference_concat<T: Copy>(parts: &[(&[T], &[usize])], axis: usize) -> (Vec<usize>, Vec<T>) {
    let mut out_dims = parts[0].1.to_vec();
    out_dims[axis] = parts.iter().map(|p| p.1[axis]).sum();
    let values = build(&out_dims, |at| {
        let mut from = at.to_vec();
        for &(data, dims) in parts {
            if from[axis] < dims[axis] {
                return data[ravel(&from, dims)];
            }
            from[axis] -= dims[axis];
        }
        unreachable!("coordinate past the last part")
    });
    (out_dims, values)
}

/// `pad(pads, fill)`: the output's dimensions and elements, `fill` outside the input.
fn reference_pad<T: Copy>(
    data: &[T],
    dims: &[usize],
    pads: &[(usize, usize)],
    fill: T,
) -> (Vec<usize>, Vec<T>) {
    let out_dims: Vec<usize> = dims.iter().zip(pads).map(|(d, (b, a))| d + b + a).collect();
    let values = build(&out_dims, |at| {
        let inside: Option<Vec<usize>> = at
            .iter()
            .zip(pads)
            .zip(dims)
            .map(|((&c, &(before, _)), &d)| c.checked_sub(before).filter(|&i| i < d))
            .collect();
        inside.map_or(fill, |from| data[ravel(&from, dims)])
    });
    (out_dims, values)
}

/// A tensor of rank 0 to 4 and a random permutation of its axes.
fn with_permutation() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
    tensor(0..=4, 4, value()).prop_flat_map(|x| {
        let axes: Vec<usize> = (0..x.rank()).collect();
        (Just(x), Just(axes).prop_shuffle())
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn broadcast_to_repeats_size_one_and_missing_axes(
        (x, full) in dims(0..=4, 4).prop_flat_map(|full| {
            (broadcast_operand(full.clone()).prop_flat_map(|d| tensor_of(d, value())), Just(full))
        })
    ) {
        let expected = build(&full, |at| broadcast_read(x.data(), x.dims(), at));
        assert_tensor(&x.broadcast_to(full.clone()), &full, &expected, 0.0);
    }

    #[test]
    fn permute_moves_axes((x, perm) in with_permutation()) {
        let (out_dims, expected) = reference_permute(x.data(), x.dims(), &perm);
        assert_tensor(&x.permute(&perm), &out_dims, &expected, 0.0);
    }

    #[test]
    fn permute_moves_index_tensors((x, perm) in with_permutation()) {
        let indices = IndexTensor::from_vec((0..x.numel() as u32).collect(), x.dims());
        let (out_dims, expected) = reference_permute(indices.data(), x.dims(), &perm);
        let got = indices.permute(&perm);
        prop_assert_eq!(got.dims(), &out_dims[..]);
        prop_assert_eq!(got.data(), &expected[..]);
    }

    #[test]
    fn transpose_swaps_two_axes(
        (x, a, b) in tensor(1..=4, 4, value()).prop_flat_map(|x| {
            let rank = x.rank();
            (Just(x), 0..rank, 0..rank)
        })
    ) {
        let mut perm: Vec<usize> = (0..x.rank()).collect();
        perm.swap(a, b);
        let (out_dims, expected) = reference_permute(x.data(), x.dims(), &perm);
        assert_tensor(&x.transpose(a, b), &out_dims, &expected, 0.0);
    }

    #[test]
    fn slice_takes_a_range_of_one_axis(
        (x, axis, a, b) in with_axis(value()).prop_flat_map(|(x, axis, _)| {
            let len = x.dims()[axis];
            (Just(x), Just(axis), 0..=len, 0..=len)
        })
    ) {
        let (start, end) = (a.min(b), a.max(b));
        let (out_dims, expected) = reference_slice(x.data(), x.dims(), axis, (start, end));
        assert_tensor(&x.slice(axis, start, end), &out_dims, &expected, 0.0);
    }

    /// Parts share every axis but `axis`, where their lengths (0 included) differ.
    #[test]
    fn concat_joins_along_an_axis(
        (parts, axis) in dims(1..=4, 3).prop_flat_map(|base| {
            let rank = base.len();
            (Just(base), 0..rank, vec(0..=3usize, 1..=3))
        }).prop_flat_map(|(base, axis, lengths)| {
            let parts: Vec<_> = lengths.iter().map(|&len| {
                let mut d = base.clone();
                d[axis] = len;
                tensor_of(d, value())
            }).collect();
            (parts, Just(axis))
        })
    ) {
        let data: Vec<(&[f64], &[usize])> = parts.iter().map(|p| (p.data(), p.dims())).collect();
        let (out_dims, expected) = reference_concat(&data, axis);
        let refs: Vec<&Tensor<f64>> = parts.iter().collect();
        assert_tensor(&Tensor::concat(&refs, axis), &out_dims, &expected, 0.0);
    }

    #[test]
    fn pad_surrounds_with_a_value(
        (x, pads) in tensor(0..=4, 3, value()).prop_flat_map(|x| {
            let rank = x.rank();
            (Just(x), vec((0..=2usize, 0..=2usize), rank))
        }),
        fill in -5.0..5.0f64,
    ) {
        let (out_dims, expected) = reference_pad(x.data(), x.dims(), &pads, fill);
        assert_tensor(&x.pad(&pads, fill), &out_dims, &expected, 0.0);
    }

    #[test]
    fn unsqueeze_and_squeeze_only_relabel(
        (x, axis) in tensor(0..=4, 4, value()).prop_flat_map(|x| {
            let rank = x.rank();
            (Just(x), 0..=rank)
        })
    ) {
        let mut expanded = x.dims().to_vec();
        expanded.insert(axis, 1);
        let u = x.unsqueeze(axis);
        assert_tensor(&u, &expanded, x.data(), 0.0);
        prop_assert!(u.shares_storage(&x));
        let s = u.squeeze(axis);
        assert_tensor(&s, x.dims(), x.data(), 0.0);
        prop_assert!(s.shares_storage(&x));
    }
}

/// Over 2 * 2^15 elements, so the strided copy splits its rows across threads.
#[test]
fn large_permute_and_slice_match_the_reference() {
    let dims = [64, 40, 30];
    let x = Tensor::from_vec(wave(64 * 40 * 30), dims);
    for perm in [[2, 0, 1], [1, 2, 0], [0, 2, 1]] {
        let (out_dims, expected) = reference_permute(x.data(), &dims, &perm);
        assert_tensor(&x.permute(&perm), &out_dims, &expected, 0.0);
    }
    let expected = build(&[64, 40, 25], |at| {
        x.data()[ravel(&[at[0], at[1], at[2] + 3], &dims)]
    });
    assert_tensor(&x.slice(2, 3, 28), &[64, 40, 25], &expected, 0.0);
}
