//! Elementwise ops against naive f64 references: binary arithmetic, `add_relu`,
//! `maximum`/`minimum` and the comparisons under numpy broadcasting (size-1 axes, rank-0
//! scalars, operands of different ranks), `where_`, and every unary op, with ties and zeros
//! generated on purpose.
//!
//! These properties and the multi-threaded sizes run on the CPU, in f64 and f32 (hundreds of
//! random cases would take minutes on the simulator); `devices.rs` runs the same references on
//! every device.

#[path = "../common/mod.rs"]
mod common;
mod devices;

use common::{
    F32_TOL, F64_TOL, assert_close, assert_tensor, broadcast_operand, broadcast_read, config, dims,
    tensor, tensor_of, tied_value, to_element, unravel, value, wave,
};
use proptest::prelude::*;
use tensor::{Element, Tensor};

/// A binary op of the library on element type `T`, and the same op on one pair of f64 values.
type BinaryCase<T> = (
    &'static str,
    fn(&Tensor<T>, &Tensor<T>) -> Tensor<T>,
    fn(f64, f64) -> f64,
);

/// `torch.maximum`: the larger operand, NaN if either is NaN, the first on ties.
fn maximum(x: f64, y: f64) -> f64 {
    if x.is_nan() || x >= y { x } else { y }
}

/// `torch.minimum`: the smaller operand, NaN if either is NaN, the first on ties.
fn minimum(x: f64, y: f64) -> f64 {
    if x.is_nan() || x <= y { x } else { y }
}

/// 1 where a comparison holds, else 0.
fn holds(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// `relu(x + y)`: the sum where it is above 0, else 0 (NaN included).
fn add_relu(x: f64, y: f64) -> f64 {
    if x + y > 0.0 { x + y } else { 0.0 }
}

/// Arithmetic and elementwise extremes.
const ARITHMETIC: [BinaryCase<f64>; 7] = [
    ("add", Tensor::add, |x, y| x + y),
    ("sub", Tensor::sub, |x, y| x - y),
    ("mul", Tensor::mul, |x, y| x * y),
    ("div", Tensor::div, |x, y| x / y),
    ("maximum", Tensor::maximum, maximum),
    ("minimum", Tensor::minimum, minimum),
    ("add_relu", Tensor::add_relu, add_relu),
];

/// Comparisons, giving 1 where they hold and 0 elsewhere.
const COMPARISONS: [BinaryCase<f64>; 5] = [
    ("gt", Tensor::gt, |x, y| holds(x > y)),
    ("ge", Tensor::ge, |x, y| holds(x >= y)),
    ("lt", Tensor::lt, |x, y| holds(x < y)),
    ("le", Tensor::le, |x, y| holds(x <= y)),
    ("eq_mask", Tensor::eq_mask, |x, y| holds(x == y)),
];

/// Every binary op in f32 (the arithmetic first), the element type of every device.
const BINARY_F32: [BinaryCase<f32>; 12] = [
    ("add", Tensor::add, |x, y| x + y),
    ("sub", Tensor::sub, |x, y| x - y),
    ("mul", Tensor::mul, |x, y| x * y),
    ("div", Tensor::div, |x, y| x / y),
    ("add_relu", Tensor::add_relu, add_relu),
    ("maximum", Tensor::maximum, maximum),
    ("minimum", Tensor::minimum, minimum),
    ("gt", Tensor::gt, |x, y| holds(x > y)),
    ("ge", Tensor::ge, |x, y| holds(x >= y)),
    ("lt", Tensor::lt, |x, y| holds(x < y)),
    ("le", Tensor::le, |x, y| holds(x <= y)),
    ("eq_mask", Tensor::eq_mask, |x, y| holds(x == y)),
];

/// The broadcast of several dimension lists: right-aligned, each axis the largest size.
fn broadcast_dims(all: &[&[usize]]) -> Vec<usize> {
    let rank = all.iter().map(|d| d.len()).max().unwrap_or(0);
    (0..rank)
        .map(|i| {
            all.iter()
                .map(|d| (d.len() + i).checked_sub(rank).map_or(1, |j| d[j]))
                .max()
                .unwrap()
        })
        .collect()
}

/// Naive broadcasting: visits every output element and reads each operand where it lands.
fn reference_binary(
    a: &Tensor<f64>,
    b: &Tensor<f64>,
    f: fn(f64, f64) -> f64,
) -> (Vec<usize>, Vec<f64>) {
    let out_dims = broadcast_dims(&[a.dims(), b.dims()]);
    let numel: usize = out_dims.iter().product();
    let values = (0..numel)
        .map(|flat| {
            let at = unravel(flat, &out_dims);
            f(
                broadcast_read(a.data(), a.dims(), &at),
                broadcast_read(b.data(), b.dims(), &at),
            )
        })
        .collect();
    (out_dims, values)
}

/// Two tensors whose shapes broadcast together (see [`broadcast_operand`]).
fn broadcast_pair<S>(values: S) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)>
where
    S: Strategy<Value = f64> + Clone,
{
    dims(0..=4, 4)
        .prop_flat_map(|full| (broadcast_operand(full.clone()), broadcast_operand(full)))
        .prop_flat_map(move |(da, db)| {
            (tensor_of(da, values.clone()), tensor_of(db, values.clone()))
        })
}

/// Checks every op of `cases` on `(a, b)` and on `(b, a)`, in element type `T`, against its
/// reference on the same (rounded) values.
fn check_binary<T: Element>(cases: &[BinaryCase<T>], a: &Tensor<f64>, b: &Tensor<f64>, tol: f64) {
    for &(name, op, f) in cases {
        for (x, y) in [(a, b), (b, a)] {
            let (xt, yt) = (to_element::<T>(x), to_element::<T>(y));
            let (out_dims, expected) = reference_binary(&xt.cast(), &yt.cast(), f);
            let got = op(&xt, &yt);
            assert_eq!(
                got.dims(),
                &out_dims[..],
                "{name} of {:?} and {:?}",
                x.dims(),
                y.dims()
            );
            assert_close(&got.to_f64_vec(), &expected, tol);
        }
    }
}

/// Checks the result `got` of unary op `name` on `input` against `f` applied elementwise.
fn check_unary(name: &str, got: Tensor<f64>, input: &Tensor<f64>, f: impl Fn(f64) -> f64) {
    let expected: Vec<f64> = input.data().iter().map(|&v| f(v)).collect();
    assert_eq!(got.dims(), input.dims(), "{name}");
    assert_close(got.data(), &expected, F64_TOL);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arithmetic_broadcasts_like_numpy((a, b) in broadcast_pair(value())) {
        check_binary(&ARITHMETIC, &a, &b, F64_TOL);
    }

    #[test]
    fn arithmetic_in_f32((a, b) in broadcast_pair(value())) {
        check_binary(&BINARY_F32[..5], &a, &b, F32_TOL);
    }

    /// Small integers make `maximum`, `minimum` and the comparisons meet equal operands, and
    /// `add_relu` sums of exactly 0.
    #[test]
    fn ties_in_extremes_and_comparisons((a, b) in broadcast_pair(tied_value())) {
        check_binary(&ARITHMETIC[4..], &a, &b, 0.0);
        check_binary(&COMPARISONS, &a, &b, 0.0);
    }

    /// `where_` broadcasts its condition and both branches together; non-zero means true.
    #[test]
    fn where_picks_by_a_broadcast_condition(
        (cond, on_true, on_false) in dims(0..=4, 4)
            .prop_flat_map(|full| (
                broadcast_operand(full.clone()),
                broadcast_operand(full.clone()),
                broadcast_operand(full),
            ))
            .prop_flat_map(|(dc, dt, df)| (
                tensor_of(dc, tied_value()),
                tensor_of(dt, value()),
                tensor_of(df, value()),
            ))
    ) {
        let out_dims = broadcast_dims(&[cond.dims(), on_true.dims(), on_false.dims()]);
        let numel: usize = out_dims.iter().product();
        let expected: Vec<f64> = (0..numel)
            .map(|flat| {
                let at = unravel(flat, &out_dims);
                if broadcast_read(cond.data(), cond.dims(), &at) != 0.0 {
                    broadcast_read(on_true.data(), on_true.dims(), &at)
                } else {
                    broadcast_read(on_false.data(), on_false.dims(), &at)
                }
            })
            .collect();
        assert_tensor(&cond.where_(&on_true, &on_false), &out_dims, &expected, 0.0);
    }

    #[test]
    fn unary_ops_match_std(
        x in tensor(0..=4, 4, value()),
        s in -3.0..3.0f64,
        p in -2.0..3.0f64,
    ) {
        let positive = x.data().iter().map(|v| v.abs() + 0.1).collect();
        let positive = Tensor::from_vec(positive, x.dims());
        check_unary("add_scalar", x.add_scalar(s), &x, |v| v + s);
        check_unary("mul_scalar", x.mul_scalar(s), &x, |v| v * s);
        check_unary("neg", x.neg(), &x, |v| -v);
        check_unary("exp", x.exp(), &x, f64::exp);
        check_unary("log", positive.log(), &positive, f64::ln);
        check_unary("sqrt", positive.sqrt(), &positive, f64::sqrt);
        check_unary("abs", x.abs(), &x, f64::abs);
        check_unary("sign", x.sign(), &x, |v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                0.0
            }
        });
        check_unary("relu", x.relu(), &x, |v| if v > 0.0 { v } else { 0.0 });
        check_unary("square", x.square(), &x, |v| v * v);
        check_unary("powf", positive.powf(p), &positive, |v| v.powf(p));
        check_unary("clamp", x.clamp(-1.0, 2.0), &x, |v| v.clamp(-1.0, 2.0));
    }

    /// Clamp bounds drawn from the same small integers as the values: elements sit on them.
    #[test]
    fn clamp_keeps_values_on_its_bounds(
        x in tensor(0..=3, 4, tied_value()),
        (a, b) in (tied_value(), tied_value()),
    ) {
        let (lo, hi) = (a.min(b), a.max(b));
        let expected: Vec<f64> = x.data().iter().map(|&v| v.max(lo).min(hi)).collect();
        assert_tensor(&x.clamp(lo, hi), x.dims(), &expected, 0.0);
    }
}

/// Large enough (over 2 * 2^15 elements) that every path splits its rows across threads.
#[test]
fn large_broadcasts_match_the_reference() {
    let a = Tensor::from_vec(wave(300 * 257), [300, 257]);
    let row = Tensor::from_vec(wave(257), [257]);
    let column = Tensor::from_vec(wave(300), [300, 1]);
    for other in [&a, &row, &column, &Tensor::scalar(0.5)] {
        check_binary(&ARITHMETIC, &a, other, F64_TOL);
    }
    let from_rows = reference_binary(&column, &row, |x, y| x * y);
    assert_tensor(&column.mul(&row), &from_rows.0, &from_rows.1, 0.0);
}

/// Batch-norm's shapes, large enough to split across threads: a per-channel `[1, C, 1, 1]`
/// operand (whose rows merge to `H * W` values), per-row and per-column operands whose axes merge
/// only partly, and planes of one value, whose rows are shorter than a vector.
#[test]
fn large_per_channel_broadcasts_match_the_reference() {
    let (n, c, h, w) = (6, 16, 24, 20);
    let x = Tensor::from_vec(wave(n * c * h * w), [n, c, h, w]);
    let operands = [
        Tensor::from_vec(wave(c), [1, c, 1, 1]),
        Tensor::from_vec(wave(c), [c, 1, 1]),
        Tensor::from_vec(wave(n * h), [n, 1, h, 1]),
        Tensor::from_vec(wave(c * w), [c, 1, w]),
        Tensor::from_vec(wave(n * c), [n, c, 1, 1]),
    ];
    for other in &operands {
        check_binary(&ARITHMETIC, &x, other, F64_TOL);
    }
    let tiny = Tensor::from_vec(wave(n * c * 3), [n, c, 3, 1]);
    check_binary(
        &ARITHMETIC,
        &tiny,
        &Tensor::from_vec(wave(c), [c, 1, 1]),
        F64_TOL,
    );
}

#[test]
fn maximum_and_minimum_propagate_nan() {
    let nan = Tensor::from_vec(vec![f64::NAN, 1.0], [2]);
    let one = Tensor::from_vec(vec![1.0, f64::NAN], [2]);
    for t in [
        nan.maximum(&one),
        one.maximum(&nan),
        nan.minimum(&one),
        one.minimum(&nan),
    ] {
        assert!(t.data().iter().all(|v| v.is_nan()), "{t:?}");
    }
}
