//! Reductions. Sums and means spread the gradient evenly back; max and min send it to the
//! element they picked (the first one on ties, as PyTorch's `max(dim)`).

use tensor::{Element, IndexTensor, Tensor};

use crate::var::Var;

/// Brings a reduced gradient back to rank `rank` by re-inserting `axis` when it was dropped.
fn restore_axis<T: Element>(g: &Tensor<T>, axis: usize, keepdim: bool) -> Tensor<T> {
    if keepdim {
        g.clone()
    } else {
        g.unsqueeze(axis)
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// Sum along `axis`.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Var<'t, T> {
        let shape = self.shape().clone();
        self.unary_op("sum_axis", self.value().sum_axis(axis, keepdim), move |g| {
            restore_axis(g, axis, keepdim).broadcast_to(shape.clone())
        })
    }

    /// Mean along `axis`.
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Var<'t, T> {
        let shape = self.shape().clone();
        let scale = T::one() / T::from_usize(shape.dims()[axis]).unwrap();
        self.unary_op(
            "mean_axis",
            self.value().mean_axis(axis, keepdim),
            move |g| {
                restore_axis(g, axis, keepdim)
                    .broadcast_to(shape.clone())
                    .mul_scalar(scale)
            },
        )
    }

    /// Sum of all elements (a scalar).
    pub fn sum_all(&self) -> Var<'t, T> {
        let shape = self.shape().clone();
        self.unary_op("sum_all", self.value().sum_all(), move |g| {
            g.broadcast_to(shape.clone())
        })
    }

    /// Mean of all elements (a scalar).
    pub fn mean_all(&self) -> Var<'t, T> {
        let shape = self.shape().clone();
        let scale = T::one() / T::from_usize(shape.numel()).unwrap();
        self.unary_op("mean_all", self.value().mean_all(), move |g| {
            g.broadcast_to(shape.clone()).mul_scalar(scale)
        })
    }

    /// Maximum along `axis`; the gradient goes to the first maximal element.
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Var<'t, T> {
        let index = self.value().argmax_axis(axis);
        self.pick_along(axis, keepdim, index, "max_axis")
    }

    /// Minimum along `axis`; the gradient goes to the first minimal element.
    pub fn min_axis(&self, axis: usize, keepdim: bool) -> Var<'t, T> {
        let index = self.value().neg().argmax_axis(axis);
        self.pick_along(axis, keepdim, index, "min_axis")
    }

    /// The elements at `index` (one per line along `axis`), as a reduction over `axis`.
    fn pick_along(&self, axis: usize, keepdim: bool, index: IndexTensor, op: &str) -> Var<'t, T> {
        let index = index.unsqueeze(axis);
        let picked = self.value().gather(axis, &index);
        let value = if keepdim {
            picked
        } else {
            picked.squeeze(axis)
        };
        let shape = self.shape().clone();
        Var::from_op(op, &[self], value, move |g, _| {
            let g = restore_axis(g, axis, keepdim);
            vec![Some(
                Tensor::zeros_on(shape.clone(), g.device()).scatter_add(axis, &index, &g),
            )]
        })
    }
}
