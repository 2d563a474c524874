//! Gradient checks of the reductions: sums and means along an axis and over everything, and max
//! and min along an axis. Max and min are checked by finite differences on values with no ties,
//! and on tie-prone values against the documented rule: the gradient goes to the FIRST maximal
//! (minimal) element of each line.

use proptest::prelude::*;
use tensor::Tensor;
use tests::gradcheck::{check_gradients, gradients};
use tests::strategies::{
    config, dims, distinct_tensor, tensor, tensor_of, tie_prone, value, with_axis,
};

/// The gradient of max (`sign = 1`) or min (`sign = -1`) along `axis`, written out: each line's
/// upstream gradient lands on its first extreme element.
fn expected_pick_grad(x: &Tensor<f64>, axis: usize, upstream: &Tensor<f64>, sign: f64) -> Vec<f64> {
    let len = x.dims()[axis];
    let inner: usize = x.dims()[axis + 1..].iter().product();
    let mut grad = vec![0.0; x.numel()];
    for (line, &w) in upstream.data().iter().enumerate() {
        let (outer, i) = (line / inner, line % inner);
        let at = |l: usize| (outer * len + l) * inner + i;
        let mut first = 0;
        for l in 1..len {
            if sign * x.data()[at(l)] > sign * x.data()[at(first)] {
                first = l;
            }
        }
        grad[at(first)] = w;
    }
    grad
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn sum_axis((x, axis) in with_axis(tensor(1..=3, 4, value())), keepdim in any::<bool>()) {
        check_gradients(&[x], |v| v[0].sum_axis(axis, keepdim))?;
    }

    #[test]
    fn mean_axis((x, axis) in with_axis(tensor(1..=3, 4, value())), keepdim in any::<bool>()) {
        check_gradients(&[x], |v| v[0].mean_axis(axis, keepdim))?;
    }

    #[test]
    fn sum_all(x in tensor(0..=3, 4, value())) {
        check_gradients(&[x], |v| v[0].sum_all())?;
    }

    #[test]
    fn mean_all(x in tensor(0..=3, 4, value())) {
        check_gradients(&[x], |v| v[0].mean_all())?;
    }

    /// Away from ties: all elements at least 0.1 apart.
    #[test]
    fn max_axis(
        (x, axis) in with_axis(dims(1..=3, 4).prop_flat_map(distinct_tensor)),
        keepdim in any::<bool>(),
    ) {
        check_gradients(&[x], |v| v[0].max_axis(axis, keepdim))?;
    }

    #[test]
    fn min_axis(
        (x, axis) in with_axis(dims(1..=3, 4).prop_flat_map(distinct_tensor)),
        keepdim in any::<bool>(),
    ) {
        check_gradients(&[x], |v| v[0].min_axis(axis, keepdim))?;
    }

    /// With ties, the first maximal (minimal) element of each line takes the whole gradient.
    #[test]
    fn max_and_min_axis_pick_the_first_on_ties(
        (x, axis) in with_axis(dims(1..=3, 4).prop_flat_map(|d| tensor_of(d, tie_prone()))),
        keepdim in any::<bool>(),
    ) {
        let inputs = [x.clone()];
        let max = gradients(&inputs, |v| v[0].max_axis(axis, keepdim));
        let expected = expected_pick_grad(&x, axis, &max.upstream, 1.0);
        prop_assert_eq!(max.grads[0].data(), expected.as_slice(), "max_axis");
        let min = gradients(&inputs, |v| v[0].min_axis(axis, keepdim));
        let expected = expected_pick_grad(&x, axis, &min.upstream, -1.0);
        prop_assert_eq!(min.grads[0].data(), expected.as_slice(), "min_axis");
    }
}
