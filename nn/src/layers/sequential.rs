//! `torch.nn.Sequential`.

use autograd::Var;
use tensor::Element;

use crate::module::{Entry, EntryMut, Forward, Module, join};

/// Named children run in order (`torch.nn.Sequential`). Children are named by their index
/// (`layer1.0.conv1.weight`) or, as with an `OrderedDict`, by name
/// (`feature_extractor.conv1.weight`). An empty `Sequential` is the identity, as PyTorch's.
/// A child followed by a [`ReLU`](crate::layers::ReLU) runs as one op where it can
/// ([`Module::forward_relu`]: a convolution applies the ReLU as it writes its output), and one
/// followed by a ReLU and a [`MaxPool2d`](crate::layers::MaxPool2d) too
/// ([`Module::forward_relu_max_pool`]), with the values and gradients of the layers in turn;
/// the children and their names stay as given.
#[derive(Default)]
pub struct Sequential<T: Element> {
    children: Vec<(String, Box<dyn Module<T>>)>,
}

impl<T: Element> Sequential<T> {
    /// `nn.Sequential(*modules)`: children named `0`, `1`, ...
    pub fn new(modules: Vec<Box<dyn Module<T>>>) -> Self {
        Sequential {
            children: modules
                .into_iter()
                .enumerate()
                .map(|(i, m)| (i.to_string(), m))
                .collect(),
        }
    }

    /// `nn.Sequential(OrderedDict(...))`: children under the given names.
    pub fn named(children: Vec<(&str, Box<dyn Module<T>>)>) -> Self {
        Sequential {
            children: children
                .into_iter()
                .map(|(name, m)| (name.to_string(), m))
                .collect(),
        }
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// True when there are no children (the identity).
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }
}

impl<T: Element> Module<T> for Sequential<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let mut h = x.clone();
        let mut children = self.children.iter().map(|(_, child)| child).peekable();
        while let Some(child) = children.next() {
            h = if children.next_if(|next| next.is_relu()).is_some() {
                match children.next_if(|next| next.max_pool_geometry().is_some()) {
                    Some(pool) => {
                        let pool = pool.max_pool_geometry().expect("a max pooling");
                        child.forward_relu_max_pool(&h, pool, fwd)
                    }
                    None => child.forward_relu(&h, fwd),
                }
            } else {
                child.forward(&h, fwd)
            };
        }
        h
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        for (name, child) in &self.children {
            child.visit(&join(prefix, name), f);
        }
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        for (name, child) in &mut self.children {
            child.visit_mut(&join(prefix, name), f);
        }
    }
}
