//! What the defense tests share: small random logits, f64 softmax and CE with plain loops, a
//! finite-difference gradient check, and a random linear classifier as a module and in f64.

use autograd::{Tape, Var};
use nn::{Flatten, Linear, Module, Sequential};
use tensor::{IndexTensor, Rng, Tensor};

/// Rows of the loss tests' logits.
pub const B: usize = 6;
/// Classes of the loss tests' logits.
pub const C: usize = 5;

/// `[rows, C]` logits drawn N(0, 4) from `seed`, row-major.
pub fn random_logits(seed: u64, rows: usize) -> Vec<f64> {
    Rng::new(seed).normal::<f64>([rows, C], 0.0, 2.0).to_vec()
}

/// Labels `i * 3 mod C` for `rows` rows.
pub fn labels(rows: usize) -> IndexTensor {
    Tensor::from_vec((0..rows).map(|i| (i * 3 % C) as u32).collect(), [rows])
}

/// Log-softmax of one row, in f64.
pub fn log_softmax_row(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = z.iter().map(|v| (v - m).exp()).sum();
    z.iter().map(|v| v - m - s.ln()).collect()
}

/// Cross-entropy of one row of logits for label `y`.
pub fn ce_row(z: &[f64], y: usize) -> f64 {
    -log_softmax_row(z)[y]
}

/// Row `i` of row-major `[_, C]` logits.
pub fn row(z: &[f64], i: usize) -> &[f64] {
    &z[i * C..(i + 1) * C]
}

/// Asserts agreement to 1e-12, relative above 1.
pub fn close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "{got} vs {want}"
    );
}

/// A loss of one or two `[rows, C]` logit inputs, on any tape.
pub type Loss<'f> = &'f dyn for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>;

/// The value of `loss` on `inputs`, each `[rows, C]`.
pub fn value_of(loss: Loss<'_>, inputs: &[Vec<f64>], rows: usize) -> f64 {
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = inputs
        .iter()
        .map(|v| tape.var(Tensor::from_vec(v.clone(), [rows, C])))
        .collect();
    loss(&vars).value().item()
}

/// Central differences of `loss` with respect to every element of every input, against the
/// tape's gradients.
pub fn check_gradients(loss: Loss<'_>, inputs: &[Vec<f64>], rows: usize) {
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = inputs
        .iter()
        .map(|v| tape.var(Tensor::from_vec(v.clone(), [rows, C])))
        .collect();
    let out = loss(&vars);
    let grads = tape.backward(&out, &vars.iter().collect::<Vec<_>>());
    let h = 1e-6;
    for (which, grad) in grads.iter().enumerate() {
        for j in 0..rows * C {
            let (mut plus, mut minus) = (inputs.to_vec(), inputs.to_vec());
            plus[which][j] += h;
            minus[which][j] -= h;
            let numeric = (value_of(loss, &plus, rows) - value_of(loss, &minus, rows)) / (2.0 * h);
            let analytic = grad.data()[j];
            assert!(
                (analytic - numeric).abs() <= 1e-6 + 1e-4 * numeric.abs(),
                "input {which} element {j}: analytic {analytic} vs numeric {numeric}"
            );
        }
    }
}

/// A random linear classifier over `[1, 4, 4]` images, as a module and as f64 weights.
pub struct LinearPair {
    /// The module.
    pub module: Sequential<f32>,
    /// `[classes][pixels]`.
    pub weight: Vec<Vec<f64>>,
    /// `[classes]`.
    pub bias: Vec<f64>,
}

/// Pixels of the linear classifier's images.
pub const PIXELS: usize = 16;
/// Its classes.
pub const K: usize = 3;

/// A linear classifier with weights N(0, 1) and biases N(0, 0.25) drawn from `seed`.
pub fn linear_pair(seed: u64) -> LinearPair {
    let mut rng = Rng::new(seed);
    let weight = rng.normal::<f32>([K, PIXELS], 0.0, 1.0);
    let bias = rng.normal::<f32>([K], 0.0, 0.5);
    LinearPair {
        weight: weight
            .to_f64_vec()
            .chunks(PIXELS)
            .map(<[f64]>::to_vec)
            .collect(),
        bias: bias.to_f64_vec(),
        module: Sequential::new(vec![
            Box::new(Flatten) as Box<dyn Module<f32>>,
            Box::new(Linear::from_tensors(weight, bias)),
        ]),
    }
}

impl LinearPair {
    /// The logits of one flattened image.
    pub fn logits(&self, x: &[f64]) -> Vec<f64> {
        (0..K)
            .map(|k| self.bias[k] + (0..PIXELS).map(|p| self.weight[k][p] * x[p]).sum::<f64>())
            .collect()
    }
}
