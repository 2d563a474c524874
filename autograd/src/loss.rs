//! Losses as PyTorch defines them.

use tensor::{Element, IndexTensor, Tensor};

use crate::var::Var;

/// How a pointwise loss is reduced, as PyTorch's `reduction` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Keep every element.
    None,
    /// Sum of all elements.
    Sum,
    /// Mean over all elements.
    Mean,
    /// Sum divided by the batch size (the first axis): the KL divergence's true mean.
    BatchMean,
}

impl Reduction {
    /// Applies the reduction to a pointwise loss.
    pub fn apply<'t, T: Element>(self, pointwise: Var<'t, T>) -> Var<'t, T> {
        match self {
            Reduction::None => pointwise,
            Reduction::Sum => pointwise.sum_all(),
            Reduction::Mean => pointwise.mean_all(),
            Reduction::BatchMean => {
                let batch = T::from_usize(pointwise.dims().first().copied().unwrap_or(1)).unwrap();
                pointwise.sum_all().mul_scalar(T::one() / batch)
            }
        }
    }
}

/// Mean negative log-likelihood: `-(1/B) sum_i log_probs[i, labels[i]]`, with `log_probs`
/// `[B, C]` and `labels` `[B]`.
pub fn nll_loss<'t, T: Element>(log_probs: &Var<'t, T>, labels: &IndexTensor) -> Var<'t, T> {
    assert!(
        log_probs.dims().len() == 2 && labels.dims() == [log_probs.dims()[0]],
        "nll_loss: log-probabilities {:?} and labels {:?} do not match",
        log_probs.shape(),
        labels.shape()
    );
    log_probs.gather(1, &labels.unsqueeze(1)).mean_all().neg()
}

/// Mean cross-entropy of logits `[B, C]` against integer labels `[B]`, from the exact
/// log-softmax (PyTorch's `F.cross_entropy`).
pub fn cross_entropy<'t, T: Element>(logits: &Var<'t, T>, labels: &IndexTensor) -> Var<'t, T> {
    nll_loss(&logits.log_softmax(1), labels)
}

/// KL divergence with `torch.nn.KLDivLoss` semantics: `input` holds log-probabilities, `target`
/// probabilities, pointwise `target * (log target - input)`, and 0 where `target = 0`.
/// The gradient flows into both: `-target` into `input`, `log target + 1 - input` into `target`
/// (0 where `target = 0`, the limit of `t log t`).
pub fn kl_div<'t, T: Element>(
    input: &Var<'t, T>,
    target: &Var<'t, T>,
    reduction: Reduction,
) -> Var<'t, T> {
    let (x, t) = (input.value().clone(), target.value().clone());
    let zero = Tensor::scalar(T::zero());
    let positive = t.gt(&zero);
    let value = positive.where_(&t.mul(&t.log().sub(&x)), &zero);
    let pointwise = Var::from_op("kl_div", &[input, target], value, move |g, need| {
        let grad_t = || {
            let local = t.log().add_scalar(T::one()).sub(&x);
            g.mul(&positive.where_(&local, &zero)).sum_to(t.shape())
        };
        vec![
            need[0].then(|| g.mul(&t).neg().sum_to(x.shape())),
            need[1].then(grad_t),
        ]
    });
    reduction.apply(pointwise)
}

/// Mean squared error.
pub fn mse_loss<'t, T: Element>(a: &Var<'t, T>, b: &Var<'t, T>) -> Var<'t, T> {
    a.sub(b).square().mean_all()
}

/// Fraction of rows of `logits` `[B, C]` whose argmax equals the label.
pub fn accuracy<T: Element>(logits: &Tensor<T>, labels: &IndexTensor) -> f64 {
    let predicted = logits.argmax_axis(1);
    let (predicted, labels) = (predicted.to_vec(), labels.to_vec());
    let correct = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    correct as f64 / labels.len().max(1) as f64
}
