//! The Difference of Logits Ratio losses of APGD (Croce and Hein, 2020), per example.
//!
//! DLR divides the margin of the true class by the spread of the largest logits, so it does not
//! change when the logits are shifted or scaled: a model cannot hide behind large logits, as it
//! can against cross-entropy. Both losses are written with autograd ops (a `gather` of the logits
//! at the indices that sort them), so their input gradients come from the tape, as the
//! reference's `torch.sort` passes the gradient of each sorted value back to where it came from.

use autograd::Var;
use tensor::{Element, IndexTensor, Tensor};

use crate::device::beside;

/// The reference adds this to the DLR denominators so that equal logits do not divide by zero.
const DENOMINATOR_GUARD: f64 = 1e-12;

/// For each row of `logits` (`[B, C]`), the classes of its `count` largest logits from the
/// largest (`[B, count]`, on the logits' device); panics naming `op` when the shapes do not fit.
///
/// The stable order keeps equal logits in class order; PyTorch's sort may order ties
/// otherwise, which changes how the gradient splits between them but not the loss.
fn largest_classes<T: Element>(
    logits: &Tensor<T>,
    labels: &IndexTensor,
    count: usize,
    op: &str,
) -> IndexTensor {
    assert!(
        logits.rank() == 2 && logits.dims()[1] >= count && labels.dims() == [logits.dims()[0]],
        "{op}: needs logits [B, C] with C >= {count} and labels [B], got logits {:?} and labels {:?}",
        logits.shape(),
        labels.shape()
    );
    let (_, order) = logits.sort_axis(1, true);
    order.slice(1, 0, count)
}

/// `numerator / denominator` with PyTorch's backward rule for a division: `g / b` for the
/// numerator and `-g * ((a / b) / b)` for the denominator.
///
/// The rule matters at DLR's plateau: when the label's logit is the third largest, the loss
/// is exactly 1 (`a == b`), and PyTorch's rule makes the contributions to the input gradient
/// cancel to exactly zero, so the reference's signed step does not move. The algebraically equal
/// `-g a / b^2` leaves a rounding residue whose sign would decide a full step.
fn ratio<'t, T: Element>(numerator: &Var<'t, T>, denominator: &Var<'t, T>) -> Var<'t, T> {
    let (a, b) = (numerator.value().clone(), denominator.value().clone());
    let value = a.div(&b);
    let quotient = value.clone();
    Var::from_op(
        "dlr_ratio",
        &[numerator, denominator],
        value,
        move |g, need| {
            vec![
                need[0].then(|| g.div(&b)),
                need[1].then(|| g.mul(&quotient.div(&b)).neg()),
            ]
        },
    )
}

/// Column `k` of `sorted` (`[B, n]`) as `[B, 1]`.
fn column<'t, T: Element>(sorted: &Var<'t, T>, k: usize) -> Var<'t, T> {
    sorted.slice(1, k, k + 1)
}

/// The untargeted DLR loss of each example, `[B]`:
/// `-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)` with `pi` the classes sorted by
/// decreasing logit. As the reference writes it, the largest other logit is `z_pi2` when the
/// label is the argmax and `z_pi1` otherwise. Needs at least 3 classes.
pub fn dlr_loss<'t, T: Element>(logits: &Var<'t, T>, labels: &IndexTensor) -> Var<'t, T> {
    let order = largest_classes(logits.value(), labels, 3, "dlr_loss");
    let labels_host = labels.to_usizes();
    let top = order.slice(1, 0, 1).to_usizes();
    let label_on_top: Vec<f64> = top
        .iter()
        .zip(&labels_host)
        .map(|(&t, &y)| if t == y { 1.0 } else { 0.0 })
        .collect();
    let batch = labels_host.len();
    let on_top = Tensor::<T>::from_f64s(&label_on_top, [batch, 1]);
    let not_on_top = on_top.neg().add_scalar(T::one());
    let (on_top, not_on_top) = (
        Var::constant(beside(on_top, logits.value())),
        Var::constant(beside(not_on_top, logits.value())),
    );

    let sorted = logits.gather(1, &beside(order, logits.value()));
    let (first, second, third) = (column(&sorted, 0), column(&sorted, 1), column(&sorted, 2));
    let correct = logits.gather(1, &labels.unsqueeze(1));
    let margin = correct
        .sub(&second.mul(&on_top))
        .sub(&first.mul(&not_on_top));
    let spread = first
        .sub(&third)
        .add_scalar(T::from_f64_lossy(DENOMINATOR_GUARD));
    ratio(&margin.neg(), &spread).reshape([batch])
}

/// The targeted DLR loss of each example towards `targets` (`[B]`), `[B]`:
/// `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)`, maximised by APGD-T to push the
/// target's logit above the label's. Needs at least 4 classes.
pub fn targeted_dlr_loss<'t, T: Element>(
    logits: &Var<'t, T>,
    labels: &IndexTensor,
    targets: &IndexTensor,
) -> Var<'t, T> {
    let order = largest_classes(logits.value(), labels, 4, "targeted_dlr_loss");
    assert_eq!(
        targets.dims(),
        labels.dims(),
        "targeted_dlr_loss: targets {:?} and labels {:?} differ",
        targets.shape(),
        labels.shape()
    );
    let batch = labels.dims()[0];
    let sorted = logits.gather(1, &beside(order, logits.value()));
    let (first, third, fourth) = (column(&sorted, 0), column(&sorted, 2), column(&sorted, 3));
    let correct = logits.gather(1, &labels.unsqueeze(1));
    let target = logits.gather(1, &targets.unsqueeze(1));
    let spread = first
        .sub(&third.add(&fourth).mul_scalar(T::from_f64_lossy(0.5)))
        .add_scalar(T::from_f64_lossy(DENOMINATOR_GUARD));
    ratio(&correct.sub(&target).neg(), &spread).reshape([batch])
}
