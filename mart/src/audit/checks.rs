//! The gradient-masking checks (Athalye et al. 2018; Carlini et al. 2019), each a rule over
//! measured accuracies that gives PASS or WARN with the numbers behind it.
//!
//! Accuracies are percentages over `n` images; two of them are "equal within noise" when they
//! differ by at most two binomial standard errors (at least one image), so a check fails only
//! on a difference the sample size cannot explain.

use serde::Serialize;

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The rule holds (within noise).
    #[serde(rename = "PASS")]
    Pass,
    /// The rule is broken: a sign of gradient masking or of an overstated figure.
    #[serde(rename = "WARN")]
    Warn,
}

/// One measured check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// Short name (`iterative-vs-one-step`, ...).
    pub name: String,
    /// PASS or WARN.
    pub verdict: Verdict,
    /// What was compared, with the numbers.
    pub detail: String,
}

impl Check {
    fn new(name: &str, holds: bool, detail: String) -> Check {
        Check {
            name: name.into(),
            verdict: if holds { Verdict::Pass } else { Verdict::Warn },
            detail,
        }
    }
}

/// Two binomial standard errors of an accuracy of `percent` over `n` images, in percentage
/// points, and never below one image's worth.
pub fn noise(percent: f64, n: usize) -> f64 {
    let n = n.max(1) as f64;
    let p = (percent / 100.0).clamp(0.0, 1.0);
    (200.0 * (p * (1.0 - p) / n).sqrt()).max(100.0 / n)
}

/// `weaker` (the accuracy under the attack that should be weaker) is at least `stronger`'s,
/// within noise.
fn at_least(weaker: f64, stronger: f64, n: usize) -> bool {
    weaker + noise(weaker.max(stronger), n) >= stronger
}

/// Iterative attacks at least as strong as one step: PGD-20 <= FGSM and PGD-100 <= PGD-20.
pub fn iterative_vs_one_step(fgsm: f64, pgd20: f64, pgd100: f64, n: usize) -> Check {
    Check::new(
        "iterative-vs-one-step",
        at_least(fgsm, pgd20, n) && at_least(pgd20, pgd100, n),
        format!(
            "FGSM {fgsm:.2} >= PGD-20 {pgd20:.2} >= PGD-100 {pgd100:.2} (noise ±{:.2})",
            noise(fgsm, n)
        ),
    )
}

/// White-box at least as strong as black-box: white-box PGD-20 <= transferred PGD-20.
pub fn white_vs_transfer(white_pgd20: f64, transfer_pgd20: f64, n: usize) -> Check {
    Check::new(
        "white-box-vs-transfer",
        at_least(transfer_pgd20, white_pgd20, n),
        format!(
            "white-box PGD-20 {white_pgd20:.2} <= transferred PGD-20 {transfer_pgd20:.2} (noise ±{:.2})",
            noise(transfer_pgd20, n)
        ),
    )
}

/// Gradient-free not stronger than gradient-based: `free` (SPSA or Square) accuracy at least
/// the gradient attacks' best (lowest) accuracy on the same images.
pub fn gradient_free(name: &str, free: f64, gradient_best: f64, n: usize) -> Check {
    Check::new(
        &format!("{name}-vs-gradient"),
        at_least(free, gradient_best, n),
        format!(
            "{name} {free:.2} >= best gradient attack {gradient_best:.2} on {n} images (noise ±{:.2})",
            noise(free, n)
        ),
    )
}

/// Unbounded attacks succeed: along the eps sweep accuracy never rises beyond noise and, at the
/// largest eps (1.0, where any image is reachable), falls to at most `floor` percent.
pub fn eps_sweep(curve: &[(f32, f64)], n: usize, floor: f64) -> Check {
    let monotone = curve.windows(2).all(|w| at_least(w[0].1, w[1].1, n));
    let last = curve.last().copied().unwrap_or((0.0, 100.0));
    let points: Vec<String> = curve
        .iter()
        .map(|(eps, acc)| format!("{eps:.3}: {acc:.1}"))
        .collect();
    Check::new(
        "eps-sweep",
        monotone && last.1 <= floor,
        format!(
            "PGD-20 accuracy by eps [{}]; at eps {:.2}: {:.2} (must fall to <= {floor:.1} and never rise)",
            points.join(", "),
            last.0,
            last.1
        ),
    )
}

/// AutoAttack's drop from PGD-20 is small: `pgd20 - autoattack <= max_drop` points.
pub fn autoattack_drop(pgd20: f64, autoattack: f64, max_drop: f64) -> Check {
    Check::new(
        "pgd20-vs-autoattack",
        pgd20 - autoattack <= max_drop,
        format!(
            "PGD-20 {pgd20:.2} -> AutoAttack {autoattack:.2}: drop {:.2} points (at most {max_drop:.1}; a larger drop means PGD-20 overstates robustness)",
            pgd20 - autoattack
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_two_standard_errors_with_a_one_image_floor() {
        // p = 0.5, n = 100: sqrt(0.25 / 100) = 0.05 -> 2 * 5 = 10 points.
        assert!((noise(50.0, 100) - 10.0).abs() < 1e-12);
        // p = 0: no binomial spread, one image = 1 point of 100.
        assert!((noise(0.0, 100) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn each_rule_passes_and_warns() {
        assert_eq!(
            iterative_vs_one_step(90.0, 80.0, 79.0, 1000).verdict,
            Verdict::Pass
        );
        // PGD-20 far above FGSM: the iterative attack is masked.
        assert_eq!(
            iterative_vs_one_step(60.0, 80.0, 79.0, 1000).verdict,
            Verdict::Warn
        );
        assert_eq!(
            iterative_vs_one_step(90.0, 80.0, 85.0, 1000).verdict,
            Verdict::Warn
        );
        assert_eq!(white_vs_transfer(80.0, 95.0, 1000).verdict, Verdict::Pass);
        assert_eq!(white_vs_transfer(80.0, 60.0, 1000).verdict, Verdict::Warn);
        assert_eq!(
            gradient_free("spsa", 82.0, 80.0, 100).verdict,
            Verdict::Pass
        );
        assert_eq!(
            gradient_free("square", 50.0, 80.0, 1000).verdict,
            Verdict::Warn
        );
        let falling = [(0.0, 97.0), (0.3, 80.0), (0.6, 5.0), (1.0, 0.0)];
        assert_eq!(eps_sweep(&falling, 1000, 1.0).verdict, Verdict::Pass);
        let stuck = [(0.0, 97.0), (0.3, 80.0), (1.0, 40.0)];
        assert_eq!(eps_sweep(&stuck, 1000, 1.0).verdict, Verdict::Warn);
        let rising = [(0.0, 97.0), (0.3, 50.0), (0.6, 70.0), (1.0, 0.0)];
        assert_eq!(eps_sweep(&rising, 1000, 1.0).verdict, Verdict::Warn);
        assert_eq!(autoattack_drop(80.0, 77.0, 5.0).verdict, Verdict::Pass);
        assert_eq!(autoattack_drop(80.0, 65.0, 5.0).verdict, Verdict::Warn);
    }
}
