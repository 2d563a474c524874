//! APGD and APGD-T (AutoAttack's first two attacks) whole: against a line-by-line port of the
//! reference on a linear model, and the contract every attack keeps (eps-ball, [0, 1],
//! determinism, strength). Their losses and step-size schedule are in `apgd.rs`.

mod apgd_reference;

use apgd_reference::{Kind, LinearModel, Loss, Plan, Settings};
use autograd::Var;
use mart::attack::{Apgd, ApgdLoss, ApgdTargeted, Attack, AttackSpec, CW_KAPPA};
use nn::{EntryMut, Flatten, Forward, Linear, ModelKind, Module, Sequential};
use tensor::{IndexTensor, Rng, Tensor};

const CLASSES: usize = 10;

fn as_labels(labels: &[usize]) -> IndexTensor {
    Tensor::from_vec(labels.iter().map(|&l| l as u32).collect(), [labels.len()])
}

/// A random linear classifier over `[1, 6, 6]` images, as our module and as the port.
fn linear_pair(rng: &mut Rng) -> (Box<dyn Module<f32>>, LinearModel) {
    let pixels = 36;
    let weight = rng.normal::<f32>([CLASSES, pixels], 0.0, 1.0);
    let bias = rng.normal::<f32>([CLASSES], 0.0, 0.5);
    let port = LinearModel {
        weight: weight
            .to_f64_vec()
            .chunks(pixels)
            .map(<[f64]>::to_vec)
            .collect(),
        bias: bias.to_f64_vec(),
    };
    let ours = Sequential::new(vec![
        Box::new(Flatten) as Box<dyn Module<f32>>,
        Box::new(Linear::from_tensors(weight, bias)),
    ]);
    (Box::new(ours), port)
}

/// Images with some pixels at exactly 0 and 1, where the [0, 1] clamp must bite.
fn images(shape: [usize; 4], rng: &mut Rng) -> Tensor<f32> {
    rng.uniform::<f32>(shape, -0.2, 1.2).clamp(0.0, 1.0)
}

fn predictions(model: &dyn Module<f32>, x: &Tensor<f32>) -> Vec<usize> {
    model
        .forward(&Var::constant(x.clone()), &mut Forward::eval())
        .into_value()
        .argmax_axis(1)
        .to_usizes()
}

fn rows_of(x: &Tensor<f32>) -> Vec<Vec<f64>> {
    let per_row = x.numel() / x.dims()[0];
    x.to_f64_vec()
        .chunks(per_row)
        .map(<[f64]>::to_vec)
        .collect()
}

#[test]
fn attacks_match_the_reference_port_on_a_linear_model() {
    let mut rng = Rng::new(21);
    let (model, port) = linear_pair(&mut rng);
    let batch = 16;
    let x = images([batch, 1, 6, 6], &mut rng);
    // Two points start misclassified: every attack must return them untouched.
    let mut labels = predictions(&*model, &x);
    labels[3] = (labels[3] + 1) % CLASSES;
    labels[9] = (labels[9] + 4) % CLASSES;
    let y = as_labels(&labels);
    let eps = 0.08;
    let short_ce = Apgd {
        steps: 37,
        restarts: 2,
        ..Apgd::standard(eps, ApgdLoss::CrossEntropy)
    };
    let plan = |kind, restarts, n_iter| Plan {
        kind,
        restarts,
        settings: Settings {
            eps: f64::from(eps),
            n_iter,
            rho: 0.75,
        },
    };
    let cases: Vec<(Box<dyn Attack>, Plan)> = vec![
        (
            Box::new(Apgd::standard(eps, ApgdLoss::CrossEntropy)),
            plan(Kind::Untargeted(Loss::CrossEntropy), 1, 100),
        ),
        (
            Box::new(short_ce),
            plan(Kind::Untargeted(Loss::CrossEntropy), 2, 37),
        ),
        (
            Box::new(Apgd::standard(eps, ApgdLoss::Dlr)),
            plan(Kind::Untargeted(Loss::Dlr), 1, 100),
        ),
        (
            Box::new(ApgdTargeted::standard(eps)),
            plan(Kind::Targeted { target_classes: 9 }, 1, 100),
        ),
    ];
    let clean = rows_of(&x);
    for (attack, plan) in cases {
        let ours = rows_of(&attack.perturb(&*model, &x, &y, &mut Rng::new(5)));
        let mut starts = Rng::new(5);
        let mut draw = |rows: usize| rows_of(&starts.uniform::<f32>([rows, 1, 6, 6], -1.0, 1.0));
        let theirs = apgd_reference::perturb(&port, &clean, &labels, &plan, &mut draw);
        let name = attack.name();
        let mut fooled = 0;
        for r in 0..batch {
            let changed = theirs[r] != clean[r];
            fooled += usize::from(changed);
            for (a, b) in ours[r].iter().zip(&theirs[r]) {
                assert!(
                    (a - b).abs() < 1e-4,
                    "{name}: row {r}: {a} vs reference {b}"
                );
            }
        }
        assert_eq!((ours[3] == clean[3], ours[9] == clean[9]), (true, true));
        assert!(
            (1..batch - 2).contains(&fooled),
            "{name}: fooled {fooled} of {}, no contest",
            batch - 2
        );
    }
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

/// Every APGD variant, short, at radius `eps`.
fn short_variants(eps: f32) -> Vec<Box<dyn Attack>> {
    let short = |loss| Apgd {
        steps: 10,
        restarts: 2,
        ..Apgd::standard(eps, loss)
    };
    vec![
        Box::new(short(ApgdLoss::CrossEntropy)),
        Box::new(short(ApgdLoss::Dlr)),
        Box::new(ApgdTargeted {
            steps: 10,
            target_classes: 3,
            ..ApgdTargeted::standard(eps)
        }),
    ]
}

/// A SmallCNN batch labelled with the model's own predictions (all clean-correct) except row 0.
fn cnn_batch(model: &dyn Module<f32>, n: usize, rng: &mut Rng) -> (Tensor<f32>, Vec<usize>) {
    let [c, h, w] = ModelKind::SmallCnn.input_shape();
    let x = images([n, c, h, w], rng);
    let mut labels = predictions(model, &x);
    labels[0] = (labels[0] + 1) % CLASSES;
    (x, labels)
}

#[test]
fn every_variant_stays_in_the_ball_and_returns_clean_images_it_did_not_fool() {
    let mut rng = Rng::new(3);
    let model = small_cnn(&mut rng);
    let (x, labels) = cnn_batch(&*model, 6, &mut rng);
    let y = as_labels(&labels);
    for eps in [0.05f32, 0.3] {
        for attack in short_variants(eps) {
            let name = attack.name();
            let adv = attack.perturb(&*model, &x, &y, &mut rng);
            assert_eq!(adv.dims(), x.dims());
            for (&a, &n) in adv.data().iter().zip(x.data()) {
                assert!((0.0..=1.0).contains(&a), "{name}: pixel {a} outside [0, 1]");
                assert!((a - n).abs() <= eps + 1e-6, "{name}: |{a} - {n}| > {eps}");
            }
            let predicted = predictions(&*model, &adv);
            let (adv_rows, clean_rows) = (rows_of(&adv), rows_of(&x));
            let mut fooled = 0;
            for r in 0..labels.len() {
                let untouched = adv_rows[r] == clean_rows[r];
                assert!(
                    untouched || predicted[r] != labels[r],
                    "{name}: row {r} changed but not fooled"
                );
                fooled += usize::from(!untouched);
            }
            assert!(
                adv_rows[0] == clean_rows[0],
                "{name}: moved a misclassified point"
            );
            if eps == 0.3 {
                assert!(fooled > 0, "{name}: fooled nothing at eps 0.3");
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_examples() {
    let mut rng = Rng::new(4);
    let model = small_cnn(&mut rng);
    let (x, labels) = cnn_batch(&*model, 4, &mut rng);
    let y = as_labels(&labels);
    for attack in short_variants(0.1) {
        let first = attack.perturb(&*model, &x, &y, &mut Rng::new(9));
        let second = attack.perturb(&*model, &x, &y, &mut Rng::new(9));
        assert_eq!(first.data(), second.data(), "{}", attack.name());
    }
}

fn accuracy(model: &dyn Module<f32>, x: &Tensor<f32>, labels: &[usize]) -> usize {
    let predicted = predictions(model, x);
    predicted.iter().zip(labels).filter(|(p, y)| p == y).count()
}

#[test]
fn apgd_ce_is_at_least_as_strong_as_pgd20() {
    let mut rng = Rng::new(6);
    let model = small_cnn(&mut rng);
    let (x, labels) = cnn_batch(&*model, 16, &mut rng);
    let y = as_labels(&labels);
    let eps = 0.02;
    let pgd20 = AttackSpec::parse("pgd20", CW_KAPPA)
        .unwrap()
        .build(eps)
        .unwrap();
    let pgd = accuracy(&*model, &pgd20.perturb(&*model, &x, &y, &mut rng), &labels);
    let apgd = Apgd::standard(eps, ApgdLoss::CrossEntropy);
    let apgd = accuracy(&*model, &apgd.perturb(&*model, &x, &y, &mut rng), &labels);
    assert!(pgd > 0, "eps {eps} leaves PGD-20 nothing to miss");
    assert!(apgd <= pgd, "APGD-CE accuracy {apgd} above PGD-20's {pgd}");
}

#[test]
fn apgd_t_fools_at_least_as_many_as_apgd_dlr() {
    let mut rng = Rng::new(8);
    let model = small_cnn(&mut rng);
    let (x, labels) = cnn_batch(&*model, 16, &mut rng);
    let y = as_labels(&labels);
    let eps = 0.02;
    let dlr = Apgd::standard(eps, ApgdLoss::Dlr);
    let dlr = accuracy(&*model, &dlr.perturb(&*model, &x, &y, &mut rng), &labels);
    let targeted = ApgdTargeted::standard(eps);
    let targeted = accuracy(
        &*model,
        &targeted.perturb(&*model, &x, &y, &mut rng),
        &labels,
    );
    assert!(dlr > 0, "eps {eps} leaves APGD-DLR nothing to miss");
    assert!(
        targeted <= dlr,
        "APGD-T accuracy {targeted} above APGD-DLR's {dlr}"
    );
}
