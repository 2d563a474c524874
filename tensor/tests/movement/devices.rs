//! Movement ops on every device (`device_test!`: cpu, sim, cuda) against the index arithmetic
//! of `main.rs`, bit for bit, on f32 and u32 tensors: seeded random shapes of ranks 0 to 7 (a GPU
//! merges contiguous axes before its 6-slot kernel), sizes that are not multiples of the GPU's
//! block, the transposes that take its tiled kernel, empty parts and rows, `select_rows`,
//! `squeeze` sharing storage; the panics of bad arguments.

use super::common::broadcast_read;
use super::common::device::{back, device_test, on};
use super::{build, reference_concat, reference_pad, reference_permute, reference_slice};
use std::fmt::Debug;
use tensor::{Device, Rng, Stored, Tensor};

/// Asserts that `got`, a result on `device`, holds exactly `want` in shape `dims`.
#[track_caller]
fn assert_moved<T>(what: &str, device: Device, got: &Tensor<T>, dims: &[usize], want: &[T])
where
    T: Stored + PartialEq + Debug,
{
    let got = back(device, got);
    assert_eq!(got.dims(), dims, "{what} on {device}: dimensions");
    assert!(got.data() == want, "{what} on {device}: values differ");
}

/// Random dims of the given rank, each in `1..=max`.
fn random_dims(rng: &mut Rng, rank: usize, max: usize) -> Vec<usize> {
    (0..rank).map(|_| 1 + rng.below(max)).collect()
}

/// Random values in [-1, 1).
fn values(rng: &mut Rng, dims: &[usize]) -> Tensor<f32> {
    rng.uniform(dims, -1.0, 1.0)
}

/// Checks `x.permute(perm)` on `device` against [`reference_permute`].
fn check_permute<T>(device: Device, x: &Tensor<T>, perm: &[usize])
where
    T: Stored + PartialEq + Debug,
{
    let (dims, want) = reference_permute(x.data(), x.dims(), perm);
    let got = on(device, x).permute(perm);
    assert_moved(
        &format!("permute {:?} by {perm:?}", x.dims()),
        device,
        &got,
        &dims,
        &want,
    );
}

fn broadcast_to_of_every_kind(device: Device) {
    let cases: [(&[usize], &[usize]); 6] = [
        (&[3, 1, 5], &[2, 3, 4, 5]),
        (&[1], &[7, 300]),
        (&[], &[2, 3]),
        (&[4, 1], &[4, 1]),
        (&[1, 1, 1, 1, 1, 1, 9], &[2, 1, 3, 1, 2, 1, 9]),
        (&[5, 1, 1, 3], &[2, 5, 7, 3, 3]),
    ];
    let mut rng = Rng::new(1);
    for (from, to) in cases {
        let x = values(&mut rng, from);
        let data = x.to_f64_vec();
        let want = build(to, |at| broadcast_read(&data, from, at) as f32);
        let got = on(device, &x).broadcast_to(to);
        assert_moved(
            &format!("broadcast {from:?} -> {to:?}"),
            device,
            &got,
            to,
            &want,
        );
    }
}
device_test!(broadcast_to_of_every_kind);

fn permute_and_transpose_of_random_shapes(device: Device) {
    let mut rng = Rng::new(2);
    for rank in 0..=5 {
        for _ in 0..3 {
            let d = random_dims(&mut rng, rank, 7);
            let x = values(&mut rng, &d);
            let mut perm: Vec<usize> = (0..rank).collect();
            rng.shuffle(&mut perm);
            check_permute(device, &x, &perm);
            if rank > 0 {
                let (a, b) = (rng.below(rank), rng.below(rank));
                let mut swap: Vec<usize> = (0..rank).collect();
                swap.swap(a, b);
                let (dims, want) = reference_permute(x.data(), x.dims(), &swap);
                let got = on(device, &x).transpose(a, b);
                let what = format!("transpose {:?} {a} {b}", x.dims());
                assert_moved(&what, device, &got, &dims, &want);
            }
        }
    }
    // Rank 7 with size-1 axes: merging leaves few enough axes for the GPU kernel.
    let x = values(&mut rng, &[2, 1, 3, 1, 4, 5, 1]);
    check_permute(device, &x, &[4, 0, 5, 1, 2, 6, 3]);
    // A large one: several GPU blocks with a ragged last block.
    check_permute(device, &values(&mut rng, &[37, 29, 3]), &[2, 0, 1]);
}
device_test!(permute_and_transpose_of_random_shapes);

/// Copies whose innermost output axis is strided in the source (the GPU's tiled kernel): 2-d
/// with ragged tiles, batched, NCHW -> NHWC and back, 4-d, index tensors.
fn tiled_transposes(device: Device) {
    let mut rng = Rng::new(8);
    check_permute(device, &values(&mut rng, &[130, 67]), &[1, 0]);
    check_permute(device, &values(&mut rng, &[3, 70, 45]), &[0, 2, 1]);
    let x = values(&mut rng, &[2, 5, 9, 11]);
    check_permute(device, &x, &[0, 2, 3, 1]);
    check_permute(device, &x.permute(&[0, 2, 3, 1]), &[0, 3, 1, 2]);
    check_permute(device, &values(&mut rng, &[2, 3, 40, 35]), &[1, 3, 0, 2]);
    let labels = Tensor::<u32>::from_vec((0..33 * 40).collect(), [33, 40]);
    check_permute(device, &labels, &[1, 0]);
}
device_test!(tiled_transposes);

fn slice_of_random_shapes(device: Device) {
    let mut rng = Rng::new(3);
    for rank in 1..=5 {
        for _ in 0..4 {
            let d = random_dims(&mut rng, rank, 8);
            let x = values(&mut rng, &d);
            let axis = rng.below(rank);
            let start = rng.below(x.dims()[axis] + 1);
            let end = start + rng.below(x.dims()[axis] - start + 1);
            let (dims, want) = reference_slice(x.data(), x.dims(), axis, (start, end));
            let got = on(device, &x).slice(axis, start, end);
            let what = format!("slice {:?} axis {axis} {start}..{end}", x.dims());
            assert_moved(&what, device, &got, &dims, &want);
        }
    }
}
device_test!(slice_of_random_shapes);

fn concat_of_random_parts(device: Device) {
    let mut rng = Rng::new(4);
    for rank in 1..=4 {
        for _ in 0..3 {
            let d = random_dims(&mut rng, rank, 6);
            let axis = rng.below(rank);
            let parts: Vec<Tensor<f32>> = (0..1 + rng.below(3))
                .map(|_| {
                    let mut p = d.clone();
                    p[axis] = rng.below(5); // 0 allowed: an empty part
                    values(&mut rng, &p)
                })
                .collect();
            let data: Vec<(&[f32], &[usize])> =
                parts.iter().map(|p| (p.data(), p.dims())).collect();
            let (dims, want) = reference_concat(&data, axis);
            let moved: Vec<Tensor<f32>> = parts.iter().map(|p| on(device, p)).collect();
            let got = Tensor::concat(&moved.iter().collect::<Vec<_>>(), axis);
            assert_moved(
                &format!("concat {d:?} on {axis}"),
                device,
                &got,
                &dims,
                &want,
            );
        }
    }
}
device_test!(concat_of_random_parts);

fn pad_of_random_shapes_and_index_tensors(device: Device) {
    let mut rng = Rng::new(5);
    for rank in 0..=4 {
        for _ in 0..3 {
            let d = random_dims(&mut rng, rank, 6);
            let x = values(&mut rng, &d);
            let pads: Vec<(usize, usize)> =
                (0..rank).map(|_| (rng.below(3), rng.below(3))).collect();
            let (dims, want) = reference_pad(x.data(), x.dims(), &pads, 0.5);
            let got = on(device, &x).pad(&pads, 0.5);
            assert_moved(
                &format!("pad {:?} {pads:?}", x.dims()),
                device,
                &got,
                &dims,
                &want,
            );
        }
    }
    // Index tensors: the pad value is a u32.
    let labels = Tensor::<u32>::from_vec((0..12).collect(), [3, 4]);
    let pads = [(1, 0), (2, 3)];
    let (dims, want) = reference_pad(labels.data(), labels.dims(), &pads, 99);
    let got = on(device, &labels).pad(&pads, 99);
    assert_moved("u32 pad", device, &got, &dims, &want);
    // A CIFAR-style random-crop pad, 3 x 32 x 32 by 4.
    let x = values(&mut rng, &[2, 3, 32, 32]);
    let pads = [(0, 0), (0, 0), (4, 4), (4, 4)];
    let (dims, want) = reference_pad(x.data(), x.dims(), &pads, 0.0);
    assert_moved(
        "crop pad",
        device,
        &on(device, &x).pad(&pads, 0.0),
        &dims,
        &want,
    );
}
device_test!(pad_of_random_shapes_and_index_tensors);

/// Rows picked with repeats, no rows at all, and rows of an index tensor.
fn select_rows_copies_the_rows_named(device: Device) {
    let mut rng = Rng::new(6);
    let x = values(&mut rng, &[50, 3, 7]);
    let labels = Tensor::<u32>::from_vec((0..50).collect(), [50]);
    let rows: Vec<usize> = (0..70).map(|_| rng.below(50)).collect();
    for picked in [&rows[..], &[]] {
        let want: Vec<f32> = picked
            .iter()
            .flat_map(|&r| x.data()[r * 21..(r + 1) * 21].to_vec())
            .collect();
        let got = on(device, &x).select_rows(picked);
        assert_moved("select_rows", device, &got, &[picked.len(), 3, 7], &want);
    }
    let want: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
    let got = on(device, &labels).select_rows(&rows);
    assert_moved("u32 rows", device, &got, &[70], &want);
}
device_test!(select_rows_copies_the_rows_named);

/// `squeeze` and `unsqueeze` relabel the same storage.
fn squeeze_and_unsqueeze_share_the_storage(device: Device) {
    let x = values(&mut Rng::new(7), &[3, 1, 333]);
    let g = on(device, &x);
    let s = g.squeeze(1);
    assert!(s.shares_storage(&g), "squeeze copied on {device}");
    assert_moved("squeeze", device, &s, &[3, 333], x.data());
    let u = s.unsqueeze(2);
    assert!(u.shares_storage(&g), "unsqueeze copied on {device}");
    assert_moved("unsqueeze", device, &u, &[3, 333, 1], x.data());
}
device_test!(squeeze_and_unsqueeze_share_the_storage);

fn broadcast_to_an_incompatible_shape_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).broadcast_to([3, 3]);
}
device_test!(
    #[should_panic(expected = "broadcast_to: cannot broadcast shape [2, 3] to [3, 3]")]
    broadcast_to_an_incompatible_shape_panics: cpu, sim
);

fn permute_with_a_repeated_axis_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).permute(&[0, 0]);
}
device_test!(
    #[should_panic(expected = "permute: [0, 0] is not a permutation of the axes of [2, 3]")]
    permute_with_a_repeated_axis_panics: cpu, sim
);

fn slice_past_the_end_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).slice(1, 1, 4);
}
device_test!(
    #[should_panic(expected = "slice: range 1..4 out of bounds for axis 1 of shape [2, 3]")]
    slice_past_the_end_panics: cpu, sim
);

fn concat_of_mismatched_parts_panics(device: Device) {
    let (a, b) = (Tensor::<f32>::zeros([2, 3]), Tensor::zeros([2, 4]));
    let _ = Tensor::concat(&[&on(device, &a), &on(device, &b)], 0);
}
device_test!(
    #[should_panic(expected = "concat: shape [2, 4] does not match [2, 3] off axis 0")]
    concat_of_mismatched_parts_panics: cpu, sim
);

fn select_rows_past_the_end_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).select_rows(&[0, 4]);
}
device_test!(
    #[should_panic(expected = "select_rows: row 4 out of range for shape [2, 3]")]
    select_rows_past_the_end_panics: cpu, sim
);

fn squeeze_of_a_long_axis_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2, 3])).squeeze(1);
}
device_test!(
    #[should_panic(expected = "squeeze: axis 1 of shape [2, 3] is not 1")]
    squeeze_of_a_long_axis_panics: cpu, sim
);
