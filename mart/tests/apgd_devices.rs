//! APGD, APGD-DLR and APGD-T on the GPU path: run on the PTX simulator (and `cuda:0` when
//! present) from the same model, batch and seed as on the CPU, they return the same examples.
//!
//! The model is a linear classifier over 6x6 images and the runs are a few iterations long, so
//! the simulator, which interprets every GPU thread, finishes in seconds.

use autograd::Var;
use mart::attack::{Apgd, ApgdLoss, ApgdTargeted, Attack};
use nn::{Flatten, Forward, Linear, Module, Sequential};
use tensor::{Device, Rng, Tensor};

/// The simulator and `cuda:0` when it opens (`cuda:0` only, required, under
/// `MART_REQUIRE_CUDA=1`): the rule of `tensor::gpu::test_devices::gpu_test_devices`.
fn gpu_devices() -> Vec<Device> {
    tensor::gpu::test_devices::gpu_test_devices("APGD")
}

fn linear_model(rng: &mut Rng) -> Sequential<f32> {
    let weight = rng.normal::<f32>([10, 36], 0.0, 1.0);
    let bias = rng.normal::<f32>([10], 0.0, 0.5);
    Sequential::new(vec![
        Box::new(Flatten) as Box<dyn Module<f32>>,
        Box::new(Linear::from_tensors(weight, bias)),
    ])
}

#[test]
fn apgd_on_the_gpu_path_matches_the_cpu() {
    let mut rng = Rng::new(31);
    let mut model = linear_model(&mut rng);
    let x = rng.uniform::<f32>([6, 1, 6, 6], -0.2, 1.2).clamp(0.0, 1.0);
    let logits = model.forward(&Var::constant(x.clone()), &mut Forward::eval());
    let mut labels = logits.value().argmax_axis(1);
    // One point starts misclassified.
    labels.data_mut()[2] = (labels.data()[2] + 1) % 10;
    let eps = 0.08;
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(Apgd {
            steps: 6,
            restarts: 2,
            ..Apgd::standard(eps, ApgdLoss::CrossEntropy)
        }),
        Box::new(Apgd {
            steps: 6,
            ..Apgd::standard(eps, ApgdLoss::Dlr)
        }),
        Box::new(ApgdTargeted {
            steps: 6,
            target_classes: 2,
            ..ApgdTargeted::standard(eps)
        }),
    ];
    let on_cpu: Vec<Tensor<f32>> = attacks
        .iter()
        .map(|a| a.perturb(&model, &x, &labels, &mut Rng::new(7)))
        .collect();
    for device in gpu_devices() {
        model.to_device(device).expect("the device opens");
        let (xd, yd) = (
            x.to_device(device).unwrap(),
            labels.to_device(device).unwrap(),
        );
        for (attack, cpu) in attacks.iter().zip(&on_cpu) {
            let got = attack.perturb(&model, &xd, &yd, &mut Rng::new(7));
            assert_eq!(got.device(), device, "{}", attack.name());
            assert!(
                cpu.to_vec() != x.to_vec(),
                "{}: the CPU run moved nothing",
                attack.name()
            );
            for (a, b) in got.to_vec().iter().zip(cpu.to_vec()) {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{} on {device}: {a} vs the CPU's {b}",
                    attack.name()
                );
            }
        }
    }
}
