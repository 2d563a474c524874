//! Stochastic gradient descent with momentum, dampening, Nesterov and coupled weight decay,
//! exactly as `torch.optim.SGD`.
//!
//! For each parameter `p` with gradient `g` (PyTorch's `_single_tensor_sgd`):
//!
//! ```text
//! d = g + weight_decay * p                    (if weight_decay != 0)
//! if momentum != 0:
//!     buf = d                                 (first step of this parameter)
//!     buf = momentum * buf + (1 - dampening) * d   (later steps)
//!     d = d + momentum * buf   if nesterov   else   d = buf
//! p = p - lr * d
//! ```

use std::collections::BTreeMap;
use tensor::ops::optim::SgdStep;

use tensor::{Element, Tensor};

use super::{OptimError, Optimizer, OptimizerState};
use crate::module::{EntryMut, Module, ParamGrads};

/// The prefix of SGD's state buffers: `momentum.<parameter name>`.
const MOMENTUM: &str = "momentum.";

/// The hyper-parameters of `torch.optim.SGD(params, lr, momentum, dampening, weight_decay,
/// nesterov)`; [`SgdConfig::new`] gives PyTorch's defaults for everything but `lr`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: plain SGD, no buffers).
    pub momentum: f64,
    /// Dampening of the gradient's share in the momentum buffer.
    pub dampening: f64,
    /// Coupled L2 weight decay, added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
    pub nesterov: bool,
}

impl SgdConfig {
    /// `lr` with no momentum, dampening, weight decay or Nesterov.
    pub fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// The checks of `torch.optim.SGD.__init__`.
    fn validate(&self) -> Result<(), OptimError> {
        let bad = |reason: String| {
            Err(OptimError::Setting {
                optimizer: "SGD",
                reason,
            })
        };
        // `is_nan() || x < 0` so that NaN is refused too.
        if self.lr.is_nan() || self.lr < 0.0 {
            return bad(format!("learning rate {} must be >= 0", self.lr));
        }
        if self.momentum.is_nan() || self.momentum < 0.0 {
            return bad(format!("momentum {} must be >= 0", self.momentum));
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return bad(format!("weight decay {} must be >= 0", self.weight_decay));
        }
        if !self.dampening.is_finite() {
            return bad(format!("dampening {} must be finite", self.dampening));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return bad(format!(
                "Nesterov momentum requires momentum > 0 and dampening 0 (got momentum {}, \
                 dampening {})",
                self.momentum, self.dampening
            ));
        }
        Ok(())
    }
}

/// `torch.optim.SGD`, with momentum buffers keyed by parameter `state_dict` name.
#[derive(Clone, Debug)]
pub struct Sgd<T: Element> {
    config: SgdConfig,
    step: u64,
    momentum: BTreeMap<String, Tensor<T>>,
}

impl<T: Element> Sgd<T> {
    /// An optimiser with no momentum buffers yet; refuses the settings PyTorch refuses.
    pub fn new(config: SgdConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Sgd {
            config,
            step: 0,
            momentum: BTreeMap::new(),
        })
    }

    /// The hyper-parameters (with the current learning rate).
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

impl<T: Element> Optimizer<T> for Sgd<T> {
    fn step(&mut self, model: &mut dyn Module<T>, grads: &ParamGrads<T>) {
        let c = self.config;
        let step = SgdStep {
            lr: c.lr,
            momentum: c.momentum,
            dampening: c.dampening,
            weight_decay: c.weight_decay,
            nesterov: c.nesterov,
        };
        let buffers = &mut self.momentum;
        model.visit_mut("", &mut |name, entry| {
            let EntryMut::Param(param) = entry else {
                return;
            };
            let Some(grad) = grads.get(&param.id()) else {
                return;
            };
            let p = param.value_mut();
            assert_eq!(
                grad.shape(),
                p.shape(),
                "SGD step: the gradient of '{name}' has shape {:?}, the parameter {:?}",
                grad.shape(),
                p.shape()
            );
            let key = format!("{MOMENTUM}{name}");
            let mut buf = buffers.remove(&key).map(|b| super::beside(b, p));
            p.sgd_step(grad, &mut buf, &step);
            if let Some(buf) = buf {
                buffers.insert(key, buf);
            }
        });
        self.step += 1;
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState {
            step: self.step,
            buffers: self.momentum.clone(),
        }
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimError> {
        if let Some(name) = state.buffers.keys().find(|k| !k.starts_with(MOMENTUM)) {
            return Err(OptimError::UnknownBuffer {
                optimizer: "SGD",
                name: name.clone(),
            });
        }
        self.step = state.step;
        self.momentum = state.buffers;
        Ok(())
    }
}
