//! Adam, exactly as `torch.optim.Adam` (without amsgrad), with coupled L2 weight decay.
//!
//! For each parameter `p` with gradient `g` at step `t` (from 1; PyTorch's `_single_tensor_adam`):
//!
//! ```text
//! g = g + weight_decay * p                      (if weight_decay != 0)
//! m = beta1 * m + (1 - beta1) * g
//! v = beta2 * v + (1 - beta2) * g * g
//! p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//! ```
//! Every parameter steps together, so one step count serves them all.

use std::collections::BTreeMap;
use tensor::ops::optim::AdamStep;

use tensor::{Element, Tensor};

use super::{OptimError, Optimizer, OptimizerState};
use crate::module::{EntryMut, Module, ParamGrads};

/// The prefix of the first-moment buffers: `exp_avg.<parameter name>`.
const EXP_AVG: &str = "exp_avg.";
/// The prefix of the second-moment buffers: `exp_avg_sq.<parameter name>`.
const EXP_AVG_SQ: &str = "exp_avg_sq.";

/// The hyper-parameters of `torch.optim.Adam(params, lr, betas, eps, weight_decay)`;
/// [`AdamConfig::new`] gives PyTorch's defaults for everything but `lr`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment (`betas[0]`).
    pub beta1: f64,
    /// Decay of the second moment (`betas[1]`).
    pub beta2: f64,
    /// Added to the denominator for stability.
    pub eps: f64,
    /// Coupled L2 weight decay, added to the gradient.
    pub weight_decay: f64,
}

impl AdamConfig {
    /// `lr` with betas (0.9, 0.999), eps 1e-8 and no weight decay.
    pub fn new(lr: f64) -> Self {
        AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// The checks of `torch.optim.Adam.__init__`.
    fn validate(&self) -> Result<(), OptimError> {
        let ok = self.lr >= 0.0
            && self.eps >= 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.weight_decay >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(OptimError::Setting {
                optimizer: "Adam",
                reason: format!(
                    "need lr >= 0, eps >= 0, betas in [0, 1) and weight decay >= 0 (got {self:?})"
                ),
            })
        }
    }
}

/// `torch.optim.Adam`, with moment buffers keyed by parameter `state_dict` name.
#[derive(Clone, Debug)]
pub struct Adam<T: Element> {
    config: AdamConfig,
    step: u64,
    buffers: BTreeMap<String, Tensor<T>>,
}

impl<T: Element> Adam<T> {
    /// An optimiser with empty moments; refuses the settings PyTorch refuses.
    pub fn new(config: AdamConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Adam {
            config,
            step: 0,
            buffers: BTreeMap::new(),
        })
    }
}

impl<T: Element> Optimizer<T> for Adam<T> {
    fn step(&mut self, model: &mut dyn Module<T>, grads: &ParamGrads<T>) {
        let c = self.config;
        let step = AdamStep {
            lr: c.lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            weight_decay: c.weight_decay,
        };
        let t = self.step + 1;
        let buffers = &mut self.buffers;
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
                "Adam step: the gradient of '{name}' has shape {:?}, the parameter {:?}",
                grad.shape(),
                p.shape()
            );
            let (m_key, v_key) = (format!("{EXP_AVG}{name}"), format!("{EXP_AVG_SQ}{name}"));
            let mut moments = match (buffers.remove(&m_key), buffers.remove(&v_key)) {
                (Some(m), Some(v)) => Some((super::beside(m, p), super::beside(v, p))),
                _ => None,
            };
            p.adam_step(grad, &mut moments, t, &step);
            let (m, v) = moments.expect("adam_step leaves moments");
            buffers.insert(m_key, m);
            buffers.insert(v_key, v);
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
            buffers: self.buffers.clone(),
        }
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimError> {
        let known = |k: &String| k.starts_with(EXP_AVG) || k.starts_with(EXP_AVG_SQ);
        if let Some(name) = state.buffers.keys().find(|k| !known(k)) {
            return Err(OptimError::UnknownBuffer {
                optimizer: "Adam",
                name: name.clone(),
            });
        }
        self.step = state.step;
        self.buffers = state.buffers;
        Ok(())
    }
}
