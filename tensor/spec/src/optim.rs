//! The hyper-parameters of the fused optimiser steps, which both backends run with the same
//! operation order and roundings (`torch.optim.SGD` and `torch.optim.Adam`).

/// The hyper-parameters of one SGD step, as nn's `SgdConfig` (`torch.optim.SGD`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: plain SGD, no buffer).
    pub momentum: f64,
    /// Dampening of the gradient's share in the momentum buffer.
    pub dampening: f64,
    /// Coupled L2 weight decay, added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

/// The hyper-parameters of one Adam step, as nn's `AdamConfig` (`torch.optim.Adam`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator for stability.
    pub eps: f64,
    /// Coupled L2 weight decay, added to the gradient.
    pub weight_decay: f64,
}
