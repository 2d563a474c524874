//! Seeded random tensors: `uniform` element by element against Philox words computed here, the
//! ranges of `uniform`, `normal`, `rademacher` and `bernoulli`, determinism (the same seed or
//! saved state gives the same numbers), and the same numbers at any rayon thread count, as
//! proptest properties on the CPU.
//!
//! On every device (`device_test!`: cpu, sim, cuda), the `*_on` draws against the formulas on
//! Philox words written here, for several seeds (64-bit keys) and stream offsets (one just below
//! 2^32, so the counter's carry into its high word counts), sizes that are not multiples of the
//! GPU's block, and draws on the CPU and on the device interleaved on one generator: uniform,
//! rademacher and bernoulli bit for bit, normal (whose GPU kernel has its own ln and cos)
//! within 8 ulp; the generator's state after each draw.

mod common;

use common::device::{back, device_test};
use common::{config, dims};
use proptest::prelude::*;
use tensor::rng::philox4x32;
use tensor::{Device, Rng, Tensor};

/// 2^-24: the top 24 bits of a random word as a fraction of 1.
const UNIT: f64 = 1.0 / 16_777_216.0;

/// Elements `start..start + n` of a draw from the stream for `seed`: element `i` is `f` of the
/// four Philox words for counter `i`, keyed by the seed.
fn reference_draw(seed: u64, start: u64, n: usize, f: impl Fn([u32; 4]) -> f64) -> Vec<f64> {
    let key = [seed as u32, (seed >> 32) as u32];
    (start..start + n as u64)
        .map(|i| f(philox4x32([i as u32, (i >> 32) as u32, 0, 0], key)))
        .collect()
}

/// Uniform on `[low, high)`: the top 24 bits of the first word as a fraction.
fn uniform(low: f64, high: f64) -> impl Fn([u32; 4]) -> f64 {
    move |w| low + (high - low) * f64::from(w[0] >> 8) * UNIT
}

/// Elements `start..start + n` of the uniform stream for `seed`.
fn reference_uniform(seed: u64, start: u64, n: usize, low: f64, high: f64) -> Vec<f64> {
    reference_draw(seed, start, n, uniform(low, high))
}

/// Normal by Box-Muller: radius from the second word (in (0, 1], so its log is finite), angle
/// from the third.
fn normal(mean: f64, std: f64) -> impl Fn([u32; 4]) -> f64 {
    move |w| {
        let u1 = (f64::from(w[1] >> 8) + 1.0) * UNIT;
        let u2 = f64::from(w[2] >> 8) * UNIT;
        mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// -1 or 1 by the low bit of the fourth word.
fn rademacher(w: [u32; 4]) -> f64 {
    if w[3] & 1 == 1 { 1.0 } else { -1.0 }
}

/// 1 when the first word's fraction is below `p`.
fn bernoulli(p: f64) -> impl Fn([u32; 4]) -> f64 {
    move |w| f64::from(u8::from(f64::from(w[0] >> 8) * UNIT < p))
}

/// The elements of one draw of each kind, in f64.
fn draw_all(rng: &mut Rng, n: usize) -> Vec<Vec<f64>> {
    let draws: [Tensor<f64>; 4] = [
        rng.uniform([n], -2.0, 3.0),
        rng.normal([n], 1.0, 2.0),
        rng.rademacher([n]),
        rng.bernoulli([n], 0.3),
    ];
    draws.iter().map(Tensor::to_vec).collect()
}

proptest! {
    #![proptest_config(config(256))]

    /// A second draw continues the stream where the first one stopped.
    #[test]
    fn uniform_follows_the_philox_stream(
        seed: u64,
        (first, n) in (0..50usize, 0..200usize),
        low in -5.0..5.0f64,
        width in 0.1..10.0f64,
    ) {
        let mut rng = Rng::new(seed);
        let _: Tensor<f64> = rng.uniform([first], 0.0, 1.0);
        let got: Tensor<f64> = rng.uniform([n], low, low + width);
        prop_assert_eq!(got.to_vec(), reference_uniform(seed, first as u64, n, low, low + width));
        prop_assert_eq!(rng.state(), (seed, (first + n) as u64));
    }

    #[test]
    fn draws_stay_in_range(seed: u64, d in dims(0..=3, 6), low in -5.0..5.0f64, p in 0.0..1.0f64) {
        let mut rng = Rng::new(seed);
        let u: Tensor<f64> = rng.uniform(d.clone(), low, low + 1.0);
        prop_assert!(u.data().iter().all(|&v| low <= v && v < low + 1.0));
        let z: Tensor<f32> = rng.normal(d.clone(), 0.0, 1.0);
        prop_assert!(!z.has_non_finite());
        let r: Tensor<f64> = rng.rademacher(d.clone());
        prop_assert!(r.data().iter().all(|&v| v == 1.0 || v == -1.0));
        let b: Tensor<f64> = rng.bernoulli(d.clone(), p);
        prop_assert!(b.data().iter().all(|&v| v == 0.0 || v == 1.0));
        for t in [&u, &r, &b] {
            prop_assert_eq!(t.dims(), &d[..]);
        }
    }

    /// Rebuilding a generator from its state, or from the same seed, repeats the numbers.
    #[test]
    fn seeds_and_states_reproduce_draws(seed: u64, n in 1..100usize) {
        let mut a = Rng::new(seed);
        let mut b = Rng::new(seed);
        prop_assert_eq!(draw_all(&mut a, n), draw_all(&mut b, n));
        let mut resumed = Rng::from_state(a.state().0, a.state().1);
        prop_assert_eq!(draw_all(&mut a, n), draw_all(&mut resumed, n));
    }

    #[test]
    fn below_and_shuffle(seed: u64, n in 1..40usize) {
        let mut rng = Rng::new(seed);
        prop_assert!(rng.below(n) < n);
        let mut items: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut items);
        items.sort_unstable();
        prop_assert_eq!(items, (0..n).collect::<Vec<_>>());
    }
}

#[test]
fn different_seeds_and_forks_give_different_numbers() {
    let draw = |mut rng: Rng| -> Tensor<f64> { rng.uniform([16], 0.0, 1.0) };
    let parent = Rng::new(5);
    let numbers = [
        draw(Rng::new(5)),
        draw(Rng::new(6)),
        draw(parent.fork(0)),
        draw(parent.fork(1)),
    ];
    for i in 0..numbers.len() {
        for j in 0..i {
            assert_ne!(numbers[i].data(), numbers[j].data(), "draws {i} and {j}");
        }
    }
    assert_eq!(draw(parent.fork(1)).data(), numbers[3].data());
}

#[test]
fn bernoulli_extremes_are_constant() {
    let mut rng = Rng::new(9);
    let never: Tensor<f64> = rng.bernoulli([1000], 0.0);
    let always: Tensor<f64> = rng.bernoulli([1000], 1.0);
    assert!(never.data().iter().all(|&v| v == 0.0));
    assert!(always.data().iter().all(|&v| v == 1.0));
}

/// Over 2 * 2^15 elements, so with two threads the draw is split across them.
#[test]
fn same_numbers_at_any_thread_count() {
    let n = 100_000;
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut rng = Rng::new(42);
            let single: Tensor<f32> = rng.uniform([n], 0.0, 1.0);
            (single.to_f64_vec(), draw_all(&mut rng, n))
        })
    };
    let (one_thread, two_threads) = (run(1), run(2));
    assert!(
        one_thread == two_threads,
        "draws differ between 1 and 2 threads"
    );
    assert_eq!(one_thread.0, reference_uniform(42, 0, n, 0.0, 1.0));
}

/// Seeds and offsets to start from: small and 64-bit keys, fresh and deep into the stream.
const STARTS: [(u64, u64); 4] = [
    (0, 0),
    (7, 12_345),
    (0xDEAD_BEEF_0123_4567, 3),
    (42, (1 << 32) - 300),
];

/// Elements per draw: several GPU blocks with a ragged last one.
const N: usize = 1_000;

/// The draw `draw` makes on `device` from generator state `start`, on the host, after checking
/// that the generator moved past exactly `n` counters.
fn drawn(
    device: Device,
    start: (u64, u64),
    n: usize,
    draw: impl Fn(&mut Rng) -> Tensor<f32>,
) -> Tensor<f32> {
    let mut rng = Rng::from_state(start.0, start.1);
    let got = back(device, &draw(&mut rng));
    assert_eq!(
        rng.state(),
        (start.0, start.1 + n as u64),
        "{start:?} on {device}: state"
    );
    got
}

/// Asserts `got` equals `want` rounded to f32, bit for bit.
#[track_caller]
fn assert_same_draw(what: &str, got: &Tensor<f32>, want: &[f64]) {
    let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
    assert!(got.data() == want, "{what}: differs from the formula");
}

fn rademacher_and_bernoulli_follow_the_words(device: Device) {
    for start in STARTS {
        let got = drawn(device, start, N, |r| r.rademacher_on(device, [N]));
        let want = reference_draw(start.0, start.1, N, rademacher);
        assert_same_draw(&format!("rademacher {start:?} on {device}"), &got, &want);
        for p in [0.0, 0.25, 0.3, 0.5, 1.0 / 3.0, 0.999, 1.0, 1.5, -0.1] {
            let got = drawn(device, start, N, |r| r.bernoulli_on(device, [20, 50], p));
            let want = reference_draw(start.0, start.1, N, bernoulli(p));
            let what = format!("bernoulli p = {p} {start:?} on {device}");
            assert_same_draw(&what, &got, &want);
        }
    }
}
device_test!(rademacher_and_bernoulli_follow_the_words);

/// Ends that are f32 values, ends that are not (an 8/255 attack radius), ends far apart.
fn uniform_follows_the_words(device: Device) {
    let ranges = [
        (0.0, 1.0),
        (-1.0, 1.0),
        (-0.25, 0.5),
        (-0.3, 0.3),
        (2.0, 3.0),
        (-8.0 / 255.0, 8.0 / 255.0),
        (1e3, 1e3 + 0.1),
        (-3.3, 1e-3),
        (-1e-7, 1e5),
    ];
    for start in STARTS {
        for (low, high) in ranges {
            let got = drawn(device, start, N, |r| r.uniform_on(device, [N], low, high));
            let want = reference_uniform(start.0, start.1, N, low, high);
            let what = format!("uniform [{low}, {high}) {start:?} on {device}");
            assert_same_draw(&what, &got, &want);
        }
    }
}
device_test!(uniform_follows_the_words);

/// The spacing of f32 values at `x` (the size of one ulp there).
fn ulp(x: f32) -> f32 {
    let x = x.abs();
    f32::from_bits(x.to_bits() + 1) - x
}

/// The largest difference between `got` and `want` rounded to f32, in ulp of `|mean| + |w -
/// mean|` (the size of the terms the draw adds).
fn normal_ulps(got: &Tensor<f32>, want: &[f64], mean: f64) -> f32 {
    let m = mean as f32;
    got.data()
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g - w as f32).abs() / ulp(m.abs() + (w as f32 - m).abs()))
        .fold(0.0, f32::max)
}

fn normal_follows_the_words_to_a_few_ulp(device: Device) {
    for start in STARTS {
        for (mean, std) in [(0.0, 1.0), (1.0, 2.0), (-0.5, 0.01), (0.0, 0.001)] {
            let got = drawn(device, start, N, |r| r.normal_on(device, [N], mean, std));
            let want = reference_draw(start.0, start.1, N, normal(mean, std));
            let err = normal_ulps(&got, &want, mean);
            assert!(
                err <= 8.0,
                "normal({mean}, {std}) {start:?} on {device}: {err} ulp"
            );
        }
    }
}
device_test!(normal_follows_the_words_to_a_few_ulp);

/// A long stretch of the stream: the smallest u1 (the largest radius) and u2 at the quadrant
/// boundaries show up among 200k draws often enough to matter.
fn normal_covers_the_extreme_words(device: Device) {
    let n = 200_000;
    let got = drawn(device, (3, 0), n, |r| r.normal_on(device, [n], 0.0, 1.0));
    let err = normal_ulps(&got, &reference_draw(3, 0, n, normal(0.0, 1.0)), 0.0);
    assert!(err <= 8.0, "normal over 200k draws on {device}: {err} ulp");
}
device_test!(normal_covers_the_extreme_words);

/// Draws on the CPU and on `device` interleaved on one generator continue one stream.
fn cpu_and_device_draws_interleave(device: Device) {
    let mut rng = Rng::new(99);
    let a: Tensor<f32> = rng.uniform([300], 0.0, 1.0);
    let b = back(device, &rng.rademacher_on::<f32>(device, [257]));
    let c = back(device, &rng.bernoulli_on::<f32>(device, [3], 0.5));
    let e = back(device, &rng.uniform_on::<f32>(device, [0], 0.0, 1.0));
    let d: Tensor<f32> = rng.uniform([10], -1.0, 1.0);
    assert_same_draw(
        "uniform first",
        &a,
        &reference_uniform(99, 0, 300, 0.0, 1.0),
    );
    assert_same_draw("rademacher", &b, &reference_draw(99, 300, 257, rademacher));
    assert_same_draw("bernoulli", &c, &reference_draw(99, 557, 3, bernoulli(0.5)));
    assert_eq!(e.numel(), 0);
    assert_same_draw(
        "uniform last",
        &d,
        &reference_uniform(99, 560, 10, -1.0, 1.0),
    );
    assert_eq!(rng.state(), (99, 570), "interleaved on {device}");
}
device_test!(cpu_and_device_draws_interleave);
