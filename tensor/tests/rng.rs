//! Seeded random tensors: `uniform` element by element against Philox words computed here, the
//! ranges of `uniform`, `normal`, `rademacher` and `bernoulli`, determinism (the same seed or
//! saved state gives the same numbers), and the same numbers at any rayon thread count.

mod common;

use common::{config, dims};
use proptest::prelude::*;
use tensor::rng::philox4x32;
use tensor::{Rng, Tensor};

/// 2^-24: the top 24 bits of a random word as a fraction of 1.
const UNIT: f64 = 1.0 / 16_777_216.0;

/// Elements `start..start + n` of the uniform stream for `seed`: element `i` comes from the
/// first Philox word for counter `i`, keyed by the seed.
fn reference_uniform(seed: u64, start: u64, n: usize, low: f64, high: f64) -> Vec<f64> {
    let key = [seed as u32, (seed >> 32) as u32];
    (start..start + n as u64)
        .map(|i| {
            let word = philox4x32([i as u32, (i >> 32) as u32, 0, 0], key)[0];
            low + (high - low) * f64::from(word >> 8) * UNIT
        })
        .collect()
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
