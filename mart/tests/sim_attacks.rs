//! AutoAttack's attacks on the GPU path: APGD-CE, APGD-DLR, APGD-T, FAB-T and Square, shortened,
//! run on the PTX simulator (and `cuda:0` when present) from the same checkpoint, digits and seed
//! as on the CPU, stay inside the eps-ball and [0, 1] and find the same adversarial examples as
//! the CPU up to rounding, and AutoAttack's cascade gives the same robust flags.
//!
//! Two digits and a few iterations each, so that the simulator (which interprets every GPU
//! thread) finishes in seconds.

use std::path::PathBuf;
use std::sync::Mutex;

use mart::attack::{
    Apgd, ApgdLoss, ApgdTargeted, Attack, FabTargeted, Square, predicted_labels, run_cascade,
};
use mart::commands::load_model;
use nn::Module;
use tensor::{Device, IndexTensor, Rng, Tensor};

/// The radius of every attack here (MNIST's).
const EPS: f32 = 0.3;

/// The simulator and `cuda:0` when it opens (`cuda:0` only, required, under
/// `MART_REQUIRE_CUDA=1`): the rule of `tensor::gpu::test_devices::gpu_test_devices`.
fn gpu_devices() -> Vec<Device> {
    tensor::gpu::test_devices::gpu_test_devices("the attacks")
}

/// The agreement fixture's SmallCNN (a short MART run) on `device`.
fn model_on(device: Device) -> Box<dyn Module<f32>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/autoattack/smallcnn.safetensors");
    load_model("smallcnn", &path, device).expect("the fixture checkpoint loads")
}

/// Two test digits the model classifies correctly.
fn digits() -> (Tensor<f32>, IndexTensor) {
    let data = mart::data::load("mnist-sample", None).unwrap();
    let model = model_on(Device::Cpu);
    let predicted = predicted_labels(&*model, &data.test.images.slice(0, 0, 20)).to_vec();
    let truth = data.test.labels.slice(0, 0, 20).to_vec();
    let rows: Vec<usize> = (0..20)
        .filter(|&i| predicted[i] == truth[i])
        .take(2)
        .collect();
    (
        data.test.images.select_rows(&rows),
        data.test.labels.select_rows(&rows),
    )
}

/// The attacks, shortened for the simulator.
fn shortened() -> Vec<Box<dyn Attack>> {
    vec![
        Box::new(Apgd {
            steps: 4,
            ..Apgd::standard(EPS, ApgdLoss::CrossEntropy)
        }),
        Box::new(Apgd {
            steps: 3,
            ..Apgd::standard(EPS, ApgdLoss::Dlr)
        }),
        Box::new(ApgdTargeted {
            steps: 2,
            target_classes: 2,
            ..ApgdTargeted::standard(EPS)
        }),
        Box::new(FabTargeted {
            steps: 3,
            target_classes: 2,
            ..FabTargeted::standard(EPS)
        }),
        Box::new(Square {
            queries: 6,
            ..Square::standard(EPS)
        }),
    ]
}

/// `adv` lies within `eps` of `clean` and inside [0, 1] (up to one f32 rounding).
fn assert_in_budget(name: &str, adv: &[f32], clean: &[f32]) {
    for (&a, &c) in adv.iter().zip(clean) {
        assert!((0.0..=1.0).contains(&a), "{name}: {a} outside [0, 1]");
        assert!((a - c).abs() <= EPS + 1e-6, "{name}: |{a} - {c}| > eps");
    }
}

#[test]
fn each_attack_on_the_gpu_path_matches_the_cpu() {
    // The simulator is one device for the whole process: one test at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (images, labels) = digits();
    let clean = images.to_vec();
    let cpu_model = model_on(Device::Cpu);
    for device in gpu_devices() {
        let model = model_on(device);
        let x = images.to_device(device).unwrap();
        let y = labels.to_device(device).unwrap();
        for attack in shortened() {
            let name = attack.name();
            let on_cpu = attack.perturb(&*cpu_model, &images, &labels, &mut Rng::new(3));
            let on_gpu = attack.perturb(&*model, &x, &y, &mut Rng::new(3));
            assert_eq!(on_gpu.device(), device, "{name}");
            let (a, b) = (on_cpu.to_vec(), on_gpu.to_cpu().to_vec());
            assert_in_budget(&name, &b, &clean);
            // Signed steps may round a near-zero gradient component differently on the two
            // devices: allow a few pixels to differ, never the bulk of the image.
            let differing = a
                .iter()
                .zip(&b)
                .filter(|(p, q)| (*p - *q).abs() > 1e-3)
                .count();
            assert!(
                differing * 100 <= a.len(),
                "{name} on {device}: {differing} of {} pixels differ from the CPU's",
                a.len()
            );
        }
        // The cascade's bookkeeping (robust flags, stages, examples kept) on the device.
        let attacks = shortened();
        let on_cpu = run_cascade(&attacks, &*cpu_model, (&images, &labels), 0, |_, _| {});
        let on_gpu = run_cascade(&attacks, &*model, (&x, &y), 0, |_, _| {});
        assert_eq!(on_cpu.robust, on_gpu.robust, "cascade on {device}");
        assert_eq!(on_cpu.stages.len(), on_gpu.stages.len());
        assert_in_budget("cascade", &on_gpu.adversarial.to_vec(), &clean);
    }
}
