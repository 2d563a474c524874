//! A counter-based random generator (Philox4x32-10); the random tensors it draws are in
//! `ops::random`.
//!
//! Element `i` of a draw depends only on the key (the seed) and the counter `offset + i`, never
//! on which thread computes it, so a seed gives the same numbers at any thread count, and a GPU
//! kernel running the same arithmetic produces them too. The generator's whole state is two
//! integers, which makes resuming a run exact.

pub use tensor_spec::philox::philox4x32;

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

    /// The Philox key: the seed's two words.
    pub(crate) fn key(&self) -> [u32; 2] {
        [self.seed as u32, (self.seed >> 32) as u32]
    }

    /// Words for counter `offset + i` (i relative to a draw that began at `start`).
    pub(crate) fn words(key: [u32; 2], at: u64) -> [u32; 4] {
        philox4x32([at as u32, (at >> 32) as u32, 0, 0], key)
    }

    /// Reserves `n` counters and returns the first.
    pub(crate) fn advance(&mut self, n: usize) -> u64 {
        let start = self.offset;
        self.offset += n as u64;
        start
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
