//! Comparisons giving 0/1 masks, and `where` selecting by a mask.

use crate::element::Element;
use crate::tensor::Tensor;

/// 1 where `cond` holds, else 0.
fn mask<T: Element>(cond: bool) -> T {
    if cond { T::one() } else { T::zero() }
}

impl<T: Element> Tensor<T> {
    /// 1 where `self > other` (broadcast), else 0.
    pub fn gt(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "gt", |a, b| mask(a > b))
    }

    /// 1 where `self >= other` (broadcast), else 0.
    pub fn ge(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "ge", |a, b| mask(a >= b))
    }

    /// 1 where `self < other` (broadcast), else 0.
    pub fn lt(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "lt", |a, b| mask(a < b))
    }

    /// 1 where `self <= other` (broadcast), else 0.
    pub fn le(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "le", |a, b| mask(a <= b))
    }

    /// 1 where `self == other` (broadcast), else 0.
    pub fn eq_mask(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_map(other, "eq", |a, b| mask(a == b))
    }

    /// `on_true` where `self` is non-zero, else `on_false`; all three broadcast together.
    pub fn where_(&self, on_true: &Tensor<T>, on_false: &Tensor<T>) -> Tensor<T> {
        let shape = self
            .shape()
            .broadcast_or_panic(on_true.shape(), "where")
            .broadcast_or_panic(on_false.shape(), "where");
        let cond = self.broadcast_to(shape.clone());
        let on_true = on_true.broadcast_to(shape.clone());
        let on_false = on_false.broadcast_to(shape.clone());
        let picked = cond
            .data()
            .iter()
            .zip(on_true.data())
            .zip(on_false.data())
            .map(|((&c, &t), &f)| if c != T::zero() { t } else { f })
            .collect();
        Tensor::from_vec(picked, shape)
    }
}
