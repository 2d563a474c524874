//! Gradient checks of conv2d and conv2d_relu (with and without bias, 1x1 and 3x3 kernels,
//! stride 1-2, padding 0-1), max_pool2d and avg_pool2d. conv2d_relu is checked by finite
//! differences away from its kink, and everywhere (zeros planted) against conv2d then relu. Max pooling is checked by finite differences on values with
//! no ties, and on tie-prone values against its rule: each window's gradient goes to the
//! position it recorded, the first maximum in scan order.

use autograd::{Tape, Var};
use proptest::prelude::*;
use tensor::{Conv2dGeometry, Pool2dGeometry, Tensor};
use tests::gradcheck::{check_gradients, gradients};
use tests::strategies::{KINK_GAP, config, distinct_tensor, planted, tensor_of, tie_prone, value};

/// Input `[N, C, H, W]`, weight `[O, C, K, K]`, optional bias `[O]` and geometry of a conv2d.
type ConvCase = (
    Tensor<f64>,
    Tensor<f64>,
    Option<Tensor<f64>>,
    Conv2dGeometry,
);

/// A random conv2d: N 1-2, C and O 1-3, K 1 or 3, stride 1-2, padding 0-1, H and W up to 5.
fn conv_case() -> impl Strategy<Value = ConvCase> {
    conv_case_of(value())
}

/// As [`conv_case`], every operand's elements drawn from `values`.
fn conv_case_of<S>(values: S) -> impl Strategy<Value = ConvCase>
where
    S: Strategy<Value = f64> + Clone + 'static,
{
    let layout = (
        1..=2usize,
        1..=3usize,
        1..=3usize,
        prop_oneof![Just(1usize), Just(3)],
    );
    (layout, 1..=2usize, 0..=1usize, any::<bool>()).prop_flat_map(
        move |((n, c, o, k), stride, padding, with_bias)| {
            let values = values.clone();
            let smallest = k.saturating_sub(2 * padding).max(1);
            (smallest..=5usize, smallest..=5usize).prop_flat_map(move |(h, w)| {
                let bias = if with_bias {
                    tensor_of(vec![o], values.clone()).prop_map(Some).boxed()
                } else {
                    Just(None).boxed()
                };
                (
                    tensor_of(vec![n, c, h, w], values.clone()),
                    tensor_of(vec![o, c, k, k], values.clone()),
                    bias,
                    Just(Conv2dGeometry::new(stride, padding)),
                )
            })
        },
    )
}

/// A pooling geometry (window 1-3, stride 1-2, padding up to half the window) and an input
/// `[N, C, H, W]` that fits it, made by `input` from its dimensions.
fn pool_case<S, F>(input: F) -> impl Strategy<Value = (Tensor<f64>, Pool2dGeometry)>
where
    S: Strategy<Value = Tensor<f64>>,
    F: Fn(Vec<usize>) -> S + Clone,
{
    (1..=3usize, 1..=2usize).prop_flat_map(move |(kernel, stride)| {
        let input = input.clone();
        (0..=kernel / 2).prop_flat_map(move |padding| {
            let input = input.clone();
            let smallest = kernel.saturating_sub(2 * padding).max(1);
            let dims = (1..=2usize, 1..=2usize, smallest..=5usize, smallest..=5usize);
            let x = dims.prop_flat_map(move |(n, c, h, w)| input(vec![n, c, h, w]));
            (x, Just(Pool2dGeometry::new(kernel, stride, padding)))
        })
    })
}

/// The gradient of `f(inputs)` with respect to the first input alone, for an upstream
/// gradient of ones.
fn input_gradient<F>(inputs: &[Tensor<f64>], f: F) -> Tensor<f64>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let out = f(&vars);
    let ones = Tensor::ones(out.shape().clone());
    tape.backward_with(&out, ones, &[&vars[0]]).remove(0)
}

/// The max-pool gradient written out: each window's upstream gradient lands on its first
/// maximal input in scan order (padding never wins).
fn expected_max_pool_grad(
    x: &Tensor<f64>,
    geom: Pool2dGeometry,
    upstream: &Tensor<f64>,
) -> Vec<f64> {
    let &[n, c, h, w] = x.dims() else {
        unreachable!("pooling input is NCHW")
    };
    let (oh, ow) = geom.output_size(h, w);
    let mut grad = vec![0.0; x.numel()];
    for plane in 0..n * c {
        for (oy, ox) in (0..oh).flat_map(|oy| (0..ow).map(move |ox| (oy, ox))) {
            let rows = (oy * geom.stride).saturating_sub(geom.padding)
                ..(oy * geom.stride + geom.kernel - geom.padding).min(h);
            let cols = (ox * geom.stride).saturating_sub(geom.padding)
                ..(ox * geom.stride + geom.kernel - geom.padding).min(w);
            let mut best: Option<usize> = None;
            for at in rows.flat_map(|y| cols.clone().map(move |x| plane * h * w + y * w + x)) {
                if best.is_none_or(|b| x.data()[at] > x.data()[b]) {
                    best = Some(at);
                }
            }
            let best = best.expect("every window holds an input element");
            grad[best] += upstream.data()[(plane * oh + oy) * ow + ox];
        }
    }
    grad
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn conv2d((x, weight, bias, geom) in conv_case()) {
        let mut inputs = vec![x, weight];
        inputs.extend(bias);
        check_gradients(&inputs, |v| v[0].conv2d(&v[1], v.get(2), geom))?;
    }

    /// Away from the kink: cases with a convolution output within `KINK_GAP` of 0 are skipped.
    #[test]
    fn conv2d_relu((x, weight, bias, geom) in conv_case()) {
        let z = x.conv2d(&weight, bias.as_ref(), geom);
        prop_assume!(z.data().iter().all(|v| v.abs() >= KINK_GAP));
        let mut inputs = vec![x, weight];
        inputs.extend(bias);
        check_gradients(&inputs, |v| v[0].conv2d_relu(&v[1], v.get(2), geom))?;
    }

    /// Kinks and ties included (zeros planted in every operand): the value and the gradients
    /// of conv2d_relu_max_pool are those of conv2d, relu and max_pool2d in turn, bit for bit,
    /// for every operand and for the input's alone (an attack's backward, its own path).
    #[test]
    fn conv2d_relu_max_pool_is_the_three_ops(
        (x, weight, bias, geom) in conv_case_of(planted(value(), 0.0)),
        (kernel, stride) in (1..=2usize, 1..=2usize),
    ) {
        let (h, w) = (x.dims()[2], x.dims()[3]);
        let (oh, ow) = geom.output_size(h, w, weight.dims()[2], weight.dims()[3]);
        prop_assume!(oh >= kernel && ow >= kernel);
        let pool = Pool2dGeometry::new(kernel, stride, 0);
        let mut inputs = vec![x, weight];
        inputs.extend(bias);
        let (f, t) = (
            gradients(&inputs, |v| v[0].conv2d_relu_max_pool(&v[1], v.get(2), geom, pool)),
            gradients(&inputs, |v| v[0].conv2d(&v[1], v.get(2), geom).relu().max_pool2d(pool)),
        );
        let (fx, tx) = (
            input_gradient(&inputs, |v| v[0].conv2d_relu_max_pool(&v[1], v.get(2), geom, pool)),
            input_gradient(&inputs, |v| {
                v[0].conv2d(&v[1], v.get(2), geom).relu().max_pool2d(pool)
            }),
        );
        let pairs = f.grads.iter().zip(&t.grads).chain([(&fx, &tx)]);
        for (i, (f, t)) in pairs.enumerate() {
            prop_assert_eq!(f.dims(), t.dims());
            for (at, (a, b)) in f.data().iter().zip(t.data()).enumerate() {
                prop_assert!(a.to_bits() == b.to_bits(), "gradient {} element {}: {} vs {}", i, at, a, b);
            }
        }
    }

    /// Kinks included (zeros planted in every operand, so that outputs of exactly 0 occur):
    /// the value and every gradient are those of conv2d followed by relu, bit for bit.
    #[test]
    fn conv2d_relu_is_conv2d_then_relu(
        (x, weight, bias, geom) in conv_case_of(planted(value(), 0.0))
    ) {
        let mut inputs = vec![x, weight];
        inputs.extend(bias);
        let fused = gradients(&inputs, |v| v[0].conv2d_relu(&v[1], v.get(2), geom));
        let pair = gradients(&inputs, |v| v[0].conv2d(&v[1], v.get(2), geom).relu());
        for (i, (f, p)) in fused.grads.iter().zip(&pair.grads).enumerate() {
            prop_assert_eq!(f.dims(), p.dims());
            for (at, (a, b)) in f.data().iter().zip(p.data()).enumerate() {
                prop_assert!(a.to_bits() == b.to_bits(), "input {} element {}: {} vs {}", i, at, a, b);
            }
        }
        let v = &inputs;
        let fused = v[0].conv2d_relu(&v[1], v.get(2), geom);
        let pair = v[0].conv2d(&v[1], v.get(2), geom).relu();
        prop_assert_eq!(fused.to_vec(), pair.to_vec());
    }

    /// Away from ties: all elements at least 0.1 apart.
    #[test]
    fn max_pool2d((x, geom) in pool_case(distinct_tensor)) {
        check_gradients(&[x], |v| v[0].max_pool2d(geom))?;
    }

    /// With ties, the first maximum of each window in scan order (the recorded index) takes
    /// the window's gradient; overlapping windows add up.
    #[test]
    fn max_pool2d_sends_ties_to_the_recorded_index(
        (x, geom) in pool_case(|d| tensor_of(d, tie_prone()))
    ) {
        let g = gradients(std::slice::from_ref(&x), |v| v[0].max_pool2d(geom));
        let expected = expected_max_pool_grad(&x, geom, &g.upstream);
        for (at, (a, e)) in g.grads[0].data().iter().zip(&expected).enumerate() {
            prop_assert!((a - e).abs() <= 1e-12, "element {}: {} but expected {}", at, a, e);
        }
    }

    #[test]
    fn avg_pool2d((x, geom) in pool_case(|d| tensor_of(d, value()))) {
        check_gradients(&[x], |v| v[0].avg_pool2d(geom))?;
    }
}
