//! Each defense's loss and each attack objective on fixed logits, against the formula computed
//! independently in f64 with plain loops, plus a finite-difference check of their gradients.

use autograd::{Tape, Var};
use mart::defense::mma::soft_logit_margin;
use mart::defense::{MartOptions, mart_loss, trades_loss};
use mart::objective::cw_margin;
use tensor::{IndexTensor, Rng, Tensor};

const B: usize = 4;
const C: usize = 5;

fn logits(seed: u64) -> Vec<f64> {
    Rng::new(seed).normal::<f64>([B, C], 0.0, 2.0).to_vec()
}

fn labels() -> IndexTensor {
    Tensor::from_vec(vec![0, 3, 1, 4], [B])
}

fn softmax_row(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

fn ce_row(z: &[f64], y: usize) -> f64 {
    -softmax_row(z)[y].ln()
}

/// MART's loss written from MART.md line by line.
fn mart_reference(nat: &[f64], adv: &[f64], y: &[u32], beta: f64) -> f64 {
    let mut total = 0.0;
    for i in 0..B {
        let (zn, za) = (&nat[i * C..(i + 1) * C], &adv[i * C..(i + 1) * C]);
        let (pn, pa) = (softmax_row(zn), softmax_row(za));
        let yi = y[i] as usize;
        let wrong = (0..C)
            .filter(|&k| k != yi)
            .max_by(|&a, &b| pa[a].partial_cmp(&pa[b]).unwrap())
            .unwrap();
        let bce = ce_row(za, yi) - (1.0001 - pa[wrong] + 1e-12).ln();
        let kl: f64 = (0..C)
            .map(|k| pn[k] * (pn[k].ln() - (pa[k] + 1e-12).ln()))
            .sum();
        total += bce + beta * kl * (1.0000001 - pn[yi]);
    }
    total / B as f64
}

fn trades_reference(nat: &[f64], adv: &[f64], y: &[u32], beta: f64) -> f64 {
    let mut total = 0.0;
    for i in 0..B {
        let (zn, za) = (&nat[i * C..(i + 1) * C], &adv[i * C..(i + 1) * C]);
        let (pn, pa) = (softmax_row(zn), softmax_row(za));
        let kl: f64 = (0..C).map(|k| pn[k] * (pn[k].ln() - pa[k].ln())).sum();
        total += ce_row(zn, y[i] as usize) + beta * kl;
    }
    total / B as f64
}

/// Evaluates a two-input loss on a fresh tape; returns the value and both gradients.
fn eval2(f: &dyn Fn(&Var<'_, f64>, &Var<'_, f64>) -> f64, nat: &[f64], adv: &[f64]) -> f64 {
    let tape = Tape::new();
    let a = tape.var(Tensor::from_vec(nat.to_vec(), [B, C]));
    let b = tape.var(Tensor::from_vec(adv.to_vec(), [B, C]));
    f(&a, &b)
}

/// A loss of natural and adversarial logits, on any tape.
type PairLoss<'f> = &'f dyn for<'t> Fn(&Var<'t, f64>, &Var<'t, f64>) -> Var<'t, f64>;

/// Central differences of `loss` with respect to every element of both inputs, compared with
/// the tape's gradients.
fn check_gradients(loss: PairLoss<'_>, nat: &[f64], adv: &[f64]) {
    let tape = Tape::new();
    let a = tape.var(Tensor::from_vec(nat.to_vec(), [B, C]));
    let b = tape.var(Tensor::from_vec(adv.to_vec(), [B, C]));
    let out = loss(&a, &b);
    let grads = tape.backward(&out, &[&a, &b]);
    let value = |n: &[f64], v: &[f64]| eval2(&|x, y| loss(x, y).value().item(), n, v);
    let eps = 1e-6;
    for (which, grad) in grads.iter().enumerate() {
        for j in 0..B * C {
            let (mut plus, mut minus) =
                ([nat.to_vec(), adv.to_vec()], [nat.to_vec(), adv.to_vec()]);
            plus[which][j] += eps;
            minus[which][j] -= eps;
            let numeric = (value(&plus[0], &plus[1]) - value(&minus[0], &minus[1])) / (2.0 * eps);
            let analytic = grad.data()[j];
            assert!(
                (analytic - numeric).abs() <= 1e-5 + 1e-3 * numeric.abs(),
                "input {which} element {j}: analytic {analytic} vs numeric {numeric}"
            );
        }
    }
}

#[test]
fn mart_loss_matches_the_formula() {
    let (nat, adv) = (logits(1), logits(2));
    let y = labels();
    let got = eval2(
        &|a, b| {
            mart_loss(a, b, &y, &MartOptions::default(), &mut Rng::new(0))
                .value()
                .item()
        },
        &nat,
        &adv,
    );
    let want = mart_reference(&nat, &adv, y.data(), 5.0);
    assert!(
        (got - want).abs() < 1e-12 * want.abs().max(1.0),
        "{got} vs {want}"
    );
}

#[test]
fn mart_loss_gradients_flow_through_both_branches() {
    let y = labels();
    check_gradients(
        &|a, b| mart_loss(a, b, &y, &MartOptions::default(), &mut Rng::new(0)),
        &logits(3),
        &logits(4),
    );
}

#[test]
fn mart_ablations_change_the_loss_as_documented() {
    let (nat, adv) = (logits(5), logits(6));
    let y = labels();
    let with = |o: MartOptions| {
        eval2(
            &|a, b| mart_loss(a, b, &y, &o, &mut Rng::new(0)).value().item(),
            &nat,
            &adv,
        )
    };
    let no_kl = with(MartOptions {
        no_kl: true,
        ..MartOptions::default()
    });
    let bce_only: f64 = (0..B)
        .map(|i| {
            let za = &adv[i * C..(i + 1) * C];
            let pa = softmax_row(za);
            let yi = y.data()[i] as usize;
            let wrong = (0..C)
                .filter(|&k| k != yi)
                .max_by(|&a, &b| pa[a].partial_cmp(&pa[b]).unwrap())
                .unwrap();
            ce_row(za, yi) - (1.0001 - pa[wrong] + 1e-12).ln()
        })
        .sum::<f64>()
        / B as f64;
    assert!((no_kl - bce_only).abs() < 1e-12);
    let ce_only = with(MartOptions {
        no_kl: true,
        ce_instead_of_bce: true,
        ..MartOptions::default()
    });
    let ce: f64 = (0..B)
        .map(|i| ce_row(&adv[i * C..(i + 1) * C], y.data()[i] as usize))
        .sum::<f64>()
        / B as f64;
    assert!((ce_only - ce).abs() < 1e-12);
    let zero_fraction = with(MartOptions {
        kl_fraction: Some(0.0),
        ..MartOptions::default()
    });
    assert!((zero_fraction - no_kl).abs() < 1e-12);
    let full_fraction = with(MartOptions {
        kl_fraction: Some(1.0),
        ..MartOptions::default()
    });
    assert!((full_fraction - with(MartOptions::default())).abs() < 1e-12);
}

#[test]
fn trades_loss_matches_the_formula_and_its_gradient() {
    let (nat, adv) = (logits(7), logits(8));
    let y = labels();
    let got = eval2(
        &|a, b| trades_loss(a, b, &y, 6.0).value().item(),
        &nat,
        &adv,
    );
    let want = trades_reference(&nat, &adv, y.data(), 6.0);
    assert!(
        (got - want).abs() < 1e-12 * want.abs().max(1.0),
        "{got} vs {want}"
    );
    check_gradients(&|a, b| trades_loss(a, b, &y, 6.0), &nat, &adv);
}

#[test]
fn cw_margin_and_soft_logit_margin_match_their_formulas() {
    let z = logits(9);
    let y = labels();
    let tape = Tape::new();
    let zv = tape.var(Tensor::from_vec(z.clone(), [B, C]));
    let cw = cw_margin(&zv, &y, 50.0).value().item();
    let zf: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    let slm = soft_logit_margin(&Var::constant(Tensor::from_vec(zf, [B, C])), &y).into_value();
    let mut want_cw = 0.0;
    for i in 0..B {
        let row = &z[i * C..(i + 1) * C];
        let yi = y.data()[i] as usize;
        let other = (0..C)
            .filter(|&k| k != yi)
            .map(|k| row[k])
            .fold(f64::NEG_INFINITY, f64::max);
        want_cw += -(row[yi] - other + 50.0).max(0.0);
        let lse = (0..C)
            .filter(|&k| k != yi)
            .map(|k| row[k].exp())
            .sum::<f64>()
            .ln();
        assert!((f64::from(slm.data()[i]) - (lse - row[yi])).abs() < 1e-4);
    }
    assert!((cw - want_cw).abs() < 1e-9, "{cw} vs {want_cw}");
}
