//! `matmul` and `matmul_t` against a triple loop, in f64 and f32: 2-D, batched 3-D, 3-D times a
//! shared 2-D right operand, every combination of transposed operands, and products large
//! enough to take the multi-threaded paths: random layouts as proptest properties on the CPU (a
//! few hundred cases would take minutes on the simulator), in f64 and f32.
//!
//! On every device (`device_test!`: cpu, sim, cuda), in f32: sizes that are not multiples of
//! the GPU's tiles (down to 1), every transpose variant, batched and shared-right-operand
//! products, an empty inner dimension, enough output tiles for the GPU's large tile; the panics
//! of shapes that do not multiply.

mod common;

use common::device::{assert_f32, back, device_test, on};
use common::{F32_TOL, F64_TOL, assert_tensor, config, wave};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Device, Element, Rng, Tensor};

/// The operands' layouts: `batch` is `None` for plain 2-D, else the leading size of `a` and,
/// when `b_batched`, of `b` too.
#[derive(Clone, Copy, Debug)]
struct Layout {
    batch: Option<usize>,
    b_batched: bool,
    m: usize,
    k: usize,
    n: usize,
    transpose_a: bool,
    transpose_b: bool,
}

impl Layout {
    /// Stored dimensions of `a` (`[m, k]`, or `[k, m]` when transposed, after the batch).
    fn a_dims(&self) -> Vec<usize> {
        let (m, k) = (self.m, self.k);
        let mat = if self.transpose_a { [k, m] } else { [m, k] };
        self.batch.iter().copied().chain(mat).collect()
    }

    /// Stored dimensions of `b` (`[k, n]`, or `[n, k]` when transposed, after any batch).
    fn b_dims(&self) -> Vec<usize> {
        let (k, n) = (self.k, self.n);
        let mat = if self.transpose_b { [n, k] } else { [k, n] };
        let batch = self.batch.filter(|_| self.b_batched);
        batch.iter().copied().chain(mat).collect()
    }

    /// Dimensions of the product.
    fn out_dims(&self) -> Vec<usize> {
        self.batch.iter().copied().chain([self.m, self.n]).collect()
    }
}

/// `op(a) op(b)` by the definition `c[i][j] = sum_p a[i][p] b[p][j]`, batch by batch.
fn reference(layout: Layout, a: &[f64], b: &[f64]) -> Vec<f64> {
    let Layout { m, k, n, .. } = layout;
    let at_a = |batch: usize, i: usize, p: usize| {
        let within = if layout.transpose_a {
            p * m + i
        } else {
            i * k + p
        };
        a[batch * m * k + within]
    };
    let at_b = |batch: usize, p: usize, j: usize| {
        let within = if layout.transpose_b {
            j * k + p
        } else {
            p * n + j
        };
        let batch = if layout.b_batched { batch } else { 0 };
        b[batch * k * n + within]
    };
    let mut c = Vec::new();
    for batch in 0..layout.batch.unwrap_or(1) {
        for i in 0..m {
            for j in 0..n {
                c.push((0..k).map(|p| at_a(batch, i, p) * at_b(batch, p, j)).sum());
            }
        }
    }
    c
}

/// Multiplies `a` and `b` (given as f64, converted to `T`) laid out as `layout` and compares
/// with the reference on the converted values.
fn check<T: Element>(layout: Layout, a: &[f64], b: &[f64], tol: f64) {
    let a = Tensor::<T>::from_f64s(a, layout.a_dims());
    let b = Tensor::<T>::from_f64s(b, layout.b_dims());
    let expected = reference(layout, &a.to_f64_vec(), &b.to_f64_vec());
    let got = a.matmul_t(layout.transpose_a, &b, layout.transpose_b);
    assert_tensor(&got, &layout.out_dims(), &expected, tol);
    if !layout.transpose_a && !layout.transpose_b {
        assert_tensor(&a.matmul(&b), &layout.out_dims(), &expected, tol);
    }
}

/// A random layout with sizes up to 17 (k from 0: an empty sum), enough to leave partial blocks
/// in the GEMM's 8-wide kernels, and values in `[-1, 1)` for both operands.
fn layout_and_operands() -> impl Strategy<Value = (Layout, Vec<f64>, Vec<f64>)> {
    let sizes = (1..=17usize, 0..=17usize, 1..=17usize);
    let batching = prop_oneof![Just(None), (1..=4usize).prop_map(Some)];
    (sizes, batching, any::<bool>(), any::<bool>(), any::<bool>())
        .prop_map(
            |((m, k, n), batch, b_batched, transpose_a, transpose_b)| Layout {
                batch,
                b_batched: batch.is_some() && b_batched,
                m,
                k,
                n,
                transpose_a,
                transpose_b,
            },
        )
        .prop_flat_map(|layout| {
            let a_len: usize = layout.a_dims().iter().product();
            let b_len: usize = layout.b_dims().iter().product();
            (
                Just(layout),
                vec(-1.0..1.0f64, a_len),
                vec(-1.0..1.0f64, b_len),
            )
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn small_products((layout, a, b) in layout_and_operands()) {
        check::<f64>(layout, &a, &b, F64_TOL);
        check::<f32>(layout, &a, &b, F32_TOL);
    }
}

/// Big enough for the row-split GEMM (m k n >= 2^18, m not a multiple of the split) and for the
/// parallel batch loop, in every transpose combination.
#[test]
fn large_products_match_the_reference() {
    let shapes = [
        (None, false, 37, 80, 90),
        (Some(3), true, 20, 40, 50),
        (Some(3), false, 20, 40, 50),
    ];
    for (batch, b_batched, m, k, n) in shapes {
        for (transpose_a, transpose_b) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            let layout = Layout {
                batch,
                b_batched,
                m,
                k,
                n,
                transpose_a,
                transpose_b,
            };
            let a = wave(layout.a_dims().iter().product());
            let b: Vec<f64> = wave(layout.b_dims().iter().product())
                .iter()
                .map(|v| v / 3.0)
                .collect();
            check::<f64>(layout, &a, &b, F64_TOL);
            check::<f32>(layout, &a, &b, F32_TOL);
        }
    }
}

/// Tolerance for a sum of `k` products of values in `[-1, 1)`, added in any order.
fn atol(k: usize) -> f64 {
    1e-5 * (k as f64 + 1.0)
}

/// `op(a) op(b)` on `device` for `a` `[batch?, m, k]` and `b` `[batch_b?, k, n]` as used, in
/// all four transpose variants (and `matmul` for the plain one), against the triple loop.
fn check_on(device: Device, rng: &mut Rng, batch: Option<usize>, b_batched: bool, mkn: [usize; 3]) {
    let [m, k, n] = mkn;
    for (transpose_a, transpose_b) in [(false, false), (false, true), (true, false), (true, true)] {
        let layout = Layout {
            batch,
            b_batched,
            m,
            k,
            n,
            transpose_a,
            transpose_b,
        };
        let a: Tensor<f32> = rng.uniform(layout.a_dims(), -1.0, 1.0);
        let b: Tensor<f32> = rng.uniform(layout.b_dims(), -1.0, 1.0);
        let want = reference(layout, &a.to_f64_vec(), &b.to_f64_vec());
        let (ga, gb) = (on(device, &a), on(device, &b));
        let got = back(device, &ga.matmul_t(transpose_a, &gb, transpose_b));
        let what = format!("{layout:?} on {device}");
        assert_f32(&what, &got, &layout.out_dims(), &want, atol(k), 1e-5);
        if !transpose_a && !transpose_b {
            let got = back(device, &ga.matmul(&gb));
            assert_f32(&what, &got, &layout.out_dims(), &want, atol(k), 1e-5);
        }
    }
}

fn edges_and_transposes(device: Device) {
    let mut rng = Rng::new(1);
    for mkn in [
        [1, 1, 1],
        [7, 3, 5],
        [65, 17, 1],
        [1, 9, 70],
        [66, 8, 130],
        [3, 33, 7],
    ] {
        check_on(device, &mut rng, None, false, mkn);
    }
}
device_test!(edges_and_transposes);

fn batched_and_shared_right_operand(device: Device) {
    let mut rng = Rng::new(2);
    check_on(device, &mut rng, Some(3), true, [9, 12, 70]);
    check_on(device, &mut rng, Some(4), false, [65, 10, 6]);
}
device_test!(batched_and_shared_right_operand);

/// An inner dimension of 0 gives zeros; and a plain product of another size.
fn empty_inner_dimension(device: Device) {
    let mut rng = Rng::new(3);
    check_on(device, &mut rng, Some(2), true, [4, 0, 3]);
    check_on(device, &mut rng, None, false, [5, 20, 9]);
}
device_test!(empty_inner_dimension);

/// Enough output tiles (256 of 128x128) that the GPU kernel takes its large tile, with edges in
/// both dimensions and an inner dimension of two and a half slices.
fn large_tile(device: Device) {
    check_on(device, &mut Rng::new(4), Some(16), true, [500, 20, 500]);
}
device_test!(large_tile);

fn inner_dimension_mismatch_panics(device: Device) {
    let a = on(device, &Tensor::<f32>::zeros([2, 3]));
    let _ = a.matmul(&on(device, &Tensor::zeros([4, 5])));
}
device_test!(
    #[should_panic(expected = "matmul: cannot multiply shapes [2, 3] and [4, 5]")]
    inner_dimension_mismatch_panics: cpu, sim
);

fn batch_mismatch_panics(device: Device) {
    let a = on(device, &Tensor::<f32>::zeros([2, 3, 4]));
    let _ = a.matmul(&on(device, &Tensor::zeros([3, 4, 5])));
}
device_test!(
    #[should_panic(expected = "matmul: cannot multiply shapes [2, 3, 4] and [3, 4, 5]")]
    batch_mismatch_panics: cpu, sim
);

fn two_d_times_batched_panics(device: Device) {
    let a = on(device, &Tensor::<f32>::zeros([3, 4]));
    let _ = a.matmul(&on(device, &Tensor::zeros([2, 4, 5])));
}
device_test!(
    #[should_panic(expected = "matmul: cannot multiply shapes [3, 4] and [2, 4, 5]")]
    two_d_times_batched_panics: cpu, sim
);
