//! `Var`: a value, and where it was recorded (if anywhere).

use tensor::{Element, Shape, Tensor};

use crate::tape::Tape;

/// A tensor value plus its place on a tape. A `Var` with no place is a constant: ops on
/// constants compute values and record nothing.
#[derive(Clone)]
pub struct Var<'t, T: Element> {
    value: Tensor<T>,
    place: Option<(&'t Tape<T>, usize)>,
}

impl<'t, T: Element> Var<'t, T> {
    /// A constant: no gradient flows into it.
    pub fn constant(value: Tensor<T>) -> Self {
        Var { value, place: None }
    }

    /// A value recorded as node `id` of `tape`.
    pub(crate) fn recorded(value: Tensor<T>, tape: &'t Tape<T>, id: usize) -> Self {
        Var {
            value,
            place: Some((tape, id)),
        }
    }

    /// The value.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// The value, consuming the Var.
    pub fn into_value(self) -> Tensor<T> {
        self.value
    }

    /// The value's shape.
    pub fn shape(&self) -> &Shape {
        self.value.shape()
    }

    /// The value's dimensions.
    pub fn dims(&self) -> &[usize] {
        self.value.dims()
    }

    /// True when the Var is on a tape (gradients can flow through it).
    pub fn is_recorded(&self) -> bool {
        self.place.is_some()
    }

    /// The same value as a constant: gradients stop here (PyTorch's `detach`).
    pub fn detach(&self) -> Var<'t, T> {
        Var::constant(self.value.clone())
    }

    /// The Var's id if it is recorded on `tape`.
    pub(crate) fn id_on(&self, tape: &Tape<T>) -> Option<usize> {
        self.place
            .filter(|(t, _)| std::ptr::eq(*t, tape))
            .map(|(_, id)| id)
    }

    /// Records an op with these `inputs`, output `value` and backward `rule`. If no input is
    /// recorded, the result is a constant and the rule is dropped unused.
    pub fn from_op(
        op: &str,
        inputs: &[&Var<'t, T>],
        value: Tensor<T>,
        rule: impl Fn(&Tensor<T>, &[bool]) -> Vec<Option<Tensor<T>>> + 'static,
    ) -> Var<'t, T> {
        let mut tape: Option<&'t Tape<T>> = None;
        for v in inputs {
            if let Some((t, _)) = v.place {
                match tape {
                    None => tape = Some(t),
                    Some(seen) => assert!(
                        std::ptr::eq(seen, t),
                        "{op}: inputs are recorded on different tapes"
                    ),
                }
            }
        }
        let Some(tape) = tape else {
            return Var::constant(value);
        };
        let ids = inputs.iter().map(|v| v.place.map(|(_, id)| id)).collect();
        let id = tape.push(ids, Some(Box::new(rule)));
        Var::recorded(value, tape, id)
    }

    /// Records a one-input op whose rule maps the output gradient to the input gradient.
    pub fn unary_op(
        &self,
        op: &str,
        value: Tensor<T>,
        rule: impl Fn(&Tensor<T>) -> Tensor<T> + 'static,
    ) -> Var<'t, T> {
        Var::from_op(op, &[self], value, move |g, _| vec![Some(rule(g))])
    }
}
