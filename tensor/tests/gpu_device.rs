//! `Tensor` on a GPU device, what only a GPU has (`device_test!(name: sim, cuda)`; the ops
//! themselves are checked against their references on every device in their own files):
//! moving data there and back, the device rules (operands on different devices and host slices
//! of device tensors panic, rank-0 CPU constants go anywhere, closures run on the CPU only, f64
//! stays on the host), every op routed to its kernel and agreeing with the CPU, the u32 kernels
//! that have no CPU twin (fill, gather, `duplicate`), and the deferred checks of index values,
//! which fail at the next read from the device.

mod common;

use common::device::{back, device_test, on};
use tensor::gpu::{Gpu, GpuTensor};
use tensor::{Conv2dGeometry, Device, IndexTensor, Pool2dGeometry, Rng, Tensor};

/// The GPU behind `device`.
fn gpu(device: Device) -> Gpu {
    device
        .gpu()
        .expect("the device opens")
        .expect("a GPU device")
}

/// `got` (on any device) equals `want` (on the CPU) up to f32 rounding in another summation
/// order.
#[track_caller]
fn close(what: &str, got: &Tensor<f32>, want: &Tensor<f32>) {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes differ");
    let got = got.to_vec();
    for (i, (&g, &w)) in got.iter().zip(want.data()).enumerate() {
        let ok = (g - w).abs() <= 1e-4 * (1.0 + w.abs()) || (g.is_nan() && w.is_nan());
        assert!(ok, "{what}: element {i}: {g} on the GPU, {w} on the CPU");
    }
}

fn tensors_move_between_devices_and_keep_their_values(device: Device) {
    let mut rng = Rng::new(1);
    let x: Tensor<f32> = rng.normal([3, 5], 0.0, 1.0);
    let labels: IndexTensor = Tensor::from_vec(vec![4, 0, 2], [3]);
    let g = on(device, &x);
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
        "reshape keeps the values"
    );
    assert!(
        g.reshape([15]).shares_storage(&g),
        "reshape shares the buffer"
    );
    let l = on(device, &labels);
    assert_eq!(
        l.to_vec(),
        labels.to_vec(),
        "u32 round trip through {device}"
    );
    assert_eq!(on(device, &Tensor::scalar(2.5f32)).item(), 2.5);
    assert_eq!(format!("{g:?}"), format!("Tensor[3, 5] on {device}"));
}
device_test!(tensors_move_between_devices_and_keep_their_values: sim, cuda);

fn f64_cannot_go_to_a_gpu(device: Device) {
    let err = Tensor::<f64>::zeros([2]).to_device(device).unwrap_err();
    assert!(err.to_string().contains("f32 only"), "{err}");
}
device_test!(f64_cannot_go_to_a_gpu: sim, cuda);

fn f64_fills_are_refused_on_a_gpu(device: Device) {
    let _ = Tensor::<f64>::full_on([2], 1.0, device);
}
device_test!(
    #[should_panic(expected = "full_on: float64 tensors live on the CPU only; sim computes in f32")]
    f64_fills_are_refused_on_a_gpu: sim
);

fn f64_draws_are_refused_on_a_gpu(device: Device) {
    let _: Tensor<f64> = Rng::new(1).normal_on(device, [2], 0.0, 1.0);
}
device_test!(
    #[should_panic(expected = "normal_on: float64 tensors live on the CPU only; sim computes in f32")]
    f64_draws_are_refused_on_a_gpu: sim
);

fn f64_one_hot_of_gpu_labels_is_refused(device: Device) {
    let labels = on(device, &Tensor::from_vec(vec![0u32, 1], [2]));
    let _: Tensor<f64> = Tensor::one_hot(&labels, 2);
}
device_test!(
    #[should_panic(expected = "one_hot: float64 tensors live on the CPU only; sim computes in f32")]
    f64_one_hot_of_gpu_labels_is_refused: sim
);

fn host_slices_of_gpu_tensors_are_refused(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2])).data();
}
device_test!(
    #[should_panic(expected = "data: the tensor of shape [2] lives on sim; copy it to the host")]
    host_slices_of_gpu_tensors_are_refused: sim
);

fn ops_between_devices_panic_with_both_names(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2])).add(&Tensor::zeros([2]));
}
device_test!(
    #[should_panic(expected = "add: operands on different devices: [2] on sim and [2] on cpu")]
    ops_between_devices_panic_with_both_names: sim
);

fn closures_are_refused_on_a_gpu(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2])).map(|v| v + 1.0);
}
device_test!(
    #[should_panic(expected = "map: closures run on the CPU only; the tensor lives on sim")]
    closures_are_refused_on_a_gpu: sim
);

/// Every op through `Tensor` on `device`, in compositions, including rank-0 CPU constants
/// mixed with device tensors: each result stays on the device and equals the CPU's.
fn every_op_routes_to_its_kernel_and_matches_the_cpu(device: Device) {
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
        ("per-channel batch-norm ops", |t, _| {
            let (img, c) = (&t[3], t[1].reshape([3]));
            let y = img.channel_affine(&c, &c.square());
            // The sums (of 60 values each) scaled down, so that the combination's rounding
            // stays within the comparison's tolerance.
            let (s1, s2) = y.channel_grad_sums(img, &c);
            let (a, b) = (s1.mul_scalar(0.01), s2.mul_scalar(0.01));
            y.channel_combine(&a, img, &c, &b, &c)
        }),
        ("fill", |t, _| {
            Tensor::full_on([2, 2], 7.5, t[0].device()).add(&Tensor::ones_on([2], t[0].device()))
        }),
    ];
    let inputs = [a, b, pos, img, w, bias];
    let moved: Vec<Tensor<f32>> = inputs.iter().map(|t| on(device, t)).collect();
    let moved_idx = on(device, &idx);
    for (name, case) in &cases {
        let want = case(&inputs, &idx);
        let got = case(&moved, &moved_idx);
        if name != &"argmax/top2" {
            assert_eq!(got.device(), device, "{name} left {device}");
        }
        close(&format!("{name} on {device}"), &got, &want);
    }
}
device_test!(every_op_routes_to_its_kernel_and_matches_the_cpu: sim, cuda);

/// `GpuTensor::full` of u32 values (index tensors; `Tensor::full_on` fills floats only).
fn u32_fill_writes_every_element(device: Device) {
    let gpu = gpu(device);
    for n in [0, 1, 255, 257, 1031] {
        let u = GpuTensor::full(&gpu, [n], 7u32).unwrap();
        assert_eq!(
            u.download_vec().unwrap(),
            vec![7; n],
            "u32 fill on {device}"
        );
    }
}
device_test!(u32_fill_writes_every_element: sim, cuda);

/// The GPU gathers u32 values too (the CPU only floats): the same positions as the f32 gather
/// of the same small integers.
fn u32_gather_picks_the_values_named(device: Device) {
    let mut rng = Rng::new(13);
    let table: Vec<u32> = (0..63).map(|_| rng.below(1000) as u32).collect();
    let index: Vec<u32> = (0..45).map(|_| rng.below(7) as u32).collect();
    let want: Vec<u32> = (0..45)
        .map(|i| table[index[i] as usize * 9 + i % 9])
        .collect();
    let gpu = gpu(device);
    let table = GpuTensor::upload_slice(&gpu, &table, [7, 9]).unwrap();
    let index = GpuTensor::upload_slice(&gpu, &index, [5, 9]).unwrap();
    let got = table.gather(0, &index).unwrap();
    assert_eq!(got.dims(), &[5, 9]);
    assert_eq!(got.download_vec().unwrap(), want, "u32 gather on {device}");
}
device_test!(u32_gather_picks_the_values_named: sim, cuda);

/// `duplicate` copies into a new buffer; `squeeze` of a device tensor shares it.
fn duplicate_allocates_and_squeeze_shares(device: Device) {
    let x: Tensor<f32> = Rng::new(7).uniform([3, 1, 333], -1.0, 1.0);
    let g = GpuTensor::upload_slice(&gpu(device), x.data(), x.shape().clone()).unwrap();
    let copy = g.duplicate().unwrap();
    assert!(
        !copy.shares_buffer(&g),
        "duplicate must allocate a new buffer"
    );
    assert_eq!(
        copy.download_vec().unwrap(),
        x.to_vec(),
        "duplicate on {device}"
    );
    assert!(g.squeeze(1).shares_buffer(&g), "squeeze is a reshape");
}
device_test!(duplicate_allocates_and_squeeze_shares: sim, cuda);

/// A simulator of the test's own: a pending index fault is reported by the next read from the
/// device, whichever test makes it, so these never run on the shared `sim` (or `cuda:0`).
fn private_sim(device: Device) -> Gpu {
    assert_eq!(device, Device::Sim);
    Gpu::sim()
}

fn gather_of_an_out_of_range_index_fails_at_the_next_read(device: Device) {
    let gpu = private_sim(device);
    let x = Tensor::from_gpu(GpuTensor::<f32>::zeros(&gpu, [2, 5]).unwrap());
    let index = GpuTensor::upload_slice(&gpu, &[0u32, 5, 1, 2], [2, 2]).unwrap();
    let gathered = x.gather(1, &Tensor::from_gpu(index));
    let _ = back(device, &gathered);
}
device_test!(
    #[should_panic(expected = "gather: index 5 out of range for axis 1 of shape [2, 5]")]
    gather_of_an_out_of_range_index_fails_at_the_next_read: sim
);

fn one_hot_of_an_out_of_range_label_fails_at_the_next_read(device: Device) {
    let gpu = private_sim(device);
    let labels = GpuTensor::upload_slice(&gpu, &[0u32, 7, 2], [3]).unwrap();
    let rows: Tensor<f32> = Tensor::one_hot(&Tensor::from_gpu(labels), 3);
    let _ = back(device, &rows);
}
device_test!(
    #[should_panic(expected = "one_hot: label 7 out of range for 3 classes")]
    one_hot_of_an_out_of_range_label_fails_at_the_next_read: sim
);
