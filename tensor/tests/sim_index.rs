//! GPU gather, scatter_add and one_hot against the CPU ones, on every device of
//! `gpu_common::devices()`: random shapes (index smaller than the target off the axis, on every
//! axis, ranks 1 to 5), repeated indices for scatter_add (whose GPU formulation sums in the CPU's
//! order, so results are bit-identical), sizes that are not multiples of the block size, and the
//! panics of bad shapes and out-of-range index values.

mod gpu_common;

use gpu_common::{assert_same, devices, down, on_sim, up};
use tensor::cuda::GpuTensor;
use tensor::{IndexTensor, Rng, Tensor};

/// Random dims of the given rank, each in `1..=max`.
fn dims(rng: &mut Rng, rank: usize, max: usize) -> Vec<usize> {
    (0..rank).map(|_| 1 + rng.below(max)).collect()
}

/// Random index values below `limit` in shape `dims`.
fn indices(rng: &mut Rng, dims: &[usize], limit: usize) -> IndexTensor {
    let n = dims.iter().product();
    Tensor::from_vec((0..n).map(|_| rng.below(limit) as u32).collect(), dims)
}

/// A target shape and an index shape that fits it on `axis` (smaller or equal off the axis,
/// any length on it).
fn shapes(rng: &mut Rng, rank: usize) -> (Vec<usize>, usize, Vec<usize>) {
    let target = dims(rng, rank, 6);
    let axis = rng.below(rank);
    let index: Vec<usize> = target
        .iter()
        .enumerate()
        .map(|(a, &d)| {
            if a == axis {
                1 + rng.below(7)
            } else {
                1 + rng.below(d)
            }
        })
        .collect();
    (target, axis, index)
}

#[test]
fn sim_gather_matches_cpu() {
    for gpu in devices() {
        let mut rng = Rng::new(11);
        for rank in 1..=5 {
            for _ in 0..4 {
                let (t, axis, i) = shapes(&mut rng, rank);
                let x: Tensor<f32> = rng.uniform(&t[..], -1.0, 1.0);
                let index = indices(&mut rng, &i, t[axis]);
                let g = up(&gpu, &x).gather(axis, &up(&gpu, &index)).unwrap();
                let what = format!("gather {t:?} axis {axis} index {i:?}");
                assert_same(&what, &g, &x.gather(axis, &index));
            }
        }
        // Cross-entropy's pick: logits [300, 10], labels [300, 1] (ragged last block); on u32.
        let logits: Tensor<f32> = rng.normal([300, 10], 0.0, 1.0);
        let labels = indices(&mut rng, &[300, 1], 10);
        let g = up(&gpu, &logits).gather(1, &up(&gpu, &labels)).unwrap();
        assert_same("pick", &g, &logits.gather(1, &labels));
        // u32 values (the CPU gathers only floats: compare with the f32 gather of the same
        // small integers).
        let table = indices(&mut rng, &[7, 9], 1000);
        let index = indices(&mut rng, &[5, 9], 7);
        let g = up(&gpu, &table).gather(0, &up(&gpu, &index)).unwrap();
        let as_f32 = Tensor::from_vec(table.data().iter().map(|&v| v as f32).collect(), [7, 9]);
        let want = as_f32.gather(0, &index);
        let want = Tensor::from_vec(want.data().iter().map(|&v| v as u32).collect(), [5, 9]);
        assert_same("u32 gather", &g, &want);
    }
}

#[test]
fn sim_scatter_add_matches_cpu_bit_for_bit() {
    for gpu in devices() {
        let mut rng = Rng::new(12);
        for rank in 1..=5 {
            for _ in 0..4 {
                let (t, axis, i) = shapes(&mut rng, rank);
                let x: Tensor<f32> = rng.uniform(&t[..], -1.0, 1.0);
                let index = indices(&mut rng, &i, t[axis]);
                let src: Tensor<f32> = rng.uniform(&i[..], -1.0, 1.0);
                let g = up(&gpu, &x)
                    .scatter_add(axis, &up(&gpu, &index), &up(&gpu, &src))
                    .unwrap();
                let what = format!("scatter_add {t:?} axis {axis} index {i:?}");
                assert_same(&what, &g, &x.scatter_add(axis, &index, &src));
            }
        }
        // Many repeats of few targets: the order of the additions matters in f32.
        let x: Tensor<f32> = Tensor::zeros([3, 4]);
        let index = indices(&mut rng, &[3, 200], 4);
        let src: Tensor<f32> = rng.normal([3, 200], 0.0, 1000.0);
        let g = up(&gpu, &x)
            .scatter_add(1, &up(&gpu, &index), &up(&gpu, &src))
            .unwrap();
        assert_same("repeats", &g, &x.scatter_add(1, &index, &src));
        // Cross-entropy backward's shape: [300, 10] with one index per row.
        let x: Tensor<f32> = rng.uniform([300, 10], -1.0, 1.0);
        let index = indices(&mut rng, &[300, 1], 10);
        let src: Tensor<f32> = rng.uniform([300, 1], -1.0, 1.0);
        let g = up(&gpu, &x)
            .scatter_add(1, &up(&gpu, &index), &up(&gpu, &src))
            .unwrap();
        assert_same("pick backward", &g, &x.scatter_add(1, &index, &src));
    }
}

#[test]
fn sim_one_hot_matches_cpu() {
    for gpu in devices() {
        let mut rng = Rng::new(13);
        for (shape, classes) in [(vec![300], 10), (vec![4, 7], 3), (vec![], 5), (vec![0], 4)] {
            let labels = indices(&mut rng, &shape, classes);
            let g = GpuTensor::one_hot(&up(&gpu, &labels), classes).unwrap();
            let want: Tensor<f32> = Tensor::one_hot(&labels, classes);
            assert_same(&format!("one_hot {shape:?} {classes}"), &g, &want);
        }
    }
}

#[test]
#[should_panic(expected = "gather: index 5 out of range for axis 1 of shape [2, 5]")]
fn sim_gather_rejects_an_out_of_range_index() {
    on_sim(|gpu| {
        let x = up(gpu, &Tensor::<f32>::zeros([2, 5]));
        let index = up(gpu, &Tensor::from_vec(vec![0u32, 5, 1, 2], [2, 2]));
        // Checked on the device: reported at the next read, as the GPU cannot stop the host.
        let gathered = x.gather(1, &index).unwrap();
        assert_eq!(
            down(&gathered).to_vec(),
            vec![0.0; 4],
            "a bad index reads nothing"
        );
    });
}

#[test]
#[should_panic(expected = "gather: index [3, 1] does not fit shape [2, 5] on axis 1")]
fn sim_gather_rejects_an_index_that_does_not_fit() {
    on_sim(|gpu| {
        let x = up(gpu, &Tensor::<f32>::zeros([2, 5]));
        let index = up(gpu, &Tensor::from_vec(vec![0u32; 3], [3, 1]));
        let _ = x.gather(1, &index);
    });
}

#[test]
#[should_panic(expected = "scatter_add: index [2, 1] and source [2, 2] differ")]
fn sim_scatter_add_rejects_a_mismatched_source() {
    on_sim(|gpu| {
        let x = up(gpu, &Tensor::<f32>::zeros([2, 5]));
        let index = up(gpu, &Tensor::from_vec(vec![0u32; 2], [2, 1]));
        let src = up(gpu, &Tensor::<f32>::zeros([2, 2]));
        let _ = x.scatter_add(1, &index, &src);
    });
}

#[test]
#[should_panic(expected = "one_hot: label 7 out of range for 3 classes")]
fn sim_one_hot_rejects_an_out_of_range_label() {
    on_sim(|gpu| {
        let labels = up(gpu, &Tensor::from_vec(vec![0u32, 7, 2], [3]));
        let rows = GpuTensor::one_hot(&labels, 3).unwrap();
        let _ = down(&rows);
    });
}
