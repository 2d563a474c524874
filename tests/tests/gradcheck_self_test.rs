//! The checker checks itself: custom ops built with `Var::from_op` whose backward rules are
//! deliberately wrong (scaled by 1.01, wrong sign, wrong at one element, wrong shape) must be
//! reported, and the same ops with the correct rule must pass.

use autograd::Var;
use proptest::prelude::*;
use tensor::Tensor;
use tests::gradcheck::{GradError, check_gradients};
use tests::strategies::{broadcast_pair, config, magnitude, tensor, value};

/// `x * x` recorded as one op whose backward rule returns `factor * 2x * g`: correct for
/// `factor = 1`, a wrong rule otherwise.
fn square_with_rule<'t>(x: &Var<'t, f64>, factor: f64) -> Var<'t, f64> {
    let saved = x.value().clone();
    Var::from_op("square_with_rule", &[x], saved.square(), move |g, need| {
        vec![need[0].then(|| g.mul(&saved).mul_scalar(2.0 * factor))]
    })
}

/// `a + b` (broadcast) recorded as one op whose rule forgets to sum the gradient back to each
/// input's shape: the classic broadcasting bug.
fn add_without_sum_to<'t>(a: &Var<'t, f64>, b: &Var<'t, f64>) -> Var<'t, f64> {
    Var::from_op(
        "add_without_sum_to",
        &[a, b],
        a.value().add(b.value()),
        |g, _| vec![Some(g.clone()), Some(g.clone())],
    )
}

proptest! {
    #![proptest_config(config(64))]

    /// The correct rule passes, on scalar and on non-scalar outputs.
    #[test]
    fn correct_rule_passes(x in tensor(0..=3, 3, value())) {
        check_gradients(std::slice::from_ref(&x), |v| square_with_rule(&v[0], 1.0))?;
        check_gradients(&[x], |v| square_with_rule(&v[0], 1.0).sum_all())?;
    }

    /// A gradient 1% too large is caught wherever the gradient is not tiny (|2x| >= 0.2 here:
    /// the 0.002 error exceeds the tolerance 1e-5 + 1e-3 * 0.2).
    #[test]
    fn rule_off_by_one_percent_is_caught(x in tensor(0..=3, 3, magnitude(0.1, 2.0))) {
        let result = check_gradients(&[x], |v| square_with_rule(&v[0], 1.01));
        prop_assert!(
            matches!(result, Err(GradError::Mismatch { .. })),
            "a 1% error went unnoticed: {result:?}"
        );
    }

    /// A rule with the wrong sign is caught, through the scalar and the non-scalar path, and
    /// every compared element is reported as failing.
    #[test]
    fn rule_with_wrong_sign_is_caught(x in tensor(0..=3, 3, magnitude(0.1, 2.0))) {
        let inputs = std::slice::from_ref(&x);
        let scalar = check_gradients(inputs, |v| square_with_rule(&v[0], -1.0).sum_all());
        let elementwise = check_gradients(inputs, |v| square_with_rule(&v[0], -1.0));
        for result in [scalar, elementwise] {
            let Err(GradError::Mismatch { failing, compared, .. }) = result else {
                return Err(TestCaseError::fail(format!("wrong sign went unnoticed: {result:?}")));
            };
            prop_assert_eq!((failing, compared), (x.numel(), x.numel()));
        }
    }

    /// Forgetting to sum a broadcast gradient back is reported as a shape error.
    #[test]
    fn broadcast_gradient_of_wrong_shape_is_caught((a, b) in broadcast_pair(value(), value())) {
        let differ = a.dims() != b.dims();
        let result = check_gradients(&[a, b], |v| add_without_sum_to(&v[0], &v[1]));
        if differ {
            prop_assert!(matches!(result, Err(GradError::Shape { .. })), "{result:?}");
        } else {
            prop_assert!(result.is_ok(), "{result:?}");
        }
    }
}

/// The failure names the worst element: a rule wrong at one position only is reported there,
/// with both gradients.
#[test]
fn worst_element_is_reported() {
    let x = Tensor::from_f64s(&[0.5, -1.0, 1.5, 2.0, -0.25, 0.75], [2, 3]);
    let wrong_at = Tensor::from_f64s(&[0.0, 0.0, 0.0, 0.0, 0.3, 0.0], [2, 3]);
    let result = check_gradients(&[x], move |v| {
        let saved = v[0].value().clone();
        let wrong_at = wrong_at.clone();
        let value = saved.square().sum_all();
        Var::from_op("sum_of_squares", &[&v[0]], value, move |g, _| {
            vec![Some(saved.mul_scalar(2.0).add(&wrong_at).mul(g))]
        })
    });
    let Err(GradError::Mismatch {
        input,
        position,
        analytic,
        numeric,
        failing,
        compared,
    }) = &result
    else {
        panic!("the wrong element went unnoticed: {result:?}");
    };
    assert_eq!(
        (*input, position.as_slice(), *failing, *compared),
        (0, &[1, 1][..], 1, 6)
    );
    assert!(
        (analytic - (-0.5 + 0.3)).abs() < 1e-12,
        "analytic {analytic}"
    );
    assert!((numeric - -0.5).abs() < 1e-6, "numeric {numeric}");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("input 0 position [1, 1]"), "{message}");
}
