//! Gather by index; its gradient scatters back (adding where an element was gathered twice).

use tensor::{Element, IndexTensor, Tensor};

use crate::var::Var;

impl<'t, T: Element> Var<'t, T> {
    /// `torch.gather` along `axis`.
    pub fn gather(&self, axis: usize, index: &IndexTensor) -> Var<'t, T> {
        let shape = self.shape().clone();
        let index = index.clone();
        let value = self.value().gather(axis, &index);
        self.unary_op("gather", value, move |g| {
            Tensor::zeros_on(shape.clone(), g.device()).scatter_add(axis, &index, g)
        })
    }
}
