//! Elementwise ops. Binary ops broadcast; their gradients are summed back to each input's shape.
//! Subgradients at kinks follow PyTorch and are stated on each op.

use tensor::{Element, Tensor};

use crate::var::Var;

/// A rank-0 constant, which combines with a tensor on any device.
fn constant<T: Element>(v: f64) -> Tensor<T> {
    Tensor::scalar(T::from_f64_lossy(v))
}

impl<'t, T: Element> Var<'t, T> {
    /// `self + other` (broadcast).
    pub fn add(&self, other: &Var<'t, T>) -> Var<'t, T> {
        let (sa, sb) = (self.shape().clone(), other.shape().clone());
        let value = self.value().add(other.value());
        Var::from_op("add", &[self, other], value, move |g, need| {
            vec![
                need[0].then(|| g.sum_to(&sa)),
                need[1].then(|| g.sum_to(&sb)),
            ]
        })
    }

    /// `relu(self + other)` (broadcast) in one op, as `F.relu(a + b)` and with the same bits: a
    /// residual block's sum and ReLU. The gradient flows to both operands where the output is
    /// positive (where the sum is), as [`Var::relu`]'s does.
    pub fn add_relu(&self, other: &Var<'t, T>) -> Var<'t, T> {
        let (sa, sb) = (self.shape().clone(), other.shape().clone());
        let y = self.value().add_relu(other.value());
        let out = y.clone();
        Var::from_op("add_relu", &[self, other], y, move |g, need| {
            let g = g.relu_grad(&out);
            vec![
                need[0].then(|| g.sum_to(&sa)),
                need[1].then(|| g.sum_to(&sb)),
            ]
        })
    }

    /// `self - other` (broadcast).
    pub fn sub(&self, other: &Var<'t, T>) -> Var<'t, T> {
        let (sa, sb) = (self.shape().clone(), other.shape().clone());
        let value = self.value().sub(other.value());
        Var::from_op("sub", &[self, other], value, move |g, need| {
            vec![
                need[0].then(|| g.sum_to(&sa)),
                need[1].then(|| g.neg().sum_to(&sb)),
            ]
        })
    }

    /// `self * other` (broadcast).
    pub fn mul(&self, other: &Var<'t, T>) -> Var<'t, T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        let value = a.mul(&b);
        Var::from_op("mul", &[self, other], value, move |g, need| {
            vec![
                need[0].then(|| g.mul(&b).sum_to(a.shape())),
                need[1].then(|| g.mul(&a).sum_to(b.shape())),
            ]
        })
    }

    /// `self / other` (broadcast).
    pub fn div(&self, other: &Var<'t, T>) -> Var<'t, T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        let value = a.div(&b);
        Var::from_op("div", &[self, other], value, move |g, need| {
            vec![
                need[0].then(|| g.div(&b).sum_to(a.shape())),
                need[1].then(|| g.mul(&a).div(&b.square()).neg().sum_to(b.shape())),
            ]
        })
    }

    /// Elementwise maximum (broadcast). On ties each input gets half the gradient, as PyTorch.
    pub fn maximum(&self, other: &Var<'t, T>) -> Var<'t, T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        self.select_by(other, "maximum", a.maximum(&b), |x, y| x.gt(y))
    }

    /// Elementwise minimum (broadcast). On ties each input gets half the gradient, as PyTorch.
    pub fn minimum(&self, other: &Var<'t, T>) -> Var<'t, T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        self.select_by(other, "minimum", a.minimum(&b), |x, y| x.lt(y))
    }

    /// Shared rule of maximum and minimum: `wins(a, b)` is the 1/0 mask of where `a` is chosen
    /// over `b`; each side's gradient share is `wins + 0.5 (a == b)`.
    fn select_by(
        &self,
        other: &Var<'t, T>,
        op: &'static str,
        value: Tensor<T>,
        wins: fn(&Tensor<T>, &Tensor<T>) -> Tensor<T>,
    ) -> Var<'t, T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        Var::from_op(op, &[self, other], value, move |g, need| {
            let ties = || a.eq_mask(&b).mul_scalar(T::from_f64_lossy(0.5));
            vec![
                need[0].then(|| g.mul(&wins(&a, &b).add(&ties())).sum_to(a.shape())),
                need[1].then(|| g.mul(&wins(&b, &a).add(&ties())).sum_to(b.shape())),
            ]
        })
    }

    /// `on_true` where `cond` is non-zero, else `on_false` (all broadcast). `cond` is a
    /// constant mask; each branch gets the gradient where it was chosen.
    pub fn where_(cond: &Tensor<T>, on_true: &Var<'t, T>, on_false: &Var<'t, T>) -> Var<'t, T> {
        let (st, sf) = (on_true.shape().clone(), on_false.shape().clone());
        let value = cond.where_(on_true.value(), on_false.value());
        let chosen = constant(1.0).sub(&cond.eq_mask(&constant(0.0)));
        Var::from_op("where", &[on_true, on_false], value, move |g, need| {
            let zero = constant(0.0);
            vec![
                need[0].then(|| chosen.where_(g, &zero).sum_to(&st)),
                need[1].then(|| chosen.where_(&zero, g).sum_to(&sf)),
            ]
        })
    }

    /// `self + s`.
    pub fn add_scalar(&self, s: T) -> Var<'t, T> {
        self.unary_op("add_scalar", self.value().add_scalar(s), |g| g.clone())
    }

    /// `self * s`.
    pub fn mul_scalar(&self, s: T) -> Var<'t, T> {
        self.unary_op("mul_scalar", self.value().mul_scalar(s), move |g| {
            g.mul_scalar(s)
        })
    }

    /// `-self`.
    pub fn neg(&self) -> Var<'t, T> {
        self.unary_op("neg", self.value().neg(), |g| g.neg())
    }

    /// `e^self`.
    pub fn exp(&self) -> Var<'t, T> {
        let out = self.value().exp();
        let saved = out.clone();
        self.unary_op("exp", out, move |g| g.mul(&saved))
    }

    /// Natural logarithm.
    pub fn log(&self) -> Var<'t, T> {
        let x = self.value().clone();
        self.unary_op("log", x.log(), move |g| g.div(&x))
    }

    /// Square root.
    pub fn sqrt(&self) -> Var<'t, T> {
        let out = self.value().sqrt();
        let saved = out.clone();
        self.unary_op("sqrt", out, move |g| {
            g.div(&saved.mul_scalar(T::from_f64_lossy(2.0)))
        })
    }

    /// Absolute value; the subgradient at 0 is 0, as PyTorch.
    pub fn abs(&self) -> Var<'t, T> {
        let x = self.value().clone();
        self.unary_op("abs", x.abs(), move |g| g.mul(&x.sign()))
    }

    /// Sign (-1, 0, 1); its gradient is 0 everywhere, as PyTorch.
    pub fn sign(&self) -> Var<'t, T> {
        let shape = self.shape().clone();
        self.unary_op("sign", self.value().sign(), move |g| {
            Tensor::zeros_on(shape.clone(), g.device())
        })
    }

    /// `max(x, 0)`; the subgradient at 0 is 0, as PyTorch.
    pub fn relu(&self) -> Var<'t, T> {
        let x = self.value().clone();
        self.unary_op("relu", x.relu(), move |g| g.relu_grad(&x))
    }

    /// `x * x`.
    pub fn square(&self) -> Var<'t, T> {
        let x = self.value().clone();
        self.unary_op("square", x.square(), move |g| {
            g.mul(&x).mul_scalar(T::from_f64_lossy(2.0))
        })
    }

    /// `x^p` for a scalar exponent.
    pub fn powf(&self, p: T) -> Var<'t, T> {
        let x = self.value().clone();
        self.unary_op("powf", x.powf(p), move |g| {
            g.mul(&x.powf(p - T::one()).mul_scalar(p))
        })
    }

    /// Clamps into `[min, max]`; the gradient passes where `min <= x <= max` (bounds included),
    /// as PyTorch.
    pub fn clamp(&self, min: T, max: T) -> Var<'t, T> {
        let x = self.value().clone();
        self.unary_op("clamp", x.clamp(min, max), move |g| {
            let inside = x.ge(&Tensor::scalar(min)).mul(&x.le(&Tensor::scalar(max)));
            g.mul(&inside)
        })
    }
}
