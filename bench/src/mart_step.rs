//! One MART training step, timed phase by phase: the official MART loss as ../shared/MART.md
//! writes it, on random inputs, with SGD (momentum 0.9, weight decay 3.5e-3), exactly the step
//! `bench/torch_mart_step.py` times in PyTorch. The model, the batch and the attack's random
//! start live on the chosen device; on a GPU every phase boundary waits for the launched kernels.

use std::time::Instant;

use anyhow::Context;
use autograd::Tape;
use mart::attack::{Pgd, Start, projected_step};
use mart::defense::{MartOptions, mart_loss};
use mart::objective::Objective;
use nn::optim::{Optimizer, Sgd, SgdConfig};
use nn::{Forward, ModelKind, Module};
use tensor::{Device, IndexTensor, Rng, Tensor};

use crate::flops;

/// What one step is run with.
#[derive(Clone, Debug)]
pub struct StepSettings {
    /// `smallcnn` or `resnet18`.
    pub model: String,
    /// Images per batch.
    pub batch: usize,
    /// Attack steps.
    pub pgd_steps: usize,
    /// Where the model, the batch and every op of the step live.
    pub device: Device,
}

impl StepSettings {
    /// eps and step size: MNIST's 0.3 / 0.01 for SmallCNN, CIFAR-10's 8/255 / 2/255 otherwise.
    pub fn eps_and_step(&self) -> (f32, f32) {
        if self.model == "smallcnn" {
            (0.3, 0.01)
        } else {
            (8.0 / 255.0, 2.0 / 255.0)
        }
    }

    /// FLOPs of one step.
    pub fn flops(&self) -> f64 {
        let forward = match self.model.as_str() {
            "smallcnn" => flops::smallcnn_forward(),
            _ => flops::resnet18_forward(),
        };
        (forward * self.batch as u64 * flops::mart_step_forwards(self.pgd_steps as u64)) as f64
    }
}

/// Seconds spent in each phase of one step.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhaseTimes {
    /// Attack forwards (model in attack mode, on the tape).
    pub attack_forward: f64,
    /// Attack backwards (input gradient only) and the projected steps.
    pub attack_backward: f64,
    /// The two train-mode forwards and the MART loss.
    pub train_forward: f64,
    /// The full backward (parameter gradients).
    pub train_backward: f64,
    /// The SGD update.
    pub optimizer: f64,
}

impl PhaseTimes {
    /// The whole step.
    pub fn total(&self) -> f64 {
        self.attack_forward
            + self.attack_backward
            + self.train_forward
            + self.train_backward
            + self.optimizer
    }
}

/// A model, optimiser and batch ready to step.
pub struct StepBench {
    settings: StepSettings,
    model: Box<dyn Module<f32>>,
    optimizer: Sgd<f32>,
    images: Tensor<f32>,
    labels: IndexTensor,
    rng: Rng,
}

impl StepBench {
    /// Builds the model with seeded weights and a seeded random batch (drawn on the CPU, so
    /// every device starts from the same values) and moves them to the settings' device. A
    /// device that cannot be opened (no driver, no such GPU) is an error saying why.
    pub fn new(settings: StepSettings) -> anyhow::Result<Self> {
        let device = settings.device;
        device
            .gpu()
            .with_context(|| format!("cannot use --device {device}"))?;
        let kind = ModelKind::from_name(&settings.model).map_err(anyhow::Error::msg)?;
        let mut rng = Rng::new(0);
        let mut model = kind.build::<f32>(&mut rng);
        let [c, h, w] = kind.input_shape();
        let images = rng.uniform::<f32>([settings.batch, c, h, w], 0.0, 1.0);
        let labels = Tensor::from_vec(
            (0..settings.batch).map(|_| rng.below(10) as u32).collect(),
            [settings.batch],
        );
        let on_device = || format!("cannot move the model and batch to {device}");
        model.to_device(device).with_context(on_device)?;
        let images = images.to_device(device).with_context(on_device)?;
        let labels = labels.to_device(device).with_context(on_device)?;
        let optimizer = Sgd::new(SgdConfig {
            momentum: 0.9,
            weight_decay: 3.5e-3,
            ..SgdConfig::new(0.01)
        })?;
        Ok(StepBench {
            settings,
            model,
            optimizer,
            images,
            labels,
            rng,
        })
    }

    /// Runs one MART step and returns its phase times; an error when the device fails.
    pub fn step(&mut self) -> anyhow::Result<PhaseTimes> {
        let device = self.settings.device;
        let mut times = PhaseTimes::default();
        let (eps, alpha) = self.settings.eps_and_step();
        let attack = Pgd {
            eps,
            alpha,
            steps: self.settings.pgd_steps,
            start: Start::Gaussian(0.001),
            objective: Objective::CrossEntropy,
            label: "mart-train".into(),
        };
        let model = &*self.model;
        let mut x = attack.start_point(&self.images, &mut self.rng);
        for _ in 0..attack.steps {
            let started = finished_at(device)?;
            let tape = Tape::new();
            let xv = tape.var(x.clone());
            let logits = model.forward(&xv, &mut Forward::attack());
            let loss = attack.objective.value(&logits, &self.labels, None);
            let forward_done = finished_at(device)?;
            let grad = tape.backward(&loss, &[&xv]).remove(0);
            x = projected_step(&x, &grad, &self.images, alpha, eps);
            let step_done = finished_at(device)?;
            times.attack_forward += (forward_done - started).as_secs_f64();
            times.attack_backward += (step_done - forward_done).as_secs_f64();
        }
        let started = finished_at(device)?;
        let (grads, forward_done) = {
            let tape = Tape::new();
            let mut fwd = Forward::train(&tape, self.rng.fork(1));
            let logits_nat = model.forward(&autograd::Var::constant(self.images.clone()), &mut fwd);
            let logits_adv = model.forward(&autograd::Var::constant(x), &mut fwd);
            let loss = mart_loss(
                &logits_nat,
                &logits_adv,
                &self.labels,
                &MartOptions::default(),
                &mut self.rng,
            );
            let forward_done = finished_at(device)?;
            (fwd.param_grads(&loss), forward_done)
        };
        let backward_done = finished_at(device)?;
        self.optimizer.step(&mut *self.model, &grads);
        let step_done = finished_at(device)?;
        times.train_forward = (forward_done - started).as_secs_f64();
        times.train_backward = (backward_done - forward_done).as_secs_f64();
        times.optimizer = (step_done - backward_done).as_secs_f64();
        Ok(times)
    }
}

/// The clock once every kernel launched on `device` so far has finished. GPU launches return
/// before the work is done, so reading the clock without waiting would time the queueing; on
/// the CPU (and the simulator, which runs each launch to completion) there is nothing to wait for.
fn finished_at(device: Device) -> anyhow::Result<Instant> {
    device
        .synchronize()
        .with_context(|| format!("a kernel on {device} failed"))?;
    Ok(Instant::now())
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_gpu_is_an_error_not_a_panic() {
        let settings = StepSettings {
            model: "smallcnn".into(),
            batch: 1,
            pgd_steps: 1,
            device: Device::Cuda(1000),
        };
        let err = StepBench::new(settings)
            .err()
            .expect("no machine has 1000 GPUs");
        assert!(format!("{err:#}").contains("--device cuda:1000"), "{err:#}");
    }
}
