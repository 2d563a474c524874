//! SGD and Adam steps (`Tensor::sgd_step`, `Tensor::adam_step`) on every device
//! (`device_test!`: cpu, sim, cuda) against the optimiser formulas written out here, over
//! several steps with fresh random gradients each step, for momentum / dampening / weight decay /
//! Nesterov and Adam's betas and weight decay:
//! - bit-identical to an f32 loop with nn's operation order (`nn::optim::{Sgd, Adam}`; nn is
//!   not a dependency of tensor, so the loop is copied here);
//! - close to the `torch.optim` formulas evaluated in f64;
//! - copy-on-write: clones of the parameter and state taken before a step keep their values;
//! - the steps stay on the parameter's device, and a gradient of another shape panics.

mod common;

use common::device::{assert_f32, back, device_test, on};
use tensor::ops::optim::{AdamStep, SgdStep};
use tensor::{Device, Rng, Tensor};

/// Steps per run.
const STEPS: usize = 5;

/// Elements per parameter: several blocks with a ragged last one.
const N: usize = 700;

/// The CPU side of one parameter: f32 as nn computes it, and f64 as the truth.
struct Reference {
    p32: Vec<f32>,
    p64: Vec<f64>,
    state32: Vec<Vec<f32>>,
    state64: Vec<Vec<f64>>,
}

impl Reference {
    fn new(p: &Tensor<f32>) -> Self {
        Reference {
            p32: p.to_vec(),
            p64: p.data().iter().map(|&v| f64::from(v)).collect(),
            state32: Vec::new(),
            state64: Vec::new(),
        }
    }
}

/// nn's `Sgd::step` for one parameter, in f32 and in f64 (`torch.optim.SGD`).
fn sgd_reference(r: &mut Reference, g: &[f32], c: &SgdStep) {
    let (lr, wd, m, keep) = (
        c.lr as f32,
        c.weight_decay as f32,
        c.momentum as f32,
        (1.0 - c.dampening) as f32,
    );
    let first = r.state32.is_empty();
    if first && c.momentum != 0.0 {
        r.state32.push(vec![0.0; g.len()]);
        r.state64.push(vec![0.0; g.len()]);
    }
    for (i, &g) in g.iter().enumerate() {
        let mut d = if c.weight_decay != 0.0 {
            g + wd * r.p32[i]
        } else {
            g
        };
        let mut d64 = f64::from(g) + c.weight_decay * r.p64[i];
        if c.momentum != 0.0 {
            let (b, b64) = (&mut r.state32[0][i], &mut r.state64[0][i]);
            if first {
                *b = d;
                *b64 = d64;
            } else {
                *b = *b * m + keep * d;
                *b64 = *b64 * c.momentum + (1.0 - c.dampening) * d64;
            }
            if c.nesterov {
                d += m * *b;
                d64 += c.momentum * *b64;
            } else {
                d = *b;
                d64 = *b64;
            }
        }
        r.p32[i] -= lr * d;
        r.p64[i] -= c.lr * d64;
    }
}

/// nn's `Adam::step` for one parameter at step `t` (from 1), in f32 and in f64
/// (`torch.optim.Adam`).
fn adam_reference(r: &mut Reference, g: &[f32], t: i32, c: &AdamStep) {
    if r.state32.is_empty() {
        r.state32 = vec![vec![0.0; g.len()]; 2];
        r.state64 = vec![vec![0.0; g.len()]; 2];
    }
    let step_size = c.lr / (1.0 - c.beta1.powi(t));
    let root_correction = (1.0 - c.beta2.powi(t)).sqrt();
    let (s32, rc32) = (step_size as f32, root_correction as f32);
    let (b1, b2, take1, take2) = (
        c.beta1 as f32,
        c.beta2 as f32,
        (1.0 - c.beta1) as f32,
        (1.0 - c.beta2) as f32,
    );
    let (wd, eps) = (c.weight_decay as f32, c.eps as f32);
    let (m32, rest32) = r.state32.split_at_mut(1);
    let (m64, rest64) = r.state64.split_at_mut(1);
    for i in 0..g.len() {
        let p = &mut r.p32[i];
        let gi = if c.weight_decay != 0.0 {
            g[i] + wd * *p
        } else {
            g[i]
        };
        let (m, v) = (&mut m32[0][i], &mut rest32[0][i]);
        *m = b1 * *m + take1 * gi;
        *v = b2 * *v + take2 * gi * gi;
        *p -= s32 * *m / (v.sqrt() / rc32 + eps);

        let p = &mut r.p64[i];
        let gi = f64::from(g[i]) + c.weight_decay * *p;
        let (m, v) = (&mut m64[0][i], &mut rest64[0][i]);
        *m = c.beta1 * *m + (1.0 - c.beta1) * gi;
        *v = c.beta2 * *v + (1.0 - c.beta2) * gi * gi;
        *p -= step_size * *m / (v.sqrt() / root_correction + c.eps);
    }
}

/// Asserts the tensor on `device` equals the f32 reference bit for bit and is close to the f64
/// one.
#[track_caller]
fn check(what: &str, device: Device, got: &Tensor<f32>, want32: &[f32], want64: &[f64]) {
    let got = back(device, got);
    assert!(
        got.data() == want32,
        "{what}: differs from nn's f32 arithmetic"
    );
    assert_f32(
        &format!("{what} vs f64"),
        &got,
        &[want32.len()],
        want64,
        1e-5,
        1e-5,
    );
}

/// The SGD configurations: plain, momentum, dampening with weight decay, Nesterov (twice), and
/// weight decay alone.
const SGD: [SgdStep; 6] = [
    SgdStep {
        lr: 0.1,
        momentum: 0.0,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    },
    SgdStep {
        lr: 0.05,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    },
    SgdStep {
        lr: 0.05,
        momentum: 0.9,
        dampening: 0.1,
        weight_decay: 5e-4,
        nesterov: false,
    },
    SgdStep {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 1e-4,
        nesterov: true,
    },
    SgdStep {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 5e-4,
        nesterov: true,
    },
    SgdStep {
        lr: 0.01,
        momentum: 0.0,
        dampening: 0.0,
        weight_decay: 0.1,
        nesterov: false,
    },
];

fn sgd_matches_the_formula(device: Device) {
    for (k, c) in SGD.iter().enumerate() {
        let mut rng = Rng::new(31 + k as u64);
        let p0: Tensor<f32> = rng.normal([N], 0.0, 1.0);
        let mut reference = Reference::new(&p0);
        let mut param = on(device, &p0);
        let mut momentum = None;
        for step in 0..STEPS {
            let g: Tensor<f32> = rng.uniform([N], -1.0, 1.0);
            param.sgd_step(&on(device, &g), &mut momentum, c);
            sgd_reference(&mut reference, g.data(), c);
            let what = format!("SGD {c:?} step {step} on {device}");
            check(&what, device, &param, &reference.p32, &reference.p64);
            match &momentum {
                Some(buf) => check(
                    &format!("{what} buffer"),
                    device,
                    buf,
                    &reference.state32[0],
                    &reference.state64[0],
                ),
                None => assert_eq!(c.momentum, 0.0, "{what}: no momentum buffer"),
            }
        }
    }
}
device_test!(sgd_matches_the_formula);

/// The Adam configurations: PyTorch's defaults, with weight decay (twice), and far from them.
const ADAM: [AdamStep; 4] = [
    AdamStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    },
    AdamStep {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 5e-4,
    },
    AdamStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-4,
    },
    AdamStep {
        lr: 0.1,
        beta1: 0.5,
        beta2: 0.99,
        eps: 1e-3,
        weight_decay: 0.0,
    },
];

fn adam_matches_the_formula(device: Device) {
    for (k, c) in ADAM.iter().enumerate() {
        let mut rng = Rng::new(41 + k as u64);
        let p0: Tensor<f32> = rng.normal([N], 0.0, 1.0);
        let mut reference = Reference::new(&p0);
        let mut param = on(device, &p0);
        let mut moments = None;
        for step in 1..=STEPS {
            let g: Tensor<f32> = rng.uniform([N], -1.0, 1.0);
            param.adam_step(&on(device, &g), &mut moments, step as u64, c);
            adam_reference(&mut reference, g.data(), step as i32, c);
            let what = format!("Adam {c:?} step {step} on {device}");
            check(&what, device, &param, &reference.p32, &reference.p64);
            let (m, v) = moments.as_ref().expect("Adam keeps its moments");
            let (s32, s64) = (&reference.state32, &reference.state64);
            check(&format!("{what} m"), device, m, &s32[0], &s64[0]);
            check(&format!("{what} v"), device, v, &s32[1], &s64[1]);
        }
    }
}
device_test!(adam_matches_the_formula);

fn steps_leave_clones_alone(device: Device) {
    let mut rng = Rng::new(51);
    let p0: Tensor<f32> = rng.normal([N], 0.0, 1.0);
    let g: Tensor<f32> = rng.uniform([N], -1.0, 1.0);
    let c = SgdStep {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    };
    let (mut param, grad) = (on(device, &p0), on(device, &g));
    let before = param.clone();
    let mut momentum = None;
    param.sgd_step(&grad, &mut momentum, &c);
    let buf_before = momentum.clone().expect("a momentum buffer");
    param.sgd_step(&grad, &mut momentum, &c);
    let values = |t: &Tensor<f32>| back(device, t).to_vec();
    assert!(
        values(&before) == p0.to_vec(),
        "the clone of the parameter changed"
    );
    assert!(
        values(&buf_before) == g.to_vec(),
        "the clone of the buffer changed"
    );
    assert!(values(&param) != p0.to_vec(), "the parameter did not move");

    let a = AdamStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let (before, snapshot) = (param.clone(), values(&param));
    param.adam_step(&grad, &mut None, 1, &a);
    assert!(
        values(&before) == snapshot,
        "Adam changed the parameter's clone"
    );
    assert!(
        values(&param) != snapshot,
        "Adam did not move the parameter"
    );
}
device_test!(steps_leave_clones_alone);

fn sgd_with_a_mismatched_gradient_panics(device: Device) {
    let mut p = on(device, &Tensor::<f32>::zeros([2]));
    let c = SgdStep {
        lr: 0.1,
        momentum: 0.0,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    };
    p.sgd_step(&on(device, &Tensor::zeros([3])), &mut None, &c);
}
device_test!(
    #[should_panic(expected = "sgd_step: the gradient has shape [3], the parameter [2]")]
    sgd_with_a_mismatched_gradient_panics: cpu, sim
);
