//! The tape: a list of recorded ops in creation order, and the reverse loop over it by node id.
//! Recording leaves and asking for the gradients of [`crate::Var`]s is in `backward.rs`.

use std::cell::RefCell;
use tensor::{Element, Tensor};

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

    /// The gradients of node `out_id`, given its upstream gradient `seed`, with respect to the
    /// nodes `wanted`, in order: `None` for a node the output does not depend on (or `None` in
    /// `wanted`, a constant).
    ///
    /// Only the work some requested gradient needs is done: a node's rule is asked for the
    /// gradient of an input only when a path leads from a `wanted` node to that input.
    pub(crate) fn gradients(
        &self,
        out_id: usize,
        seed: Tensor<T>,
        wanted: &[Option<usize>],
    ) -> Vec<Option<Tensor<T>>> {
        let nodes = self.nodes.borrow();
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
        let mut kept: Vec<Option<Tensor<T>>> = vec![None; wanted.len()];
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
        kept
    }
}
