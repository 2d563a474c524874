//! `torch.nn.MaxPool2d` and `torch.nn.AvgPool2d`.

use autograd::Var;
use tensor::{Element, Pool2dGeometry};

use crate::module::{Entry, EntryMut, Forward, Module};

/// Max pooling over square windows (`torch.nn.MaxPool2d`); no state.
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    /// Window, stride and padding.
    pub geometry: Pool2dGeometry,
}

impl MaxPool2d {
    /// `nn.MaxPool2d(kernel)`: windows of `kernel` with stride `kernel`, no padding.
    pub fn new(kernel: usize) -> Self {
        MaxPool2d {
            geometry: Pool2dGeometry::new(kernel, kernel, 0),
        }
    }
}

impl<T: Element> Module<T> for MaxPool2d {
    fn forward<'t>(&self, x: &Var<'t, T>, _fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        x.max_pool2d(self.geometry)
    }

    fn max_pool_geometry(&self) -> Option<Pool2dGeometry> {
        Some(self.geometry)
    }

    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'_, T>)) {}

    fn visit_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {}
}

/// Average pooling over square windows (`torch.nn.AvgPool2d`, `F.avg_pool2d`); no state.
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2d {
    /// Window, stride and padding.
    pub geometry: Pool2dGeometry,
}

impl AvgPool2d {
    /// `nn.AvgPool2d(kernel)`: windows of `kernel` with stride `kernel`, no padding.
    pub fn new(kernel: usize) -> Self {
        AvgPool2d {
            geometry: Pool2dGeometry::new(kernel, kernel, 0),
        }
    }
}

impl<T: Element> Module<T> for AvgPool2d {
    fn forward<'t>(&self, x: &Var<'t, T>, _fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        x.avg_pool2d(self.geometry)
    }

    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'_, T>)) {}

    fn visit_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {}
}
