//! `torch.nn.Dropout`.

use autograd::Var;
use tensor::Element;

use crate::module::{Entry, EntryMut, Forward, Mode, Module};

/// Inverted dropout (`torch.nn.Dropout`): in Train mode each element is zeroed with
/// probability `p` and the rest scaled by `1 / (1 - p)`, drawn from the forward pass's seeded
/// stream; the identity in Eval and Attack modes.
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    /// Probability of zeroing an element.
    pub p: f64,
}

impl Dropout {
    /// `nn.Dropout(p)`.
    pub fn new(p: f64) -> Self {
        assert!((0.0..1.0).contains(&p), "Dropout: p = {p} is not in [0, 1)");
        Dropout { p }
    }
}

impl<T: Element> Module<T> for Dropout {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        if fwd.mode() != Mode::Train || self.p == 0.0 {
            return x.clone();
        }
        let mask = fwd.dropout_mask(x.shape().clone(), self.p, x.value().device());
        x.mul(&Var::constant(mask))
    }

    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'_, T>)) {}

    fn visit_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {}
}
