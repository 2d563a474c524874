//! Gradient checks of the elementwise ops: the broadcasting binary ops, `where_`, the scalar ops
//! and the unary functions. Kinks (relu and abs at 0, sign at 0, clamp at its bounds, ties of
//! maximum and minimum) are planted on purpose, left out of the finite differences, and checked
//! against the documented subgradient instead.

use autograd::Var;
use proptest::prelude::*;
use tensor::Tensor;
use tests::gradcheck::{check_gradients, check_gradients_skipping, gradients};
use tests::strategies::{
    KINK_GAP, broadcast_dims, broadcast_pair, config, ladder, magnitude, planted, tensor,
    tensor_of, tie_prone, value,
};

/// Largest difference allowed between a subgradient and its expected value (sums of a few
/// products, possibly added in another order).
const EXACT: f64 = 1e-12;

/// Flat index into an operand of dimensions `from` of the element that broadcasting places at
/// flat index `at` of an output of dimensions `to`.
fn broadcast_source(at: usize, to: &[usize], from: &[usize]) -> usize {
    let (mut rest, mut index, mut stride) = (at, 0, 1);
    for axis in (0..to.len()).rev() {
        let coordinate = rest % to[axis];
        rest /= to[axis];
        let Some(from_axis) = (axis + from.len()).checked_sub(to.len()) else {
            continue;
        };
        if from[from_axis] != 1 {
            index += coordinate * stride;
        }
        stride *= from[from_axis];
    }
    index
}

/// Asserts that `actual` equals `expected` elementwise within [`EXACT`].
fn assert_exact(actual: &Tensor<f64>, expected: &[f64], what: &str) -> Result<(), TestCaseError> {
    for (at, (a, e)) in actual.data().iter().zip(expected).enumerate() {
        prop_assert!(
            (a - e).abs() <= EXACT,
            "{what}: element {at} is {a}, expected {e}"
        );
    }
    Ok(())
}

/// Checks the gradient of an elementwise unary `op` at `x` against `local(x)`, the documented
/// (sub)derivative, exactly: `d sum(w * op(x)) / dx = w * local(x)`.
fn assert_local_derivative<F>(
    x: &Tensor<f64>,
    op: F,
    local: impl Fn(f64) -> f64,
) -> Result<(), TestCaseError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let g = gradients(std::slice::from_ref(x), op);
    let expected: Vec<f64> = x
        .data()
        .iter()
        .zip(g.upstream.data())
        .map(|(&v, w)| w * local(v))
        .collect();
    assert_exact(&g.grads[0], &expected, "subgradient")
}

/// The subgradient of maximum (`sign = 1`) or minimum (`sign = -1`) at broadcast inputs `a`,
/// `b`, written out element by element: the winner takes the gradient, a tie splits it in half.
fn expected_select_grads(
    a: &Tensor<f64>,
    b: &Tensor<f64>,
    upstream: &Tensor<f64>,
    sign: f64,
) -> (Vec<f64>, Vec<f64>) {
    let (mut da, mut db) = (vec![0.0; a.numel()], vec![0.0; b.numel()]);
    for (at, &w) in upstream.data().iter().enumerate() {
        let ia = broadcast_source(at, upstream.dims(), a.dims());
        let ib = broadcast_source(at, upstream.dims(), b.dims());
        let (x, y) = (sign * a.data()[ia], sign * b.data()[ib]);
        let share_a = if x > y {
            1.0
        } else if x == y {
            0.5
        } else {
            0.0
        };
        da[ia] += w * share_a;
        db[ib] += w * (1.0 - share_a);
    }
    (da, db)
}

/// A 0/1 mask and the two branches of `where_`, all three broadcasting together.
fn where_case() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, Tensor<f64>)> {
    broadcast_dims(3).prop_flat_map(|d| {
        (
            tensor_of(d[0].clone(), (0u8..2).prop_map(f64::from)),
            tensor_of(d[1].clone(), value()),
            tensor_of(d[2].clone(), value()),
        )
    })
}

/// Bounds `min < max` and a tensor with some elements exactly on them.
fn clamp_case() -> impl Strategy<Value = (Tensor<f64>, f64, f64)> {
    (-1.5..0.5, 0.1..1.5).prop_flat_map(|(min, width)| {
        let max = min + width;
        let values = prop_oneof![2 => value(), 1 => Just(min), 1 => Just(max)];
        (tensor(0..=3, 3, values), Just(min), Just(max))
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn add((a, b) in broadcast_pair(value(), value())) {
        check_gradients(&[a, b], |v| v[0].add(&v[1]))?;
    }

    /// relu(a + b): both operands' gradient where the sum is positive, the same bits as
    /// `relu(add)` forward; the inputs of sums within [`KINK_GAP`] of 0 are left out.
    #[test]
    fn add_relu((a, b) in broadcast_pair(value(), value())) {
        let sum = a.add(&b);
        let mut near = [vec![false; a.numel()], vec![false; b.numel()]];
        for (at, &s) in sum.data().iter().enumerate() {
            if s.abs() < KINK_GAP {
                near[0][broadcast_source(at, sum.dims(), a.dims())] = true;
                near[1][broadcast_source(at, sum.dims(), b.dims())] = true;
            }
        }
        let near_kink = |input: usize, at: usize| near[input][at];
        check_gradients_skipping(&[a.clone(), b.clone()], near_kink, |v| v[0].add_relu(&v[1]))?;
        prop_assert_eq!(a.add_relu(&b).to_f64_vec(), sum.relu().to_f64_vec());
    }

    #[test]
    fn sub((a, b) in broadcast_pair(value(), value())) {
        check_gradients(&[a, b], |v| v[0].sub(&v[1]))?;
    }

    #[test]
    fn mul((a, b) in broadcast_pair(value(), value())) {
        check_gradients(&[a, b], |v| v[0].mul(&v[1]))?;
    }

    #[test]
    fn div((a, b) in broadcast_pair(value(), magnitude(0.5, 2.0))) {
        check_gradients(&[a, b], |v| v[0].div(&v[1]))?;
    }

    /// Away from ties: the two inputs come from interleaved ladders.
    #[test]
    fn maximum((a, b) in broadcast_pair(ladder(0), ladder(1))) {
        check_gradients(&[a, b], |v| v[0].maximum(&v[1]))?;
    }

    #[test]
    fn minimum((a, b) in broadcast_pair(ladder(0), ladder(1))) {
        check_gradients(&[a, b], |v| v[0].minimum(&v[1]))?;
    }

    /// At ties each input gets half the gradient (and the winner all of it elsewhere).
    #[test]
    fn maximum_and_minimum_split_ties((a, b) in broadcast_pair(tie_prone(), tie_prone())) {
        let inputs = [a.clone(), b.clone()];
        let max = gradients(&inputs, |v| v[0].maximum(&v[1]));
        let (da, db) = expected_select_grads(&a, &b, &max.upstream, 1.0);
        assert_exact(&max.grads[0], &da, "maximum, d/da")?;
        assert_exact(&max.grads[1], &db, "maximum, d/db")?;
        let min = gradients(&inputs, |v| v[0].minimum(&v[1]));
        let (da, db) = expected_select_grads(&a, &b, &min.upstream, -1.0);
        assert_exact(&min.grads[0], &da, "minimum, d/da")?;
        assert_exact(&min.grads[1], &db, "minimum, d/db")?;
    }

    /// The mask, both branches and the output broadcast together.
    #[test]
    fn where_((mask, on_true, on_false) in where_case()) {
        check_gradients(&[on_true, on_false], move |v| Var::where_(&mask, &v[0], &v[1]))?;
    }

    #[test]
    fn add_scalar(x in tensor(0..=3, 3, value()), s in value()) {
        check_gradients(&[x], |v| v[0].add_scalar(s))?;
    }

    #[test]
    fn mul_scalar(x in tensor(0..=3, 3, value()), s in value()) {
        check_gradients(&[x], |v| v[0].mul_scalar(s))?;
    }

    #[test]
    fn neg(x in tensor(0..=3, 3, value())) {
        check_gradients(&[x], |v| v[0].neg())?;
    }

    #[test]
    fn exp(x in tensor(0..=3, 3, value())) {
        check_gradients(&[x], |v| v[0].exp())?;
    }

    #[test]
    fn log(x in tensor(0..=3, 3, 0.2..3.0)) {
        check_gradients(&[x], |v| v[0].log())?;
    }

    #[test]
    fn sqrt(x in tensor(0..=3, 3, 0.2..3.0)) {
        check_gradients(&[x], |v| v[0].sqrt())?;
    }

    #[test]
    fn square(x in tensor(0..=3, 3, value())) {
        check_gradients(&[x], |v| v[0].square())?;
    }

    #[test]
    fn powf(x in tensor(0..=3, 3, 0.2..3.0), p in -2.0..3.0) {
        check_gradients(&[x], |v| v[0].powf(p))?;
    }

    /// relu'(0) = 0; elsewhere 1 for positive, 0 for negative inputs.
    #[test]
    fn relu(x in tensor(0..=3, 3, planted(value(), 0.0))) {
        let near_kink = |_, at: usize| x.data()[at].abs() < KINK_GAP;
        check_gradients_skipping(std::slice::from_ref(&x), near_kink, |v| v[0].relu())?;
        assert_local_derivative(&x, |v| v[0].relu(), |v| if v > 0.0 { 1.0 } else { 0.0 })?;
    }

    /// abs'(0) = 0; elsewhere the sign.
    #[test]
    fn abs(x in tensor(0..=3, 3, planted(value(), 0.0))) {
        let near_kink = |_, at: usize| x.data()[at].abs() < KINK_GAP;
        check_gradients_skipping(std::slice::from_ref(&x), near_kink, |v| v[0].abs())?;
        let sign = |v: f64| if v > 0.0 { 1.0 } else if v < 0.0 { -1.0 } else { 0.0 };
        assert_local_derivative(&x, |v| v[0].abs(), sign)?;
    }

    /// sign has gradient 0 everywhere, its jump at 0 included.
    #[test]
    fn sign(x in tensor(0..=3, 3, planted(value(), 0.0))) {
        let near_kink = |_, at: usize| x.data()[at].abs() < KINK_GAP;
        check_gradients_skipping(std::slice::from_ref(&x), near_kink, |v| v[0].sign())?;
        assert_local_derivative(&x, |v| v[0].sign(), |_| 0.0)?;
    }

    /// The gradient passes where `min <= x <= max`, the bounds themselves included.
    #[test]
    fn clamp((x, min, max) in clamp_case()) {
        let near_bound = |_, at: usize| {
            let v = x.data()[at];
            (v - min).abs() < KINK_GAP || (v - max).abs() < KINK_GAP
        };
        check_gradients_skipping(std::slice::from_ref(&x), near_bound, |v| v[0].clamp(min, max))?;
        let inside = |v: f64| if (min..=max).contains(&v) { 1.0 } else { 0.0 };
        assert_local_derivative(&x, |v| v[0].clamp(min, max), inside)?;
    }
}
