//! `torch.nn.Flatten`.

use autograd::Var;
use tensor::Element;

use crate::module::{Entry, EntryMut, Forward, Module};

/// Reshapes `[N, ...]` to `[N, rest]` (`torch.nn.Flatten`, `x.view(x.size(0), -1)`); free, no
/// state.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flatten;

impl<T: Element> Module<T> for Flatten {
    fn forward<'t>(&self, x: &Var<'t, T>, _fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let rest = x.dims()[1..].iter().product();
        x.reshape([x.dims()[0], rest])
    }

    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'_, T>)) {}

    fn visit_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {}
}
