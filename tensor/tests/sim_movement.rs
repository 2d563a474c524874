//! GPU movement ops against the CPU ones, on every device of `gpu_common::devices()`: random
//! shapes and values from a seeded `Rng`, element counts that are not multiples of the block
//! size, ranks 0 to 7 (the host merges contiguous axes before the 6-slot kernel), `u32` index
//! tensors as well as `f32`, and the panics of bad arguments. Moves are exact: results must be
//! bit-identical.

mod gpu_common;

use gpu_common::{assert_same, devices, on_sim, up};
use tensor::cuda::GpuTensor;
use tensor::{Rng, Tensor};

/// Random dims of the given rank, each in `1..=max`.
fn dims(rng: &mut Rng, rank: usize, max: usize) -> Vec<usize> {
    (0..rank).map(|_| 1 + rng.below(max)).collect()
}

/// Random values in [-1, 1).
fn values(rng: &mut Rng, dims: &[usize]) -> Tensor<f32> {
    rng.uniform(dims, -1.0, 1.0)
}

/// A random permutation of `0..n`.
fn permutation(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut p);
    p
}

#[test]
fn sim_broadcast_to_matches_cpu() {
    let cases: [(&[usize], &[usize]); 6] = [
        (&[3, 1, 5], &[2, 3, 4, 5]),
        (&[1], &[7, 300]),
        (&[], &[2, 3]),
        (&[4, 1], &[4, 1]),
        (&[1, 1, 1, 1, 1, 1, 9], &[2, 1, 3, 1, 2, 1, 9]),
        (&[5, 1, 1, 3], &[2, 5, 7, 3, 3]),
    ];
    for gpu in devices() {
        let mut rng = Rng::new(1);
        for (from, to) in cases {
            let x = values(&mut rng, from);
            let g = up(&gpu, &x).broadcast_to(to).unwrap();
            assert_same(
                &format!("broadcast {from:?} -> {to:?}"),
                &g,
                &x.broadcast_to(to),
            );
        }
    }
}

#[test]
fn sim_permute_and_transpose_match_cpu() {
    for gpu in devices() {
        let mut rng = Rng::new(2);
        for rank in 0..=5 {
            for _ in 0..3 {
                let d = dims(&mut rng, rank, 7);
                let x = values(&mut rng, &d);
                let perm = permutation(&mut rng, rank);
                let g = up(&gpu, &x).permute(&perm).unwrap();
                assert_same(&format!("permute {d:?} by {perm:?}"), &g, &x.permute(&perm));
                if rank > 0 {
                    let (a, b) = (rng.below(rank), rng.below(rank));
                    let g = up(&gpu, &x).transpose(a, b).unwrap();
                    assert_same(&format!("transpose {d:?} {a} {b}"), &g, &x.transpose(a, b));
                }
            }
        }
        // Rank 7 with size-1 axes: merging leaves few enough axes for the kernel.
        let x = values(&mut rng, &[2, 1, 3, 1, 4, 5, 1]);
        let perm = [4, 0, 5, 1, 2, 6, 3];
        let g = up(&gpu, &x).permute(&perm).unwrap();
        assert_same("rank-7 permute", &g, &x.permute(&perm));
        // A large one, several blocks with a ragged last block.
        let x = values(&mut rng, &[37, 29, 3]);
        let g = up(&gpu, &x).permute(&[2, 0, 1]).unwrap();
        assert_same("large permute", &g, &x.permute(&[2, 0, 1]));
    }
}

#[test]
fn sim_tiled_transposes_match_cpu() {
    // Copies whose innermost output axis is strided in the source take the tiled kernel: 2-d
    // with ragged tiles, batched, NCHW -> NHWC and back, a sliced source, index tensors.
    for gpu in devices() {
        let mut rng = Rng::new(8);
        let x = values(&mut rng, &[130, 67]);
        assert_same(
            "2-d",
            &up(&gpu, &x).transpose(0, 1).unwrap(),
            &x.transpose(0, 1),
        );
        let x = values(&mut rng, &[3, 70, 45]);
        assert_same(
            "batched",
            &up(&gpu, &x).transpose(1, 2).unwrap(),
            &x.transpose(1, 2),
        );
        let x = values(&mut rng, &[2, 5, 9, 11]);
        let nhwc = x.permute(&[0, 2, 3, 1]);
        assert_same(
            "to NHWC",
            &up(&gpu, &x).permute(&[0, 2, 3, 1]).unwrap(),
            &nhwc,
        );
        let back = up(&gpu, &nhwc).permute(&[0, 3, 1, 2]).unwrap();
        assert_same("to NCHW", &back, &x);
        let x = values(&mut rng, &[2, 3, 40, 35]);
        let perm = [1, 3, 0, 2];
        assert_same(
            "4-d",
            &up(&gpu, &x).permute(&perm).unwrap(),
            &x.permute(&perm),
        );
        let labels = Tensor::<u32>::from_vec((0..33 * 40).collect(), [33, 40]);
        let g = up(&gpu, &labels).transpose(0, 1).unwrap();
        assert_same("u32", &g, &labels.transpose(0, 1));
    }
}

#[test]
fn sim_slice_matches_cpu() {
    for gpu in devices() {
        let mut rng = Rng::new(3);
        for rank in 1..=5 {
            for _ in 0..4 {
                let d = dims(&mut rng, rank, 8);
                let x = values(&mut rng, &d);
                let axis = rng.below(rank);
                let start = rng.below(d[axis] + 1);
                let end = start + rng.below(d[axis] - start + 1);
                let g = up(&gpu, &x).slice(axis, start, end).unwrap();
                let what = format!("slice {d:?} axis {axis} {start}..{end}");
                assert_same(&what, &g, &x.slice(axis, start, end));
            }
        }
    }
}

#[test]
fn sim_concat_matches_cpu() {
    for gpu in devices() {
        let mut rng = Rng::new(4);
        for rank in 1..=4 {
            for _ in 0..3 {
                let d = dims(&mut rng, rank, 6);
                let axis = rng.below(rank);
                let parts: Vec<Tensor<f32>> = (0..1 + rng.below(3))
                    .map(|_| {
                        let mut p = d.clone();
                        p[axis] = rng.below(5); // 0 allowed: an empty part
                        values(&mut rng, &p)
                    })
                    .collect();
                let on_gpu: Vec<GpuTensor<f32>> = parts.iter().map(|p| up(&gpu, p)).collect();
                let g = GpuTensor::concat(&on_gpu.iter().collect::<Vec<_>>(), axis).unwrap();
                let want = Tensor::concat(&parts.iter().collect::<Vec<_>>(), axis);
                assert_same(&format!("concat {d:?} on {axis}"), &g, &want);
            }
        }
    }
}

#[test]
fn sim_pad_matches_cpu() {
    for gpu in devices() {
        let mut rng = Rng::new(5);
        for rank in 0..=4 {
            for _ in 0..3 {
                let d = dims(&mut rng, rank, 6);
                let x = values(&mut rng, &d);
                let pads: Vec<(usize, usize)> =
                    (0..rank).map(|_| (rng.below(3), rng.below(3))).collect();
                let g = up(&gpu, &x).pad(&pads, 0.5).unwrap();
                assert_same(&format!("pad {d:?} {pads:?}"), &g, &x.pad(&pads, 0.5));
            }
        }
        // Index tensors: the pad value is a u32.
        let labels = Tensor::<u32>::from_vec((0..12).collect(), [3, 4]);
        let g = up(&gpu, &labels).pad(&[(1, 0), (2, 3)], 99).unwrap();
        assert_same("u32 pad", &g, &labels.pad(&[(1, 0), (2, 3)], 99));
        // A CIFAR-style random-crop pad, 3 x 32 x 32 by 4.
        let x = values(&mut rng, &[2, 3, 32, 32]);
        let pads = [(0, 0), (0, 0), (4, 4), (4, 4)];
        let g = up(&gpu, &x).pad(&pads, 0.0).unwrap();
        assert_same("crop pad", &g, &x.pad(&pads, 0.0));
    }
}

#[test]
fn sim_select_rows_matches_cpu() {
    for gpu in devices() {
        let mut rng = Rng::new(6);
        let x = values(&mut rng, &[50, 3, 7]);
        let rows: Vec<usize> = (0..70).map(|_| rng.below(50)).collect();
        let g = up(&gpu, &x).select_rows(&rows).unwrap();
        assert_same("select_rows", &g, &x.select_rows(&rows));
        let g = up(&gpu, &x).select_rows(&[]).unwrap();
        assert_same("no rows", &g, &x.select_rows(&[]));
        let labels = Tensor::<u32>::from_vec((0..50).collect(), [50]);
        let g = up(&gpu, &labels).select_rows(&rows).unwrap();
        assert_same("u32 rows", &g, &labels.select_rows(&rows));
    }
}

#[test]
fn sim_duplicate_and_squeeze() {
    for gpu in devices() {
        let mut rng = Rng::new(7);
        let x = values(&mut rng, &[3, 1, 333]);
        let g = up(&gpu, &x);
        let copy = g.duplicate().unwrap();
        assert!(
            !copy.shares_buffer(&g),
            "duplicate must allocate a new buffer"
        );
        assert_same("duplicate", &copy, &x);
        let s = g.squeeze(1);
        assert!(s.shares_buffer(&g), "squeeze is a reshape");
        assert_same("squeeze", &s, &x.squeeze(1));
        let u = s.unsqueeze(2);
        assert_same("unsqueeze", &u, &x.squeeze(1).unsqueeze(2));
    }
}

#[test]
#[should_panic(expected = "permute: [0, 0] is not a permutation of the axes of [2, 3]")]
fn sim_permute_rejects_a_bad_permutation() {
    on_sim(|gpu| {
        let x = up(gpu, &Tensor::<f32>::zeros([2, 3]));
        let _ = x.permute(&[0, 0]);
    });
}

#[test]
#[should_panic(expected = "broadcast_to: cannot broadcast shape [2, 3] to [3, 3]")]
fn sim_broadcast_to_rejects_a_bad_shape() {
    on_sim(|gpu| {
        let _ = up(gpu, &Tensor::<f32>::zeros([2, 3])).broadcast_to([3, 3]);
    });
}

#[test]
#[should_panic(expected = "concat: shape [2, 4] does not match [2, 3] off axis 0")]
fn sim_concat_rejects_mismatched_parts() {
    on_sim(|gpu| {
        let a = up(gpu, &Tensor::<f32>::zeros([2, 3]));
        let b = up(gpu, &Tensor::<f32>::zeros([2, 4]));
        let _ = GpuTensor::concat(&[&a, &b], 0);
    });
}

#[test]
#[should_panic(expected = "slice: range 2..5 out of bounds for axis 1 of shape [2, 3]")]
fn sim_slice_rejects_a_bad_range() {
    on_sim(|gpu| {
        let _ = up(gpu, &Tensor::<f32>::zeros([2, 3])).slice(1, 2, 5);
    });
}

#[test]
#[should_panic(expected = "select_rows: row 4 out of range for shape [2, 3]")]
fn sim_select_rows_rejects_a_bad_row() {
    on_sim(|gpu| {
        let _ = up(gpu, &Tensor::<f32>::zeros([2, 3])).select_rows(&[0, 4]);
    });
}
