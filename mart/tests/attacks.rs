//! Every attack keeps its perturbation within eps and the image in [0, 1], raises the loss it
//! maximises, and leaves the model's running statistics untouched (attack mode).

use autograd::Var;
use autograd::loss::cross_entropy;
use mart::attack::{Attack, AttackSpec, CW_KAPPA, Pgd, Start};
use mart::objective::Objective;
use nn::{Entry, EntryMut, Forward, ModelKind, Module};
use tensor::{IndexTensor, Rng, Tensor};

fn batch(kind: ModelKind, n: usize, rng: &mut Rng) -> (Tensor<f32>, IndexTensor) {
    let [c, h, w] = kind.input_shape();
    // Some pixels at exactly 0 and 1, where the [0, 1] clamp must bite.
    let images = rng.uniform::<f32>([n, c, h, w], -0.2, 1.2).clamp(0.0, 1.0);
    let labels = Tensor::from_vec((0..n).map(|i| (i % 10) as u32).collect(), [n]);
    (images, labels)
}

fn every_attack(eps: f32) -> Vec<Box<dyn Attack>> {
    let mut attacks: Vec<Box<dyn Attack>> = ["fgsm", "pgd5", "cw"]
        .iter()
        .map(|name| {
            AttackSpec::parse(name, CW_KAPPA)
                .unwrap()
                .build(eps)
                .unwrap()
        })
        .collect();
    for (start, objective) in [
        (Start::None, Objective::CrossEntropy),
        (Start::Gaussian(0.001), Objective::CwMargin { kappa: 0.0 }),
    ] {
        attacks.push(Box::new(Pgd {
            eps,
            alpha: eps / 4.0,
            steps: 5,
            start,
            objective,
            label: "pgd-variant".into(),
        }));
    }
    attacks
}

/// SmallCNN as built, except its last layer: TRADES initialises fc3 to zero, which makes every
/// input gradient zero until the model has trained; random values there give attacks a slope.
fn small_cnn(rng: &mut Rng) -> Box<dyn Module<f32>> {
    let mut model = ModelKind::SmallCnn.build::<f32>(rng);
    model.visit_mut("", &mut |name, entry| {
        if let EntryMut::Param(p) = entry
            && name.starts_with("classifier.fc3")
        {
            *p.value_mut() = rng.normal(p.value().shape().clone(), 0.0, 0.3);
        }
    });
    model
}

fn mean_loss(model: &dyn Module<f32>, x: &Tensor<f32>, y: &IndexTensor) -> f32 {
    let logits = model.forward(&Var::constant(x.clone()), &mut Forward::eval());
    cross_entropy(&logits, y).value().item()
}

#[test]
fn perturbations_stay_in_the_ball_and_the_image_in_range() {
    let mut rng = Rng::new(3);
    let model = small_cnn(&mut rng);
    let (x, y) = batch(ModelKind::SmallCnn, 8, &mut rng);
    for eps in [0.1f32, 0.3] {
        for attack in every_attack(eps) {
            let adv = attack.perturb(&*model, &x, &y, &mut rng);
            assert_eq!(adv.dims(), x.dims());
            let mut moved = 0;
            for (&a, &n) in adv.data().iter().zip(x.data()) {
                assert!(
                    (0.0..=1.0).contains(&a),
                    "{}: pixel {a} outside [0, 1]",
                    attack.name()
                );
                assert!(
                    (a - n).abs() <= eps + 1e-6,
                    "{}: |{a} - {n}| > eps {eps}",
                    attack.name()
                );
                moved += usize::from(a != n);
            }
            assert!(
                moved > x.numel() / 4,
                "{}: moved only {moved} pixels",
                attack.name()
            );
        }
    }
}

#[test]
fn cross_entropy_attacks_raise_the_loss() {
    let mut rng = Rng::new(5);
    let model = small_cnn(&mut rng);
    let (x, y) = batch(ModelKind::SmallCnn, 16, &mut rng);
    let clean = mean_loss(&*model, &x, &y);
    for name in ["fgsm", "pgd10"] {
        let attack = AttackSpec::parse(name, CW_KAPPA)
            .unwrap()
            .build(0.3)
            .unwrap();
        let adv = attack.perturb(&*model, &x, &y, &mut rng);
        let attacked = mean_loss(&*model, &adv, &y);
        assert!(
            attacked > clean,
            "{name}: loss {attacked} not above the clean {clean}"
        );
    }
}

/// Running statistics and counters of every batch-norm layer, flattened.
fn buffers(model: &dyn Module<f32>) -> Vec<f32> {
    let mut out = Vec::new();
    model.visit("", &mut |_, entry| match entry {
        Entry::Buffer(b) => out.extend_from_slice(b.data()),
        Entry::Count(n) => out.push(n as f32),
        Entry::Param(_) => {}
    });
    out
}

#[test]
fn attacks_leave_batch_norm_statistics_alone() {
    let mut rng = Rng::new(7);
    let model = ModelKind::ResNet18.build::<f32>(&mut rng);
    let (x, y) = batch(ModelKind::ResNet18, 2, &mut rng);
    let before = buffers(&*model);
    assert!(!before.is_empty());
    for attack in every_attack(8.0 / 255.0) {
        attack.perturb(&*model, &x, &y, &mut rng);
        assert_eq!(
            buffers(&*model),
            before,
            "{} moved the running statistics",
            attack.name()
        );
    }
}
