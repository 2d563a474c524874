//! `Tensor` on a GPU device: moving data, the routing of every op to its kernel, the device
//! rules (mismatches panic, rank-0 constants go anywhere), optimiser steps and seeded draws, on
//! the simulator (and `cuda:0` when present) against the same calls on the CPU.

mod gpu_common;

use tensor::ops::optim::{AdamStep, SgdStep};
use tensor::{Conv2dGeometry, Device, IndexTensor, Pool2dGeometry, Rng, Tensor};

/// The GPU devices of this machine: the simulator, plus `cuda:0` when it opens.
fn devices() -> Vec<Device> {
    gpu_common::devices().iter().map(|g| g.device()).collect()
}

fn on(t: &Tensor<f32>, device: Device) -> Tensor<f32> {
    t.to_device(device).expect("the device opens")
}

/// `got` (any device) equals `want` (CPU) up to f32 rounding in another summation order.
fn close(what: &str, got: &Tensor<f32>, want: &Tensor<f32>) {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes differ");
    let got = got.to_vec();
    for (i, (&g, &w)) in got.iter().zip(want.data()).enumerate() {
        let ok = (g - w).abs() <= 1e-4 * (1.0 + w.abs()) || (g.is_nan() && w.is_nan());
        assert!(ok, "{what}: element {i}: {g} on the GPU, {w} on the CPU");
    }
}

#[test]
fn sim_tensors_move_between_devices_and_keep_their_values() {
    let mut rng = Rng::new(1);
    let x: Tensor<f32> = rng.normal([3, 5], 0.0, 1.0);
    let labels: IndexTensor = Tensor::from_vec(vec![4, 0, 2], [3]);
    for device in devices() {
        let g = on(&x, device);
        assert_eq!(g.device(), device);
        assert!(!g.is_cpu());
        assert_eq!(
            g.to_cpu().data(),
            x.data(),
            "f32 round trip through {device}"
        );
        assert_eq!(
            g.reshape([15]).to_vec(),
            x.to_vec(),
            "reshape shares the buffer"
        );
        assert!(g.reshape([15]).shares_storage(&g));
        let l = labels.to_device(device).unwrap();
        assert_eq!(
            l.to_vec(),
            labels.to_vec(),
            "u32 round trip through {device}"
        );
        assert_eq!(on(&Tensor::scalar(2.5), device).item(), 2.5);
        assert_eq!(format!("{g:?}"), format!("Tensor[3, 5] on {device}"));
    }
}

#[test]
fn sim_f64_cannot_go_to_a_gpu() {
    let err = Tensor::<f64>::zeros([2])
        .to_device(Device::Sim)
        .unwrap_err();
    assert!(err.to_string().contains("f32 only"), "{err}");
}

#[test]
#[should_panic(expected = "data: the tensor of shape [2] lives on sim; copy it to the host")]
fn sim_host_slices_of_gpu_tensors_are_refused() {
    let _ = on(&Tensor::zeros([2]), Device::Sim).data();
}

#[test]
#[should_panic(expected = "add: operands on different devices: [2] on sim and [2] on cpu")]
fn sim_ops_between_devices_panic_with_both_names() {
    let _ = on(&Tensor::zeros([2]), Device::Sim).add(&Tensor::zeros([2]));
}

#[test]
#[should_panic(expected = "map: closures run on the CPU only; the tensor lives on sim")]
fn sim_closures_are_refused_on_a_gpu() {
    let _ = on(&Tensor::zeros([2]), Device::Sim).map(|v| v + 1.0);
}

#[test]
fn sim_every_op_routes_to_its_kernel_and_matches_the_cpu() {
    let mut rng = Rng::new(2);
    let a: Tensor<f32> = rng.normal([2, 3, 5], 0.0, 1.0);
    let b: Tensor<f32> = rng.normal([3, 1], 0.0, 1.0);
    let pos: Tensor<f32> = rng.uniform([2, 3, 5], 0.5, 2.0);
    let img: Tensor<f32> = rng.normal([2, 3, 6, 5], 0.0, 1.0);
    let w: Tensor<f32> = rng.normal([4, 3, 3, 3], 0.0, 1.0);
    let bias: Tensor<f32> = rng.normal([4], 0.0, 1.0);
    let idx: IndexTensor = Tensor::from_vec(vec![2, 0, 1, 4, 4, 3], [2, 3, 1]);
    type Case = (
        &'static str,
        fn(&[Tensor<f32>], &IndexTensor) -> Tensor<f32>,
    );
    let cases: Vec<Case> = vec![
        ("add/sub/mul/div", |t, _| {
            t[0].add(&t[1]).sub(&t[2]).mul(&t[0]).div(&t[2])
        }),
        ("maximum/minimum", |t, _| t[0].maximum(&t[1]).minimum(&t[2])),
        ("unary", |t, _| {
            let x = &t[0];
            x.neg()
                .exp()
                .add(&t[2].log())
                .add(&t[2].sqrt())
                .add(&x.abs())
                .add(&x.sign())
        }),
        ("relu/square/powf/clamp/scalars", |t, _| {
            t[0].relu()
                .add(&t[0].square())
                .add(&t[2].powf(1.5))
                .add(&t[0].clamp(-0.3, 0.4))
                .add_scalar(2.0)
                .mul_scalar(-0.5)
        }),
        ("compare/where", |t, _| {
            let m = t[0]
                .gt(&t[1])
                .add(&t[0].ge(&t[2]))
                .add(&t[0].lt(&t[1]))
                .add(&t[0].le(&t[2]));
            m.where_(&t[0], &t[1]).add(&t[0].eq_mask(&t[0]))
        }),
        ("rank-0 constants", |t, _| {
            t[0].mul(&Tensor::scalar(3.0))
                .where_(&Tensor::scalar(1.0), &t[1])
        }),
        ("reductions", |t, _| {
            let x = &t[0];
            let s = x
                .sum_axis(1, true)
                .add(&x.mean_axis(2, true))
                .add(&x.max_axis(0, true));
            s.add(&x.min_axis(1, true))
                .add(&x.sum_all())
                .add(&x.mean_all())
                .add(&x.max_all())
                .add(&x.min_all())
                .sum_to(&tensor::Shape::new(&[3, 1]))
        }),
        ("argmax/top2", |t, _| {
            let (first, second) = t[0].top2_axis(2);
            let am = t[0].argmax_axis(1);
            Tensor::from_vec(
                first
                    .to_vec()
                    .iter()
                    .chain(&second.to_vec())
                    .chain(&am.to_vec())
                    .map(|&i| i as f32)
                    .collect(),
                [first.numel() + second.numel() + am.numel()],
            )
        }),
        ("softmax family", |t, _| {
            t[0].softmax(2)
                .add(&t[0].log_softmax(1))
                .add(&t[0].logsumexp(0, true))
        }),
        ("matmul", |t, _| {
            let a = t[0].reshape([6, 5]);
            a.matmul_t(false, &a, true).matmul(&a).add(
                &t[0]
                    .matmul(&t[0].transpose(1, 2))
                    .sum_axis(0, false)
                    .slice(0, 0, 1)
                    .sum_all(),
            )
        }),
        ("conv", |t, _| {
            let y = t[3].conv2d(&t[4], Some(&t[5]), Conv2dGeometry::new(1, 1));
            let gi = y.conv2d_grad_input(&t[4], t[3].shape(), Conv2dGeometry::new(1, 1));
            let gw = y.conv2d_grad_weight(&t[3], t[4].shape(), Conv2dGeometry::new(1, 1));
            gi.sum_all().add(&gw.sum_all()).add(&y.mean_all())
        }),
        ("pooling", |t, _| {
            let g = Pool2dGeometry::new(3, 2, 1);
            let (m, i) = t[3].max_pool2d(g);
            let back = m.max_pool2d_backward(&i, t[3].shape(), g);
            let avg = t[3].avg_pool2d(g);
            back.add(&avg.avg_pool2d_backward(t[3].shape(), g))
        }),
        ("movement", |t, _| {
            let x = &t[0];
            let parts = [&x.slice(2, 0, 2), &x.permute(&[0, 1, 2]).slice(2, 2, 5)];
            Tensor::concat(&parts, 2)
                .add(&x.pad(&[(0, 0), (0, 0), (0, 0)], 1.0))
                .add(&t[1].broadcast_to([2, 3, 5]))
                .select_rows(&[1, 0, 1])
                .unsqueeze(0)
                .squeeze(0)
        }),
        ("gather/scatter/one-hot", |t, i| {
            let picked = t[0].gather(2, i);
            let back = Tensor::zeros_on([2, 3, 5], t[0].device()).scatter_add(2, i, &picked);
            let labels = i.reshape([6]);
            back.sum_all()
                .add(&Tensor::one_hot(&labels, 5).sum_axis(0, false).sum_all())
        }),
        ("channel statistics", |t, _| {
            let (m, v) = t[3].channel_mean_var();
            m.add(&v)
        }),
        ("fill", |t, _| {
            Tensor::full_on([2, 2], 7.5, t[0].device()).add(&Tensor::ones_on([2], t[0].device()))
        }),
    ];
    let inputs = [a, b, pos, img, w, bias];
    for device in devices() {
        let moved: Vec<Tensor<f32>> = inputs.iter().map(|t| on(t, device)).collect();
        let moved_idx = idx.to_device(device).unwrap();
        for (name, case) in &cases {
            let want = case(&inputs, &idx);
            let got = case(&moved, &moved_idx);
            if name != &"argmax/top2" {
                assert_eq!(got.device(), device, "{name} left {device}");
            }
            close(&format!("{name} on {device}"), &got, &want);
        }
    }
}

#[test]
fn sim_optimiser_steps_match_the_cpu_bit_for_bit() {
    let mut rng = Rng::new(3);
    let p0: Tensor<f32> = rng.normal([7, 3], 0.0, 1.0);
    let sgd = SgdStep {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 5e-4,
        nesterov: true,
    };
    let adam = AdamStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-4,
    };
    for device in devices() {
        let (mut p_cpu, mut p_gpu) = (p0.clone(), on(&p0, device));
        let (mut buf_cpu, mut buf_gpu) = (None, None);
        let (mut q_cpu, mut q_gpu) = (p0.clone(), on(&p0, device));
        let (mut m_cpu, mut m_gpu) = (None, None);
        for step in 1..=3 {
            let g: Tensor<f32> = rng.normal([7, 3], 0.0, 1.0);
            p_cpu.sgd_step(&g, &mut buf_cpu, &sgd);
            p_gpu.sgd_step(&on(&g, device), &mut buf_gpu, &sgd);
            q_cpu.adam_step(&g, &mut m_cpu, step, &adam);
            q_gpu.adam_step(&on(&g, device), &mut m_gpu, step, &adam);
        }
        assert_eq!(p_gpu.device(), device);
        assert_eq!(p_gpu.to_vec(), p_cpu.to_vec(), "SGD on {device}");
        assert_eq!(q_gpu.to_vec(), q_cpu.to_vec(), "Adam on {device}");
    }
}

#[test]
fn sim_seeded_draws_give_the_cpu_numbers() {
    for device in devices() {
        let (mut cpu, mut gpu) = (Rng::new(9), Rng::new(9));
        let u: Tensor<f32> = cpu.uniform([300], -0.3, 0.3);
        let v: Tensor<f32> = gpu.uniform_on(device, [300], -0.3, 0.3);
        assert_eq!(v.device(), device);
        assert_eq!(v.to_vec(), u.to_vec(), "uniform on {device}");
        let r: Tensor<f32> = cpu.rademacher([77]);
        assert_eq!(gpu.rademacher_on::<f32>(device, [77]).to_vec(), r.to_vec());
        let b: Tensor<f32> = cpu.bernoulli([77], 0.3);
        assert_eq!(
            gpu.bernoulli_on::<f32>(device, [77], 0.3).to_vec(),
            b.to_vec()
        );
        let n: Tensor<f32> = cpu.normal([99], 0.0, 0.001);
        close("normal", &gpu.normal_on(device, [99], 0.0, 0.001), &n);
        assert_eq!(
            cpu.state(),
            gpu.state(),
            "the generators advanced alike on {device}"
        );
    }
}
