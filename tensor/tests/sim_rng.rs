//! GPU random draws against `tensor::Rng` on the CPU, on every device of
//! `gpu_common::devices()`, for several seeds (64-bit keys) and stream offsets (one just below
//! 2^32, so the counter's carry into its high word is exercised), sizes that are not multiples
//! of the block size, and CPU and GPU draws interleaved on one generator:
//! - rademacher and bernoulli: bit-identical;
//! - uniform: bit-identical, on ranges with f32 ends and with f64 ends (e.g. 8/255);
//! - normal (Box-Muller with the kernel's own ln and cos): within a few ulp of the CPU's f64
//!   computation, measured against `|mean| + |std * z|`;
//! - the generator's state after each draw equals the CPU's.

mod gpu_common;

use gpu_common::{devices, down};
use tensor::cuda::{Gpu, GpuTensor};
use tensor::{Rng, Tensor};

/// Seeds and offsets to start from: small and 64-bit keys, fresh and deep into the stream.
const STARTS: [(u64, u64); 4] = [
    (0, 0),
    (7, 12_345),
    (0xDEAD_BEEF_0123_4567, 3),
    (42, (1 << 32) - 300),
];

/// Elements per draw: several blocks with a ragged last one.
const N: usize = 1_000;

/// Asserts both generators are at the same point of the same stream.
fn assert_same_state(what: &str, gpu_rng: &Rng, cpu_rng: &Rng) {
    assert_eq!(
        gpu_rng.state(),
        cpu_rng.state(),
        "{what}: generator states differ"
    );
}

/// The spacing of f32 values at `x` (the size of one ulp there).
fn ulp(x: f32) -> f32 {
    let x = x.abs();
    f32::from_bits(x.to_bits() + 1) - x
}

/// The largest difference between `got` and `want`, in ulp of `scale(want)`, over the elements.
fn ulps(got: &Tensor<f32>, want: &Tensor<f32>, scale: impl Fn(f32) -> f32) -> f32 {
    assert_eq!(got.dims(), want.dims());
    got.data()
        .iter()
        .zip(want.data())
        .map(|(&g, &w)| (g - w).abs() / ulp(scale(w)))
        .fold(0.0, f32::max)
}

/// Runs `draw` once with the GPU and once with the CPU from the same state, checking the
/// states after, and returns (gpu, cpu) values.
fn both(
    gpu: &Gpu,
    start: (u64, u64),
    gpu_draw: impl Fn(&mut Rng) -> GpuTensor<f32>,
    cpu_draw: impl Fn(&mut Rng) -> Tensor<f32>,
) -> (Tensor<f32>, Tensor<f32>) {
    let mut g = Rng::from_state(start.0, start.1);
    let mut c = Rng::from_state(start.0, start.1);
    let got = down(&gpu_draw(&mut g));
    let want = cpu_draw(&mut c);
    assert_same_state(&format!("{start:?} on {}", gpu.name()), &g, &c);
    (got, want)
}

#[test]
fn sim_rademacher_and_bernoulli_are_bit_identical() {
    for gpu in devices() {
        for start in STARTS {
            let (got, want) = both(
                &gpu,
                start,
                |r| GpuTensor::rademacher(&gpu, r, [N]).unwrap(),
                |r| r.rademacher([N]),
            );
            assert_eq!(got.data(), want.data(), "rademacher {start:?}");
            for p in [0.0, 0.25, 0.5, 1.0 / 3.0, 0.999, 1.0, 1.5, -0.1] {
                let (got, want) = both(
                    &gpu,
                    start,
                    |r| GpuTensor::bernoulli(&gpu, r, [20, 50], p).unwrap(),
                    |r| r.bernoulli([20, 50], p),
                );
                assert_eq!(got.data(), want.data(), "bernoulli p = {p} {start:?}");
            }
        }
    }
}

#[test]
fn sim_uniform_matches_cpu() {
    for gpu in devices() {
        for start in STARTS {
            // f32 ends, ends that are not f32 values (an 8/255 attack radius), ends far apart.
            let ranges = [
                (0.0, 1.0),
                (-1.0, 1.0),
                (-0.25, 0.5),
                (2.0, 3.0),
                (-8.0 / 255.0, 8.0 / 255.0),
                (1e3, 1e3 + 0.1),
                (-3.3, 1e-3),
                (-1e-7, 1e5),
            ];
            for (low, high) in ranges {
                let (got, want) = both(
                    &gpu,
                    start,
                    |r| GpuTensor::uniform(&gpu, r, [N], low, high).unwrap(),
                    |r| r.uniform([N], low, high),
                );
                assert_eq!(got.data(), want.data(), "uniform [{low}, {high}) {start:?}");
            }
        }
    }
}

#[test]
fn sim_normal_matches_cpu_to_a_few_ulp() {
    for gpu in devices() {
        let mut worst = 0f32;
        for start in STARTS {
            for (mean, std) in [(0.0, 1.0), (1.0, 2.0), (-0.5, 0.01)] {
                let (got, want) = both(
                    &gpu,
                    start,
                    |r| GpuTensor::normal(&gpu, r, [N], mean, std).unwrap(),
                    |r| r.normal([N], mean, std),
                );
                let m = mean as f32;
                let err = ulps(&got, &want, |w| m.abs() + (w - m).abs());
                assert!(err <= 8.0, "normal({mean}, {std}) {start:?}: {err} ulp");
                worst = worst.max(err);
            }
        }
        eprintln!("normal on {}: worst error {worst} ulp", gpu.name());
    }
}

#[test]
fn sim_normal_covers_the_extreme_words() {
    // Scan a long stretch of the stream: the smallest u1 (largest radius) and u2 at the
    // quadrant boundaries show up among 200k draws often enough to matter.
    let gpu = Gpu::sim();
    let (got, want) = both(
        &gpu,
        (3, 0),
        |r| GpuTensor::normal(&gpu, r, [200_000], 0.0, 1.0).unwrap(),
        |r| r.normal([200_000], 0.0, 1.0),
    );
    let err = ulps(&got, &want, f32::abs);
    assert!(err <= 8.0, "normal over 200k draws: {err} ulp");
}

#[test]
fn sim_cpu_and_gpu_draws_interleave() {
    for gpu in devices() {
        let mut all_cpu = Rng::new(99);
        let a: Tensor<f32> = all_cpu.uniform([300], 0.0, 1.0);
        let b: Tensor<f32> = all_cpu.rademacher([257]);
        let c: Tensor<f32> = all_cpu.bernoulli([3], 0.5);
        let d: Tensor<f32> = all_cpu.uniform([10], -1.0, 1.0);

        let mut mixed = Rng::new(99);
        let a2: Tensor<f32> = mixed.uniform([300], 0.0, 1.0);
        let b2 = down(&GpuTensor::rademacher(&gpu, &mut mixed, [257]).unwrap());
        let c2 = down(&GpuTensor::bernoulli(&gpu, &mut mixed, [3], 0.5).unwrap());
        let e2 = down(&GpuTensor::uniform(&gpu, &mut mixed, [0], 0.0, 1.0).unwrap());
        let d2: Tensor<f32> = mixed.uniform([10], -1.0, 1.0);
        assert_eq!(
            (a.data(), b.data(), c.data(), d.data()),
            (a2.data(), b2.data(), c2.data(), d2.data()),
            "interleaved draws on {}",
            gpu.name()
        );
        assert_eq!(e2.numel(), 0);
        assert_same_state("interleaved", &mixed, &all_cpu);
    }
}
