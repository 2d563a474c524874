//! A counter-based random generator (Philox4x32-10) and seeded random tensors.
//!
//! Element `i` of a draw depends only on the key (the seed) and the counter `offset + i`, never
//! on which thread computes it, so a seed gives the same numbers at any thread count, and a GPU
//! kernel running the same arithmetic produces them too. The generator's whole state is two
//! integers, which makes resuming a run exact.

use crate::cuda::{Gpu, GpuError, GpuTensor};
use crate::device::Device;
use crate::element::Element;
use crate::parallel::{GRAIN, for_each_chunk_mut};
use crate::shape::Shape;
use crate::tensor::Tensor;

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;
/// 2^-24: turns the top 24 bits of a word into a float in [0, 1) exact in f32 and f64.
const UNIT: f64 = 1.0 / 16_777_216.0;

/// Philox4x32 with 10 rounds: four 32-bit random words from a 128-bit counter and a 64-bit key.
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        }
        let p0 = u64::from(PHILOX_M0) * u64::from(c[0]);
        let p1 = u64::from(PHILOX_M1) * u64::from(c[2]);
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// A seeded stream of random numbers: a key and a position in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    seed: u64,
    offset: u64,
}

impl Rng {
    /// A generator at the start of the stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { seed, offset: 0 }
    }

    /// Rebuilds a generator from [`Rng::state`], for exact resume.
    pub fn from_state(seed: u64, offset: u64) -> Self {
        Rng { seed, offset }
    }

    /// `(seed, offset)`: everything needed to continue this stream later.
    pub fn state(&self) -> (u64, u64) {
        (self.seed, self.offset)
    }

    /// An independent generator for a named sub-stream (e.g. data order vs. attack starts).
    pub fn fork(&self, stream: u64) -> Rng {
        let w = philox4x32(
            [stream as u32, (stream >> 32) as u32, 0x5EED, 1],
            self.key(),
        );
        Rng::new(u64::from(w[0]) | (u64::from(w[1]) << 32))
    }

    fn key(&self) -> [u32; 2] {
        [self.seed as u32, (self.seed >> 32) as u32]
    }

    /// Words for counter `offset + i` (i relative to a draw that began at `start`).
    fn words(key: [u32; 2], at: u64) -> [u32; 4] {
        philox4x32([at as u32, (at >> 32) as u32, 0, 0], key)
    }

    /// Reserves `n` counters and returns the first.
    fn advance(&mut self, n: usize) -> u64 {
        let start = self.offset;
        self.offset += n as u64;
        start
    }

    /// A tensor whose element `i` is `f(words(start + i))`, filled in parallel.
    fn draw<T: Element>(
        &mut self,
        shape: Shape,
        f: impl Fn([u32; 4]) -> f64 + Sync + Send,
    ) -> Tensor<T> {
        let start = self.advance(shape.numel());
        let key = self.key();
        let mut out = vec![T::zero(); shape.numel()];
        for_each_chunk_mut(&mut out, GRAIN, |first, chunk| {
            for (j, v) in chunk.iter_mut().enumerate() {
                *v = T::from_f64_lossy(f(Self::words(key, start + (first + j) as u64)));
            }
        });
        Tensor::from_vec(out, shape)
    }

    /// Uniform on `[low, high)`.
    pub fn uniform<T: Element>(
        &mut self,
        shape: impl Into<Shape>,
        low: f64,
        high: f64,
    ) -> Tensor<T> {
        self.draw(shape.into(), |w| {
            low + (high - low) * f64::from(w[0] >> 8) * UNIT
        })
    }

    /// Normal with the given mean and standard deviation (Box-Muller).
    pub fn normal<T: Element>(
        &mut self,
        shape: impl Into<Shape>,
        mean: f64,
        std: f64,
    ) -> Tensor<T> {
        self.draw(shape.into(), |w| {
            let u1 = (f64::from(w[1] >> 8) + 1.0) * UNIT; // (0, 1]: log is finite
            let u2 = f64::from(w[2] >> 8) * UNIT;
            mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
    }

    /// -1 or +1 with equal probability.
    pub fn rademacher<T: Element>(&mut self, shape: impl Into<Shape>) -> Tensor<T> {
        self.draw(shape.into(), |w| if w[3] & 1 == 1 { 1.0 } else { -1.0 })
    }

    /// 1 with probability `p`, else 0.
    pub fn bernoulli<T: Element>(&mut self, shape: impl Into<Shape>, p: f64) -> Tensor<T> {
        self.draw(shape.into(), |w| {
            if f64::from(w[0] >> 8) * UNIT < p {
                1.0
            } else {
                0.0
            }
        })
    }

    /// [`Rng::uniform`] drawn on `device` (the same numbers on every device).
    pub fn uniform_on<T: Element>(
        &mut self,
        device: Device,
        shape: impl Into<Shape>,
        low: f64,
        high: f64,
    ) -> Tensor<T> {
        match gpu_of(device, "uniform_on") {
            None => self.uniform(shape, low, high),
            Some(gpu) => finish(
                "uniform_on",
                GpuTensor::uniform(&gpu, self, shape, low, high),
            ),
        }
    }

    /// [`Rng::normal`] drawn on `device`.
    pub fn normal_on<T: Element>(
        &mut self,
        device: Device,
        shape: impl Into<Shape>,
        mean: f64,
        std: f64,
    ) -> Tensor<T> {
        match gpu_of(device, "normal_on") {
            None => self.normal(shape, mean, std),
            Some(gpu) => finish("normal_on", GpuTensor::normal(&gpu, self, shape, mean, std)),
        }
    }

    /// [`Rng::rademacher`] drawn on `device`.
    pub fn rademacher_on<T: Element>(
        &mut self,
        device: Device,
        shape: impl Into<Shape>,
    ) -> Tensor<T> {
        match gpu_of(device, "rademacher_on") {
            None => self.rademacher(shape),
            Some(gpu) => finish("rademacher_on", GpuTensor::rademacher(&gpu, self, shape)),
        }
    }

    /// [`Rng::bernoulli`] drawn on `device`.
    pub fn bernoulli_on<T: Element>(
        &mut self,
        device: Device,
        shape: impl Into<Shape>,
        p: f64,
    ) -> Tensor<T> {
        match gpu_of(device, "bernoulli_on") {
            None => self.bernoulli(shape, p),
            Some(gpu) => finish("bernoulli_on", GpuTensor::bernoulli(&gpu, self, shape, p)),
        }
    }

    /// A uniformly random integer in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below: empty range");
        let w = Self::words(self.key(), self.advance(1));
        let x = u64::from(w[0]) | (u64::from(w[1]) << 32);
        ((u128::from(x) * n as u128) >> 64) as usize
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<I>(&mut self, items: &mut [I]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// The GPU behind `device` (`None` for the CPU); a device that cannot be opened panics, since the
/// caller already holds tensors there.
fn gpu_of(device: Device, op: &str) -> Option<Gpu> {
    device
        .gpu()
        .unwrap_or_else(|e| panic!("{op}({device}): {e}"))
}

/// A GPU draw as a tensor of the caller's element type (f32: the only type a GPU holds).
fn finish<T: Element>(op: &str, drawn: Result<GpuTensor<f32>, GpuError>) -> Tensor<T> {
    crate::ops::on_gpu::done(op, drawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_the_random123_known_answer() {
        // Known-answer vector of Random123's kat_vectors for philox4x32_10.
        assert_eq!(
            philox4x32([0, 0, 0, 0], [0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32([0xffff_ffff; 4], [0xffff_ffff; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
    }

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
