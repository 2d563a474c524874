//! Seeded random tensors: [`Rng`]'s draws on any device, and their CPU body.
//!
//! Element `i` of a draw is a function of the generator's key and the counter `offset + i`
//! (see [`crate::rng`]), so every device and every thread count gives the same numbers.

use crate::backend::{BackendOps, Draw};
use crate::device::Device;
use crate::element::Element;
use crate::parallel::{GRAIN, for_each_chunk_mut};
use crate::rng::Rng;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// 2^-24: turns the top 24 bits of a word into a float in [0, 1) exact in f32 and f64.
const UNIT: f64 = 1.0 / 16_777_216.0;

impl Rng {
    /// Uniform on `[low, high)`.
    pub fn uniform<T: Element>(
        &mut self,
        shape: impl Into<Shape>,
        low: f64,
        high: f64,
    ) -> Tensor<T> {
        self.uniform_on(Device::Cpu, shape, low, high)
    }

    /// Normal with the given mean and standard deviation (Box-Muller).
    pub fn normal<T: Element>(
        &mut self,
        shape: impl Into<Shape>,
        mean: f64,
        std: f64,
    ) -> Tensor<T> {
        self.normal_on(Device::Cpu, shape, mean, std)
    }

    /// -1 or +1 with equal probability.
    pub fn rademacher<T: Element>(&mut self, shape: impl Into<Shape>) -> Tensor<T> {
        self.rademacher_on(Device::Cpu, shape)
    }

    /// 1 with probability `p`, else 0.
    pub fn bernoulli<T: Element>(&mut self, shape: impl Into<Shape>, p: f64) -> Tensor<T> {
        self.bernoulli_on(Device::Cpu, shape, p)
    }

    /// [`Rng::uniform`] drawn on `device` (the same numbers on every device).
    pub fn uniform_on<T: Element>(
        &mut self,
        device: Device,
        shape: impl Into<Shape>,
        low: f64,
        high: f64,
    ) -> Tensor<T> {
        self.draw_on(device, shape.into(), Draw::Uniform { low, high })
    }

    /// [`Rng::normal`] drawn on `device`.
    pub fn normal_on<T: Element>(
        &mut self,
        device: Device,
        shape: impl Into<Shape>,
        mean: f64,
        std: f64,
    ) -> Tensor<T> {
        self.draw_on(device, shape.into(), Draw::Normal { mean, std })
    }

    /// [`Rng::rademacher`] drawn on `device`.
    pub fn rademacher_on<T: Element>(
        &mut self,
        device: Device,
        shape: impl Into<Shape>,
    ) -> Tensor<T> {
        self.draw_on(device, shape.into(), Draw::Rademacher)
    }

    /// [`Rng::bernoulli`] drawn on `device`.
    pub fn bernoulli_on<T: Element>(
        &mut self,
        device: Device,
        shape: impl Into<Shape>,
        p: f64,
    ) -> Tensor<T> {
        self.draw_on(device, shape.into(), Draw::Bernoulli { p })
    }

    /// `draw` on the backend of `device`.
    fn draw_on<T: Element>(&mut self, device: Device, shape: Shape, draw: Draw) -> Tensor<T> {
        match device {
            Device::Cpu => T::Cpu::draw(device, self, shape, draw),
            _ => Tensor::from_gpu_storage(T::Gpu::draw(device, self, shape, draw)),
        }
    }

    /// The CPU body of every draw.
    pub(crate) fn draw_impl<T: Element>(&mut self, shape: Shape, draw: Draw) -> Tensor<T> {
        match draw {
            Draw::Uniform { low, high } => {
                self.fill(shape, |w| low + (high - low) * f64::from(w[0] >> 8) * UNIT)
            }
            Draw::Normal { mean, std } => self.fill(shape, |w| {
                let u1 = (f64::from(w[1] >> 8) + 1.0) * UNIT; // (0, 1]: log is finite
                let u2 = f64::from(w[2] >> 8) * UNIT;
                mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            }),
            Draw::Rademacher => self.fill(shape, |w| if w[3] & 1 == 1 { 1.0 } else { -1.0 }),
            Draw::Bernoulli { p } => self.fill(shape, |w| {
                if f64::from(w[0] >> 8) * UNIT < p {
                    1.0
                } else {
                    0.0
                }
            }),
        }
    }

    /// A tensor whose element `i` is `f(words(start + i))`, filled in parallel.
    fn fill<T: Element>(
        &mut self,
        shape: Shape,
        f: impl Fn([u32; 4]) -> f64 + Sync + Send,
    ) -> Tensor<T> {
        let start = self.advance(shape.numel());
        let key = self.key();
        let mut out = vec![T::zero(); shape.numel()];
        for_each_chunk_mut(&mut out, GRAIN, |first, chunk| {
            for (j, v) in chunk.iter_mut().enumerate() {
                *v = T::from_f64_lossy(f(Rng::words(key, start + (first + j) as u64)));
            }
        });
        Tensor::from_vec(out, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_continue_the_stream() {
        let mut whole = Rng::new(7);
        let all: Tensor<f64> = whole.uniform([10], 0.0, 1.0);
        let mut split = Rng::new(7);
        let a: Tensor<f64> = split.uniform([4], 0.0, 1.0);
        let b: Tensor<f64> = split.uniform([6], 0.0, 1.0);
        assert_eq!(&all.data()[..4], a.data());
        assert_eq!(&all.data()[4..], b.data());
    }

    #[test]
    fn same_numbers_in_f32_and_f64() {
        let a: Tensor<f32> = Rng::new(3).uniform([100], 0.0, 1.0);
        let b: Tensor<f64> = Rng::new(3).uniform([100], 0.0, 1.0);
        for (x, y) in a.data().iter().zip(b.data()) {
            assert_eq!(f64::from(*x), *y);
        }
    }

    #[test]
    fn moments_are_right() {
        let n = 200_000;
        let u: Tensor<f64> = Rng::new(1).uniform([n], -1.0, 3.0);
        let z: Tensor<f64> = Rng::new(2).normal([n], 1.0, 2.0);
        let r: Tensor<f64> = Rng::new(3).rademacher([n]);
        let b: Tensor<f64> = Rng::new(4).bernoulli([n], 0.25);
        let mean = |t: &Tensor<f64>| t.data().iter().sum::<f64>() / n as f64;
        let var = |t: &Tensor<f64>| {
            let m = mean(t);
            t.data().iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n as f64
        };
        assert!((mean(&u) - 1.0).abs() < 0.02 && (var(&u) - 16.0 / 12.0).abs() < 0.02);
        assert!((mean(&z) - 1.0).abs() < 0.02 && (var(&z) - 4.0).abs() < 0.05);
        assert!(mean(&r).abs() < 0.01 && r.data().iter().all(|v| v.abs() == 1.0));
        assert!((mean(&b) - 0.25).abs() < 0.01);
    }
}
