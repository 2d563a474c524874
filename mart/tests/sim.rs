//! A training step on the GPU path: every defense's loss (attack included; MMA aside) and the
//! optimiser step, run on the PTX simulator (and `cuda:0` when present) from the same weights,
//! batch and seeds as on the CPU, agree with the CPU's.
//!
//! The batch is two digits and the training attack one step (two for Dynamic), so the simulator
//! (which interprets every GPU thread) finishes in seconds; the path is the one
//! `mart train --device sim` takes.

use autograd::Tape;
use mart::defense::Batch;
use mart::train::config::{DefenseKind, TrainConfig};
use mart::train::defenses::build_defense;
use nn::optim::{Optimizer, Sgd, SgdConfig};
use nn::{Entry, EntryMut, Forward, ModelKind};
use std::sync::Mutex;
use tensor::{Device, Rng, Tensor};

/// The simulator and `cuda:0` when it opens (`cuda:0` only, required, under
/// `MART_REQUIRE_CUDA=1`): the rule of `tensor::gpu::test_devices::gpu_test_devices`.
fn gpu_devices() -> Vec<Device> {
    tensor::gpu::test_devices::gpu_test_devices("the training step")
}

/// One training step of `defense` with a training attack of `steps` steps, in epoch 1 (where
/// Dynamic weights its loss), on `device`: the loss, and every parameter afterwards.
fn step_on(defense: DefenseKind, steps: usize, device: Device) -> (f32, Vec<Vec<f32>>) {
    // The simulator is one device for the whole process: steps run one at a time, so that the
    // count of host reads below sees this step's only.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = TrainConfig {
        defense,
        attack_steps: steps,
        ..TrainConfig::default_run()
    };
    let mut rng = Rng::new(5);
    let mut model = ModelKind::SmallCnn.build::<f32>(&mut rng);
    // SmallCNN's last layer starts at zero (TRADES' init), which would leave every other
    // gradient zero in the first step: random values there make the step reach every layer.
    model.visit_mut("", &mut |name, entry| {
        if let EntryMut::Param(p) = entry
            && name.starts_with("classifier.fc3")
        {
            *p.value_mut() = rng.normal(p.value().shape().clone(), 0.0, 0.3);
        }
    });
    model.to_device(device).expect("the device opens");
    let data = mart::data::load("mnist-sample", None).unwrap();
    let rows = [3, 8];
    let images = data
        .train
        .images
        .select_rows(&rows)
        .to_device(device)
        .unwrap();
    let labels = data
        .train
        .labels
        .select_rows(&rows)
        .to_device(device)
        .unwrap();
    let mut defense = build_defense(&config, 10);
    defense.begin_epoch(1);
    // SGD, whose step is linear in the gradient: Adam's normalisation would turn f32 noise in
    // a gradient of ~1e-10 (a relu at exactly 0 on one device) into a full learning-rate step.
    let mut optimizer = Sgd::new(SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(0.1)
    })
    .unwrap();
    let tape = Tape::new();
    let mut fwd = Forward::train(&tape, Rng::new(6));
    let batch = Batch {
        images: &images,
        labels: &labels,
        indices: &rows,
    };
    let reads_before = host_reads(device);
    let out = defense.loss(&*model, &batch, &mut fwd, &mut Rng::new(7));
    let grads = fwd.param_grads(&out.loss);
    optimizer.step(&mut *model, &grads);
    assert_eq!(
        host_reads(device),
        reads_before,
        "{:?} on {device}: the attack, loss, backward and step must not wait for the device",
        config.defense
    );
    let loss = out.loss.value().item();
    let mut params = Vec::new();
    model.visit("", &mut |_, entry| {
        if let Entry::Param(p) = entry {
            assert_eq!(p.value().device(), device, "a parameter left {device}");
            params.push(p.value().to_vec());
        }
    });
    (loss, params)
}

/// How many times the host has read from `device` so far (0 for the CPU).
fn host_reads(device: Device) -> u64 {
    device.gpu().unwrap().map_or(0, |gpu| gpu.host_reads())
}

fn assert_same_step(defense: DefenseKind, steps: usize) {
    let (want_loss, want) = step_on(defense, steps, Device::Cpu);
    for device in gpu_devices() {
        let (loss, got) = step_on(defense, steps, device);
        assert!(
            (loss - want_loss).abs() <= 1e-4 * (1.0 + want_loss.abs()),
            "{defense:?} loss on {device}: {loss}, on the CPU {want_loss}"
        );
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            for (a, b) in g.iter().zip(w) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{defense:?} on {device}: parameter tensor {i}: {a} vs CPU {b}"
                );
            }
        }
    }
}

#[test]
fn sim_mart_step_matches_the_cpu() {
    assert_same_step(DefenseKind::Mart, 1);
}

#[test]
fn sim_trades_and_standard_steps_match_the_cpu() {
    assert_same_step(DefenseKind::Trades, 1);
    assert_same_step(DefenseKind::Standard, 1);
}

#[test]
fn sim_dynamic_alp_and_clp_steps_match_the_cpu() {
    // Two steps, so that Dynamic's FOSC decides which examples take the second.
    assert_same_step(DefenseKind::Dynamic, 2);
    assert_same_step(DefenseKind::Alp, 1);
    assert_same_step(DefenseKind::Clp, 1);
}

#[test]
fn sim_missing_cuda_device_is_a_clear_error() {
    let err = mart::commands::open_device(Device::Cuda(1000)).unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("--device cuda:1000") && message.contains("CUDA"),
        "{message}"
    );
}

#[test]
fn sim_batches_are_rejected_on_another_device_with_both_names() {
    let model = ModelKind::SmallCnn.build::<f32>(&mut Rng::new(1));
    let x = Tensor::<f32>::zeros([1, 1, 28, 28])
        .to_device(Device::Sim)
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mart::eval::predict(&*model, &x);
    }));
    let payload = result.expect_err("a CPU model on a sim batch must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("sim") && message.contains("cpu"),
        "{message}"
    );
}
