//! softmax, log_softmax and logsumexp along an axis, with their closed-form gradients.

use tensor::Element;

use crate::var::Var;

impl<'t, T: Element> Var<'t, T> {
    /// Softmax along `axis`: `dx = y * (g - sum(g * y))`.
    pub fn softmax(&self, axis: usize) -> Var<'t, T> {
        let y = self.value().softmax(axis);
        let saved = y.clone();
        self.unary_op("softmax", y, move |g| {
            let dot = g.mul(&saved).sum_axis(axis, true);
            saved.mul(&g.sub(&dot))
        })
    }

    /// Log-softmax along `axis`: `dx = g - softmax(x) * sum(g)`.
    pub fn log_softmax(&self, axis: usize) -> Var<'t, T> {
        let y = self.value().log_softmax(axis);
        let saved = y.clone();
        self.unary_op("log_softmax", y, move |g| {
            g.sub(&saved.exp().mul(&g.sum_axis(axis, true)))
        })
    }

    /// `log(sum(exp(x)))` along `axis`: `dx = g * softmax(x)`.
    pub fn logsumexp(&self, axis: usize, keepdim: bool) -> Var<'t, T> {
        let x = self.value().clone();
        let out = x.logsumexp(axis, true);
        let saved = out.clone();
        let value = if keepdim { out } else { out.squeeze(axis) };
        self.unary_op("logsumexp", value, move |g| {
            let g = if keepdim {
                g.clone()
            } else {
                g.unsqueeze(axis)
            };
            g.mul(&x.sub(&saved).exp())
        })
    }
}
