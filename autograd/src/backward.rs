//! What a [`Tape`] offers in terms of [`Var`]s: recording leaves, and the gradients of one Var
//! with respect to others (the reverse loop itself is the tape's, by node id).

use tensor::{Element, Tensor};

use crate::tape::Tape;
use crate::var::Var;

impl<T: Element> Tape<T> {
    /// Records `value` as an input of the computation (a leaf whose gradient can be asked for).
    pub fn var(&self, value: Tensor<T>) -> Var<'_, T> {
        let id = self.push(Vec::new(), None);
        Var::recorded(value, self, id)
    }

    /// Gradients of the scalar `loss` with respect to each of `wrt`, in order. A `wrt` that the
    /// loss does not depend on (or a constant) gets zeros.
    pub fn backward(&self, loss: &Var<'_, T>, wrt: &[&Var<'_, T>]) -> Vec<Tensor<T>> {
        assert_eq!(
            loss.value().numel(),
            1,
            "backward: loss of shape {:?} is not a scalar; use backward_with and an upstream gradient",
            loss.shape()
        );
        let seed = Tensor::ones_on(loss.shape().clone(), loss.value().device());
        self.backward_with(loss, seed, wrt)
    }

    /// Gradients of `output` with respect to each of `wrt`, given the upstream gradient `seed`
    /// (d something / d output, of output's shape): a vector-Jacobian product.
    ///
    /// Only the work some requested gradient needs is done: a node's rule is asked for the
    /// gradient of an input only when a path leads from a `wrt` to that input.
    pub fn backward_with(
        &self,
        output: &Var<'_, T>,
        seed: Tensor<T>,
        wrt: &[&Var<'_, T>],
    ) -> Vec<Tensor<T>> {
        assert_eq!(
            seed.shape(),
            output.shape(),
            "backward_with: seed gradient {:?} does not match output {:?}",
            seed.shape(),
            output.shape()
        );
        let zeros = |v: &Var<'_, T>| Tensor::zeros_on(v.shape().clone(), v.value().device());
        let Some(out_id) = output.id_on(self) else {
            return wrt.iter().map(|v| zeros(v)).collect();
        };
        let wanted: Vec<Option<usize>> = wrt.iter().map(|v| v.id_on(self)).collect();
        self.gradients(out_id, seed, &wanted)
            .into_iter()
            .zip(wrt)
            .map(|(g, v)| g.unwrap_or_else(|| zeros(v)))
            .collect()
    }
}
