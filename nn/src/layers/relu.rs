//! `torch.nn.ReLU`.

use autograd::Var;
use tensor::Element;

use crate::module::{Entry, EntryMut, Forward, Module};

/// `max(x, 0)` elementwise (`torch.nn.ReLU`); no state.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

impl<T: Element> Module<T> for ReLU {
    fn forward<'t>(&self, x: &Var<'t, T>, _fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        x.relu()
    }

    fn is_relu(&self) -> bool {
        true
    }

    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'_, T>)) {}

    fn visit_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {}
}
