//! What the loader fuzz tests share (`nn/tests/fuzz_checkpoint.rs` and, by path,
//! `mart/tests/fuzz_idx.rs` and `mart/tests/fuzz_cifar.rs`): a counting global allocator that
//! measures the largest single allocation and the peak of live bytes while a loader runs, and
//! byte-level mutations of a file.
//!
//! Case counts: [`config`] is proptest's default configuration, whose `cases` (256) the
//! `PROPTEST_CASES` environment variable overrides; the deep run is
//! `PROPTEST_CASES=10000 cargo test --release -p mart --test fuzz_idx --test fuzz_cifar` and
//! `PROPTEST_CASES=10000 cargo test --release -p nn --test fuzz_checkpoint`.

#![allow(dead_code)] // each test binary uses its own part of the kit

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use proptest::sample::Index;

/// Bytes any load may allocate whatever its input: paths and error messages, and the gzip
/// decoder's state (miniz_oxide's inflater, about 43 KiB with its 32 KiB window, and a 32 KiB
/// read buffer; measured: 43 KiB for the largest allocation, 76 KiB for the peak).
pub const SLACK: usize = 128 * 1024;

/// The system allocator, counting what the current thread allocates. Counters are per thread,
/// so properties running side by side on the test harness's threads do not see each other's
/// allocations (the loaders run on the calling thread: none of them uses rayon).
pub struct Counting;

thread_local! {
    /// Bytes allocated and not yet freed by this thread (frees of memory another thread
    /// allocated may make it negative).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The largest value of `LIVE` since the last [`measure`] began.
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// The largest single allocation (or reallocation's new size) since then.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// Records an allocation of `size` bytes, or `size` more bytes after a reallocation.
fn grow(size: usize, delta: isize) {
    // `try_with`: the thread-locals may be gone while a thread is torn down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + delta);
        let _ = PEAK.try_with(|p| p.set(p.get().max(live.get())));
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size(), layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size(), layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|live| live.set(live.get() - layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size, new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What a closure allocated on this thread.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// The largest single allocation, in bytes.
    pub largest: usize,
    /// The most bytes live at once beyond those live when it began.
    pub peak: usize,
}

/// Runs `f` and reports what it allocated (its result included, which is dropped afterwards).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    LARGEST.with(|l| l.set(0));
    let result = f();
    let usage = Usage {
        largest: LARGEST.with(Cell::get),
        peak: (PEAK.with(Cell::get) - base).max(0) as usize,
    };
    (result, usage)
}

/// The configuration of every fuzz property: proptest's default, so that `PROPTEST_CASES`
/// sets the number of cases (256 when it is unset).
pub fn config() -> ProptestConfig {
    ProptestConfig::default()
}

/// One change to a file's bytes. Positions are [`Index`]es, resolved against the length of
/// the file at the moment the change is applied.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Keep only the bytes before this position (a strict prefix).
    Truncate(Index),
    /// XOR the byte at this position with a nonzero mask.
    Flip(Index, u8),
    /// Insert bytes before this position.
    Insert(Index, Vec<u8>),
    /// Remove up to this many bytes from this position on.
    Remove(Index, usize),
    /// Add bytes at the end.
    Append(Vec<u8>),
}

impl Mutation {
    /// Applies the change to `bytes`; a position in an empty file changes nothing.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let n = bytes.len();
        match self {
            Mutation::Truncate(at) if n > 0 => bytes.truncate(at.index(n)),
            Mutation::Flip(at, mask) if n > 0 => bytes[at.index(n)] ^= mask,
            Mutation::Insert(at, new) => {
                let at = at.index(n + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Remove(at, len) if n > 0 => {
                let at = at.index(n);
                bytes.drain(at..(at + len).min(n));
            }
            Mutation::Append(new) => bytes.extend_from_slice(new),
            _ => {}
        }
    }
}

/// Any byte-level [`Mutation`], flips (the commonest damage) weighted up.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = proptest::collection::vec(any::<u8>(), 1..64);
    prop_oneof![
        1 => any::<Index>().prop_map(Mutation::Truncate),
        4 => (any::<Index>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        1 => (any::<Index>(), bytes.clone()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(at, len)| Mutation::Remove(at, len)),
        1 => bytes.prop_map(Mutation::Append),
    ]
}

/// A u32 from the values a forged size field is made of: zero, one, small, the largest and
/// near it, powers of two, anything.
pub fn forged_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        0..64u32,
        Just(u32::MAX),
        Just(u32::MAX - 1),
        (0..32u32).prop_map(|k| 1 << k),
        any::<u32>(),
    ]
}

/// A u64 from the values a forged size or offset field is made of, as [`forged_u32`], up to
/// 2^64 - 1.
pub fn forged_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        0..4096u64,
        Just(u64::MAX),
        Just(u64::MAX - 7),
        Just(i64::MAX as u64),
        (0..64u32).prop_map(|k| 1u64 << k),
        99_999_990..100_000_010u64,
        any::<u64>(),
    ]
}
