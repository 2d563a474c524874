//! The tape: a list of recorded ops in creation order, and the reverse loop over it.

use std::cell::RefCell;
use tensor::{Element, Tensor};

use crate::var::Var;

/// Maps the gradient of an op's output to the gradients of its inputs. `needed[i]` says whether
/// input `i` needs one; a rule returns `None` for the others and must not compute them.
pub type BackwardRule<T> = Box<dyn Fn(&Tensor<T>, &[bool]) -> Vec<Option<Tensor<T>>>>;

/// One recorded op: where its inputs are on the tape and how to send gradients back to them.
struct Node<T: Element> {
    /// Tape ids of the inputs; `None` for constants.
    inputs: Vec<Option<usize>>,
    /// The backward rule; `None` for leaves (the tape's inputs).
    rule: Option<BackwardRule<T>>,
}

/// A Wengert list of recorded ops. Create one per forward pass, ask it for gradients, drop it:
/// dropping the tape frees every tensor it saved.
pub struct Tape<T: Element> {
    nodes: RefCell<Vec<Node<T>>>,
}

impl<T: Element> Default for Tape<T> {
    fn default() -> Self {
        Tape::new()
    }
}

impl<T: Element> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            nodes: RefCell::new(Vec::new()),
        }
    }

    /// Records `value` as an input of the computation (a leaf whose gradient can be asked for).
    pub fn var(&self, value: Tensor<T>) -> Var<'_, T> {
        let id = self.push(Vec::new(), None);
        Var::recorded(value, self, id)
    }

    /// Number of recorded nodes (leaves and ops).
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// True when nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a node and returns its id.
    pub(crate) fn push(&self, inputs: Vec<Option<usize>>, rule: Option<BackwardRule<T>>) -> usize {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { inputs, rule });
        nodes.len() - 1
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
        let nodes = self.nodes.borrow();
        let zeros = |v: &Var<'_, T>| Tensor::zeros_on(v.shape().clone(), v.value().device());
        let Some(out_id) = output.id_on(self) else {
            return wrt.iter().map(|v| zeros(v)).collect();
        };
        let wanted: Vec<Option<usize>> = wrt.iter().map(|v| v.id_on(self)).collect();

        // Forward sweep: which nodes lie on a path from a requested input.
        let mut needs = vec![false; out_id + 1];
        for id in wanted.iter().flatten().filter(|&&id| id <= out_id) {
            needs[*id] = true;
        }
        for (id, node) in nodes.iter().enumerate().take(out_id + 1) {
            needs[id] |= node.inputs.iter().flatten().any(|&i| needs[i]);
        }

        // Reverse sweep: one loop over the tape, newest first.
        let mut grads: Vec<Option<Tensor<T>>> = vec![None; out_id + 1];
        grads[out_id] = Some(seed);
        let mut kept: Vec<Option<Tensor<T>>> = vec![None; wrt.len()];
        for id in (0..=out_id).rev() {
            let Some(grad) = grads[id].take() else {
                continue;
            };
            for (slot, w) in wanted.iter().enumerate() {
                if *w == Some(id) {
                    kept[slot] = Some(grad.clone());
                }
            }
            let node = &nodes[id];
            let Some(rule) = &node.rule else { continue };
            let needed: Vec<bool> = node
                .inputs
                .iter()
                .map(|i| i.is_some_and(|i| needs[i]))
                .collect();
            if !needed.iter().any(|&n| n) {
                continue;
            }
            for (input, g) in node.inputs.iter().zip(rule(&grad, &needed)) {
                if let (Some(i), Some(g)) = (input, g)
                    && needs[*i]
                {
                    grads[*i] = Some(match grads[*i].take() {
                        Some(acc) => acc.add(&g),
                        None => g,
                    });
                }
            }
        }
        kept.into_iter()
            .zip(wrt)
            .map(|(g, v)| g.unwrap_or_else(|| zeros(v)))
            .collect()
    }
}
