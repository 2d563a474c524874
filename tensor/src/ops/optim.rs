//! Optimiser updates of one parameter, in place, on any device: the arithmetic of
//! `torch.optim.SGD` and `torch.optim.Adam`, here so that `nn`'s optimisers never touch device
//! memory. The GPU runs the fused kernels of `tensor_gpu::kernels::optim`, with the same operation
//! order and roundings as the loops below, so both devices agree bit for bit.

use crate::backend::BackendOps;
use crate::element::Element;
use crate::ops::placement::agree;
use crate::tensor::{Storage, Tensor};
pub use tensor_spec::optim::{AdamStep, SgdStep};

fn check_like<T: Element>(op: &str, what: &str, param: &Tensor<T>, other: &Tensor<T>) {
    assert_eq!(
        other.shape(),
        param.shape(),
        "{op}: the {what} has shape {:?}, the parameter {:?}",
        other.shape(),
        param.shape()
    );
    agree(op, &[param.placed(), other.placed()]);
}

impl<T: Element> Tensor<T> {
    /// One SGD step on this parameter: `d = g + wd p`; with momentum `buf = m buf + (1 -
    /// dampening) d` (`buf = d` on the first step, when `momentum_buffer` is `None`), then `d = d
    /// + m buf` (Nesterov) or `d = buf`; finally `p = p - lr d`.
    pub fn sgd_step(
        &mut self,
        grad: &Tensor<T>,
        momentum_buffer: &mut Option<Tensor<T>>,
        config: &SgdStep,
    ) {
        check_like("sgd_step", "gradient", self, grad);
        let mut param = match self.storage() {
            Storage::Cpu(_) => return T::Cpu::sgd_step(self, grad, momentum_buffer, config),
            Storage::Gpu(param) => param.clone(),
        };
        let device = self.device();
        let grad = grad.gpu_operand("sgd_step", device);
        let mut buf = (momentum_buffer.as_ref()).map(|b| b.gpu_operand("sgd_step", device));
        T::Gpu::sgd_step(&mut param, &grad, &mut buf, config);
        *self = Tensor::from_gpu_storage(param);
        *momentum_buffer = buf.map(Tensor::from_gpu_storage);
    }

    /// One Adam step (`step` counts from 1) on this parameter: `g = g + wd p`, `m = b1 m + (1 -
    /// b1) g`, `v = b2 v + (1 - b2) g^2`, `p = p - lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t)
    /// + eps)`; the moments start at zero when `moments` is `None`. The bias corrections and the
    /// `1 - beta`s are computed in f64, as PyTorch does.
    pub fn adam_step(
        &mut self,
        grad: &Tensor<T>,
        moments: &mut Option<(Tensor<T>, Tensor<T>)>,
        step: u64,
        config: &AdamStep,
    ) {
        check_like("adam_step", "gradient", self, grad);
        let mut param = match self.storage() {
            Storage::Cpu(_) => return T::Cpu::adam_step(self, grad, moments, step, config),
            Storage::Gpu(param) => param.clone(),
        };
        let device = self.device();
        let grad = grad.gpu_operand("adam_step", device);
        let mut state = moments.as_ref().map(|(m, v)| {
            (
                m.gpu_operand("adam_step", device),
                v.gpu_operand("adam_step", device),
            )
        });
        T::Gpu::adam_step(&mut param, &grad, &mut state, step, config);
        *self = Tensor::from_gpu_storage(param);
        *moments = state.map(|(m, v)| (Tensor::from_gpu_storage(m), Tensor::from_gpu_storage(v)));
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn sgd_step_impl(
        &mut self,
        grad: &Tensor<T>,
        momentum_buffer: &mut Option<Tensor<T>>,
        config: &SgdStep,
    ) {
        let c = config;
        let lr = T::from_f64_lossy(c.lr);
        let wd = T::from_f64_lossy(c.weight_decay);
        let m = T::from_f64_lossy(c.momentum);
        let keep = T::from_f64_lossy(1.0 - c.dampening);
        let mut d: Vec<T> = if c.weight_decay != 0.0 {
            grad.data()
                .iter()
                .zip(self.data())
                .map(|(&g, &p)| g + wd * p)
                .collect()
        } else {
            grad.to_vec()
        };
        if c.momentum != 0.0 {
            let buf = match momentum_buffer {
                Some(buf) => {
                    check_like("sgd_step", "momentum buffer", self, buf);
                    for (b, &d) in buf.data_mut().iter_mut().zip(&d) {
                        *b = *b * m + keep * d;
                    }
                    buf
                }
                None => momentum_buffer.insert(Tensor::from_vec(d.clone(), self.shape().clone())),
            };
            if c.nesterov {
                for (d, &b) in d.iter_mut().zip(buf.data()) {
                    *d = *d + m * b;
                }
            } else {
                d.copy_from_slice(buf.data());
            }
        }
        for (p, &d) in self.data_mut().iter_mut().zip(&d) {
            *p = *p - lr * d;
        }
    }

    pub(crate) fn adam_step_impl(
        &mut self,
        grad: &Tensor<T>,
        moments: &mut Option<(Tensor<T>, Tensor<T>)>,
        step: u64,
        config: &AdamStep,
    ) {
        assert!(step >= 1, "adam_step: steps count from 1, got {step}");
        let c = config;
        let t = step as i32;
        let step_size = T::from_f64_lossy(c.lr / (1.0 - c.beta1.powi(t)));
        let root_correction = T::from_f64_lossy((1.0 - c.beta2.powi(t)).sqrt());
        let (b1, b2) = (T::from_f64_lossy(c.beta1), T::from_f64_lossy(c.beta2));
        // 1 - beta in f64, as PyTorch passes it: in f32, 1 - 0.999f32 is 1.3e-5 off 0.001.
        let (take1, take2) = (
            T::from_f64_lossy(1.0 - c.beta1),
            T::from_f64_lossy(1.0 - c.beta2),
        );
        let (wd, eps) = (T::from_f64_lossy(c.weight_decay), T::from_f64_lossy(c.eps));
        let shape = self.shape().clone();
        let (m, v) =
            moments.get_or_insert_with(|| (Tensor::zeros(shape.clone()), Tensor::zeros(shape)));
        check_like("adam_step", "first moment", self, m);
        check_like("adam_step", "second moment", self, v);
        let (md, vd) = (m.data_mut(), v.data_mut());
        for (((p, &g), m), v) in self.data_mut().iter_mut().zip(grad.data()).zip(md).zip(vd) {
            let g = if c.weight_decay != 0.0 {
                g + wd * *p
            } else {
                g
            };
            *m = b1 * *m + take1 * g;
            *v = b2 * *v + take2 * g * g;
            *p = *p - step_size * *m / (v.sqrt() / root_correction + eps);
        }
    }
}
