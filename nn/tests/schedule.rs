//! Learning-rate schedules against the reference scripts' formulas and against PyTorch's
//! `MultiStepLR` and `CosineAnnealingLR` (`parity/schedules.safetensors`, written by
//! `fixtures/make_fixtures.py`).

mod fixture;

use std::f64::consts::PI;

use fixture::Fixture;
use nn::Schedule;

/// TRADES' and MART's `adjust_learning_rate` for a 120-epoch run: `lr * 0.1` from epoch 75,
/// `lr * 0.01` from 90, `lr * 0.001` from 100 (epochs from 1).
fn adjust_learning_rate(lr: f64, epoch: usize) -> f64 {
    let mut rate = lr;
    if epoch >= 75 {
        rate = lr * 0.1;
    }
    if epoch >= 90 {
        rate = lr * 0.01;
    }
    if epoch >= 100 {
        rate = lr * 0.001;
    }
    rate
}

/// `|a - b| <= 1e-12 |b| + 1e-18`.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs() + 1e-18
}

#[test]
fn piecewise_divides_by_ten_at_each_milestone() {
    let s = Schedule::parse("piecewise:75,90,100", 0.1, 120).unwrap();
    assert_eq!(s.base_lr(), 0.1);
    for epoch in 1..=130 {
        // Bit for bit the reference scripts' numbers (lr * 0.01, not lr * 0.1 * 0.1).
        assert_eq!(s.lr_at(epoch), adjust_learning_rate(0.1, epoch), "{epoch}");
    }
    assert_eq!(s.lr_at(74), 0.1);
    assert_eq!(s.lr_at(75), 0.1 * 0.1);
    assert_eq!(s.lr_at(89), 0.1 * 0.1);
    assert_eq!(s.lr_at(90), 0.1 * 0.01);
    assert_eq!(s.lr_at(100), 0.1 * 0.001);
    // Per step: the rate changes only at epoch boundaries.
    assert_eq!(s.lr_at_step(74 * 50 - 1, 50), 0.1, "last step of epoch 74");
    assert_eq!(
        s.lr_at_step(74 * 50, 50),
        0.1 * 0.1,
        "first step of epoch 75"
    );
    // Unsorted or repeated milestones count each time they are passed.
    let twice = Schedule::Piecewise {
        lr: 1.0,
        milestones: vec![10, 5, 10],
    };
    assert_eq!(
        [4, 5, 9, 10].map(|e| twice.lr_at(e)),
        [1.0, 1e-1, 1e-1, 1e-3]
    );
}

#[test]
fn piecewise_is_pytorchs_multistep_lr_counted_from_zero() {
    // PyTorch steps its scheduler after each epoch and counts epochs from 0, so the
    // reference scripts' "from epoch 75" is MultiStepLR(milestones=[74, ...]).
    let fx = Fixture::open("schedules.safetensors");
    let s = Schedule::parse("piecewise:75,90,100", 0.1, 120).unwrap();
    let torch = fx.floats("multistep.74.89.99");
    assert_eq!(torch.numel(), 120);
    for (i, &want) in torch.data().iter().enumerate() {
        assert!(close(s.lr_at(i + 1), want), "epoch {}", i + 1);
    }
    // The same milestones in PyTorch decay one epoch later.
    let later = fx.floats("multistep.75.90.100");
    assert!(close(later.data()[74], 0.1) && close(s.lr_at(75), 0.01));
    assert!(close(later.data()[75], 0.01));
}

#[test]
fn cosine_endpoints_midpoint_and_formula() {
    let (lr, min_lr, epochs) = (0.1, 0.001, 200);
    let s = Schedule::Cosine { lr, epochs, min_lr };
    assert_eq!(s.lr_at(1), lr, "starts at the base rate");
    assert!(close(s.lr_at(101), (lr + min_lr) / 2.0), "midpoint");
    assert_eq!(s.lr_at(201), min_lr, "ends at the floor");
    assert_eq!(s.lr_at(500), min_lr, "stays there");
    for epoch in 1..=epochs {
        let t = (epoch - 1) as f64;
        let want = min_lr + (lr - min_lr) * (1.0 + (PI * t / epochs as f64).cos()) / 2.0;
        assert!(close(s.lr_at(epoch), want), "{epoch}");
        assert!(s.lr_at(epoch + 1) < s.lr_at(epoch), "decreasing at {epoch}");
    }
    // Per step, T_max = epochs * steps_per_epoch.
    let parsed = Schedule::parse("cosine", 0.2, 10).unwrap();
    assert_eq!(parsed.lr_at_step(0, 30), 0.2);
    assert!(close(parsed.lr_at_step(150, 30), 0.1));
    assert_eq!(parsed.lr_at_step(300, 30), 0.0);
    let quarter = 0.2 * (1.0 + (PI / 4.0).cos()) / 2.0;
    assert!(close(parsed.lr_at_step(75, 30), quarter));
}

#[test]
fn cosine_is_pytorchs_cosine_annealing_lr() {
    let fx = Fixture::open("schedules.safetensors");
    for (key, schedule) in [
        ("cosine.100", Schedule::parse("cosine", 0.1, 100).unwrap()),
        (
            "cosine.7.min0.001",
            Schedule::Cosine {
                lr: 0.1,
                epochs: 7,
                min_lr: 0.001,
            },
        ),
    ] {
        let torch = fx.floats(key);
        for (i, &want) in torch.data().iter().enumerate() {
            assert!(close(schedule.lr_at(i + 1), want), "{key}: epoch {}", i + 1);
        }
    }
}

#[test]
fn names_parse_print_and_refuse() {
    for text in ["constant", "cosine", "piecewise:75,90"] {
        let s = Schedule::parse(text, 0.1, 100).unwrap();
        assert_eq!(s.to_string(), text);
        assert_eq!(Schedule::parse(&s.to_string(), 0.1, 100).unwrap(), s);
    }
    let constant = Schedule::parse("constant", 0.01, 10).unwrap();
    assert_eq!((constant.lr_at(1), constant.lr_at(1000)), (0.01, 0.01));
    assert_eq!(
        Schedule::parse(" piecewise: 3 , 5", 1.0, 9).unwrap(),
        Schedule::Piecewise {
            lr: 1.0,
            milestones: vec![3, 5]
        }
    );
    for (text, epochs, words) in [
        ("piecewise:75,9x", 100, "'9x'"),
        ("piecewise:", 100, "milestone"),
        ("linear", 100, "unknown schedule"),
        ("cosine", 0, "epochs > 0"),
    ] {
        let err = Schedule::parse(text, 0.1, epochs).unwrap_err().to_string();
        assert!(err.contains(words), "{text}: {err}");
        assert!(
            err.contains(text) && err.contains("piecewise:75,90"),
            "{err}"
        );
    }
}

#[test]
#[should_panic(expected = "epochs count from 1")]
fn epoch_zero_is_a_programming_error() {
    Schedule::parse("cosine", 0.1, 10).unwrap().lr_at(0);
}
