//! Movement ops. Their gradients move the gradient back: reshape back, permute by the inverse,
//! pad what was sliced, slice what was padded or concatenated, sum what was broadcast.

use tensor::{Element, Shape};

use crate::var::Var;

impl<'t, T: Element> Var<'t, T> {
    /// The same elements under a new shape.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Var<'t, T> {
        let from = self.shape().clone();
        self.unary_op("reshape", self.value().reshape(shape), move |g| {
            g.reshape(from.clone())
        })
    }

    /// Reorders axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Var<'t, T> {
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        self.unary_op("permute", self.value().permute(perm), move |g| {
            g.permute(&inverse)
        })
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Var<'t, T> {
        self.unary_op("transpose", self.value().transpose(a, b), move |g| {
            g.transpose(a, b)
        })
    }

    /// Elements `start..end` along `axis`; the gradient is zero-padded back.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Var<'t, T> {
        let len = self.dims()[axis];
        let rank = self.value().rank();
        self.unary_op("slice", self.value().slice(axis, start, end), move |g| {
            let mut pads = vec![(0, 0); rank];
            pads[axis] = (start, len - end);
            g.pad(&pads, T::zero())
        })
    }

    /// Joins Vars along `axis`; each part gets its slice of the gradient.
    pub fn concat(parts: &[&Var<'t, T>], axis: usize) -> Var<'t, T> {
        let values: Vec<_> = parts.iter().map(|p| p.value()).collect();
        let value = tensor::Tensor::concat(&values, axis);
        let lens: Vec<usize> = parts.iter().map(|p| p.dims()[axis]).collect();
        Var::from_op("concat", parts, value, move |g, need| {
            let mut start = 0;
            lens.iter()
                .zip(need)
                .map(|(&len, &n)| {
                    let part = n.then(|| g.slice(axis, start, start + len));
                    start += len;
                    part
                })
                .collect()
        })
    }

    /// Pads each axis with constant `value`; the gradient is the unpadded window.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Var<'t, T> {
        let dims = self.dims().to_vec();
        let pads_saved = pads.to_vec();
        self.unary_op("pad", self.value().pad(pads, value), move |g| {
            let mut window = g.clone();
            for (axis, (&(before, _), &len)) in pads_saved.iter().zip(&dims).enumerate() {
                window = window.slice(axis, before, before + len);
            }
            window
        })
    }

    /// Repeats size-1 axes up to `shape`; the gradient is summed back.
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Var<'t, T> {
        let from = self.shape().clone();
        self.unary_op("broadcast_to", self.value().broadcast_to(shape), move |g| {
            g.sum_to(&from)
        })
    }

    /// Inserts a size-1 axis.
    pub fn unsqueeze(&self, axis: usize) -> Var<'t, T> {
        self.unary_op("unsqueeze", self.value().unsqueeze(axis), move |g| {
            g.squeeze(axis)
        })
    }

    /// Removes a size-1 axis.
    pub fn squeeze(&self, axis: usize) -> Var<'t, T> {
        self.unary_op("squeeze", self.value().squeeze(axis), move |g| {
            g.unsqueeze(axis)
        })
    }
}
