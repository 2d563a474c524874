//! GPU SGD and Adam steps against the optimiser formulas written out here, on every device of
//! `gpu_common::devices()`, over several steps with fresh random gradients each step, for
//! momentum / dampening / weight decay / Nesterov and Adam's betas and weight decay:
//! - bit-identical to an f32 loop with nn's operation order (`nn::optim::{Sgd, Adam}`; nn is
//!   not a dependency of tensor, so the loop is copied here);
//! - close to the `torch.optim` formulas evaluated in f64;
//! - copy-on-write: clones of the parameter and state taken before a step keep their values.

mod gpu_common;

use gpu_common::{assert_close, devices, down, up};
use tensor::cuda::GpuTensor;
use tensor::cuda::kernels::optim::{AdamStep, SgdStep, adam_step, sgd_step};
use tensor::{Rng, Tensor};

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

/// Asserts the device tensor equals the f32 reference bit for bit and is close to the f64 one.
fn check(what: &str, got: &GpuTensor<f32>, want32: &[f32], want64: &[f64]) {
    let got = down(got);
    assert!(
        got.data() == want32,
        "{what}: differs from nn's f32 arithmetic"
    );
    let want64 = Tensor::from_vec(want64.iter().map(|&v| v as f32).collect(), got.dims());
    assert_close(&format!("{what} vs f64"), &got, &want64, 1e-5, 1e-5);
}

#[test]
fn sim_sgd_matches_the_formula() {
    let configs = [
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
            lr: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.1,
            nesterov: false,
        },
    ];
    for gpu in devices() {
        for (k, c) in configs.iter().enumerate() {
            let mut rng = Rng::new(31 + k as u64);
            let p0: Tensor<f32> = rng.normal([N], 0.0, 1.0);
            let mut reference = Reference::new(&p0);
            let mut param = up(&gpu, &p0);
            let mut momentum = None;
            for step in 0..STEPS {
                let g: Tensor<f32> = rng.uniform([N], -1.0, 1.0);
                sgd_step(&mut param, &up(&gpu, &g), &mut momentum, c).unwrap();
                sgd_reference(&mut reference, g.data(), c);
                let what = format!("SGD {c:?} step {step} on {}", gpu.name());
                check(&what, &param, &reference.p32, &reference.p64);
                match &momentum {
                    Some(buf) => check(
                        &format!("{what} buffer"),
                        buf,
                        &reference.state32[0],
                        &reference.state64[0],
                    ),
                    None => assert_eq!(c.momentum, 0.0, "{what}: no momentum buffer"),
                }
            }
        }
    }
}

#[test]
fn sim_adam_matches_the_formula() {
    let configs = [
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
            lr: 0.1,
            beta1: 0.5,
            beta2: 0.99,
            eps: 1e-3,
            weight_decay: 0.0,
        },
    ];
    for gpu in devices() {
        for (k, c) in configs.iter().enumerate() {
            let mut rng = Rng::new(41 + k as u64);
            let p0: Tensor<f32> = rng.normal([N], 0.0, 1.0);
            let mut reference = Reference::new(&p0);
            let mut param = up(&gpu, &p0);
            let mut moments = None;
            for step in 1..=STEPS {
                let g: Tensor<f32> = rng.uniform([N], -1.0, 1.0);
                adam_step(&mut param, &up(&gpu, &g), &mut moments, step as u64, c).unwrap();
                adam_reference(&mut reference, g.data(), step as i32, c);
                let what = format!("Adam {c:?} step {step} on {}", gpu.name());
                check(&what, &param, &reference.p32, &reference.p64);
                let (m, v) = moments.as_ref().expect("Adam keeps its moments");
                check(
                    &format!("{what} m"),
                    m,
                    &reference.state32[0],
                    &reference.state64[0],
                );
                check(
                    &format!("{what} v"),
                    v,
                    &reference.state32[1],
                    &reference.state64[1],
                );
            }
        }
    }
}

#[test]
fn sim_steps_leave_shared_buffers_alone() {
    for gpu in devices() {
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
        let mut param = up(&gpu, &p0);
        let before = param.clone();
        let mut momentum = None;
        sgd_step(&mut param, &up(&gpu, &g), &mut momentum, &c).unwrap();
        let buf_before = momentum.clone().expect("a momentum buffer");
        sgd_step(&mut param, &up(&gpu, &g), &mut momentum, &c).unwrap();
        assert!(
            down(&before).data() == p0.data(),
            "the clone of the parameter changed"
        );
        assert!(
            down(&buf_before).data() == g.data(),
            "the clone of the buffer changed"
        );
        assert!(
            down(&param).data() != p0.data(),
            "the parameter did not move"
        );

        let a = AdamStep {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let before = param.clone();
        let snapshot = down(&param);
        let mut moments = None;
        adam_step(&mut param, &up(&gpu, &g), &mut moments, 1, &a).unwrap();
        assert!(
            down(&before).data() == snapshot.data(),
            "Adam changed the parameter's clone"
        );
    }
}

#[test]
#[should_panic(expected = "sgd_step: the gradient has shape [3], the parameter [2]")]
fn sim_sgd_rejects_a_mismatched_gradient() {
    let gpu = tensor::cuda::Gpu::sim();
    let mut p = up(&gpu, &Tensor::<f32>::zeros([2]));
    let g = up(&gpu, &Tensor::<f32>::zeros([3]));
    let c = SgdStep {
        lr: 0.1,
        momentum: 0.0,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    };
    let _ = sgd_step(&mut p, &g, &mut None, &c);
}
