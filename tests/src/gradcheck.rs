//! A finite-difference gradient checker for `autograd`.
//!
//! For a function `f` of several input tensors, [`check_gradients`] compares the tape's gradient
//! with f64 central differences, element by element:
//!
//! ```text
//! numeric = (L(x + EPS e_j) - L(x - EPS e_j)) / (2 EPS)
//! pass    when |analytic - numeric| <= ATOL + RTOL * |numeric|
//! ```
//!
//! `L` is `f` itself when it returns a scalar, and otherwise `sum(w * f(x))` for a fixed random
//! upstream gradient `w`, which the analytic side feeds to `backward_with` (a vector-Jacobian
//! product). Every evaluation records on a fresh [`Tape`], exactly as training does.

use std::fmt;

use autograd::{Tape, Var};
use tensor::{Rng, Tensor};

/// Step of the central differences.
pub const EPS: f64 = 1e-6;
/// Absolute tolerance of the comparison.
pub const ATOL: f64 = 1e-5;
/// Relative tolerance of the comparison (relative to the numeric gradient).
pub const RTOL: f64 = 1e-3;
/// Seed of the random upstream gradient used for non-scalar outputs.
const UPSTREAM_SEED: u64 = 0x6772_6164;

/// The analytic side of a check: the upstream gradient fed to the tape, and the gradient with
/// respect to each input.
pub struct Gradients {
    /// The upstream gradient: ones for a scalar output, else standard normal values.
    pub upstream: Tensor<f64>,
    /// `d sum(upstream * output) / d input`, one per input, as the tape returns them.
    pub grads: Vec<Tensor<f64>>,
}

/// Why a check failed.
#[derive(Debug, Clone, PartialEq)]
pub enum GradError {
    /// The tape returned a gradient whose shape differs from its input's.
    Shape {
        /// Which input (position in the `inputs` slice).
        input: usize,
        /// The input's dimensions.
        expected: Vec<usize>,
        /// The gradient's dimensions.
        got: Vec<usize>,
    },
    /// Some elements disagree; the fields describe the worst one.
    Mismatch {
        /// Which input holds the worst element.
        input: usize,
        /// Its coordinates inside that input.
        position: Vec<usize>,
        /// The tape's gradient there.
        analytic: f64,
        /// The central difference there.
        numeric: f64,
        /// How many compared elements (over all inputs) fail the tolerance.
        failing: usize,
        /// How many elements were compared.
        compared: usize,
    },
}

impl fmt::Display for GradError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradError::Shape {
                input,
                expected,
                got,
            } => write!(
                f,
                "gradient of input {input} has shape {got:?}, but the input has shape {expected:?}"
            ),
            GradError::Mismatch {
                input,
                position,
                analytic,
                numeric,
                failing,
                compared,
            } => write!(
                f,
                "gradient mismatch: worst at input {input} position {position:?}: \
                 analytic {analytic:.9e}, numeric {numeric:.9e}, |diff| {:.3e} > tolerance {:.3e} \
                 ({failing} of {compared} compared elements fail)",
                (analytic - numeric).abs(),
                ATOL + RTOL * numeric.abs()
            ),
        }
    }
}

/// Being an `Error`, a `GradError` converts into proptest's `TestCaseError`, so a property can
/// end with `check_gradients(..)?`.
impl std::error::Error for GradError {}

/// Records `inputs` as leaves of a fresh tape and returns their Vars' gradients through `f`,
/// seeded with the checker's upstream gradient (see [`Gradients`]).
pub fn gradients<F>(inputs: &[Tensor<f64>], f: F) -> Gradients
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let out = f(&vars);
    let shape = out.shape().clone();
    let upstream = if shape.numel() == 1 {
        Tensor::ones(shape)
    } else {
        Rng::new(UPSTREAM_SEED).normal(shape, 0.0, 1.0)
    };
    let wrt: Vec<&Var<'_, f64>> = vars.iter().collect();
    let grads = tape.backward_with(&out, upstream.clone(), &wrt);
    Gradients { upstream, grads }
}

/// Checks the tape's gradients of `f` at `inputs` against central differences, comparing every
/// element. See the module documentation for the rule.
pub fn check_gradients<F>(inputs: &[Tensor<f64>], f: F) -> Result<(), GradError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    check_gradients_skipping(inputs, |_, _| false, f)
}

/// As [`check_gradients`], but leaves out of the comparison every element for which
/// `skip(input, flat_index)` is true: the kinks of non-smooth ops, where a central difference
/// averages two one-sided slopes and says nothing about the chosen subgradient.
pub fn check_gradients_skipping<F, S>(
    inputs: &[Tensor<f64>],
    skip: S,
    f: F,
) -> Result<(), GradError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
    S: Fn(usize, usize) -> bool,
{
    let analytic = gradients(inputs, &f);
    for (input, (x, g)) in inputs.iter().zip(&analytic.grads).enumerate() {
        if x.dims() != g.dims() {
            return Err(GradError::Shape {
                input,
                expected: x.dims().to_vec(),
                got: g.dims().to_vec(),
            });
        }
    }

    let weighted_loss = |point: &[Tensor<f64>]| {
        let tape = Tape::new();
        let vars: Vec<Var<'_, f64>> = point.iter().map(|x| tape.var(x.clone())).collect();
        let out = f(&vars);
        let terms = out.value().data().iter().zip(analytic.upstream.data());
        terms.map(|(o, w)| o * w).sum::<f64>()
    };

    // The worst element is the one furthest past its tolerance (NaN counts as infinitely far).
    let mut worst: Option<(f64, usize, usize, f64, f64)> = None;
    let (mut failing, mut compared) = (0, 0);
    for (input, x) in inputs.iter().enumerate() {
        for at in (0..x.numel()).filter(|&at| !skip(input, at)) {
            let mut point = inputs.to_vec();
            point[input] = nudged(x, at, EPS);
            let plus = weighted_loss(&point);
            point[input] = nudged(x, at, -EPS);
            let minus = weighted_loss(&point);
            let numeric = (plus - minus) / (2.0 * EPS);
            let analytic = analytic.grads[input].data()[at];

            let excess = (analytic - numeric).abs() / (ATOL + RTOL * numeric.abs());
            let excess = if excess.is_nan() {
                f64::INFINITY
            } else {
                excess
            };
            compared += 1;
            if excess > 1.0 {
                failing += 1;
                if worst.is_none_or(|(w, ..)| excess > w) {
                    worst = Some((excess, input, at, analytic, numeric));
                }
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((_, input, at, analytic, numeric)) => Err(GradError::Mismatch {
            input,
            position: unravel(at, inputs[input].dims()),
            analytic,
            numeric,
            failing,
            compared,
        }),
    }
}

/// A copy of `x` with `delta` added to its element at flat index `at`.
fn nudged(x: &Tensor<f64>, at: usize, delta: f64) -> Tensor<f64> {
    let mut data = x.to_vec();
    data[at] += delta;
    Tensor::from_vec(data, x.shape().clone())
}

/// Row-major coordinates of flat index `at` in a tensor of dimensions `dims`.
fn unravel(mut at: usize, dims: &[usize]) -> Vec<usize> {
    let mut position = vec![0; dims.len()];
    for (p, &d) in position.iter_mut().zip(dims).rev() {
        *p = at % d;
        at /= d;
    }
    position
}
