//! Race detection. On hardware the threads of a launch run in an unspecified order, so two
//! threads touching the same memory word, at least one of them writing, is a race, unless a
//! barrier orders them (shared memory, same block) or they use atomics. The simulator runs
//! threads one after another, which would silently hide such a bug (the earlier thread's write
//! is always there); this check turns it into a fault instead.
//!
//! - Shared memory: between two `bar.sync`s (an epoch), per block.
//! - Global memory: over the whole launch (no barrier orders threads of different blocks).
//!   Atomics are not recorded: they are the way to share a word.
//!
//! Each 4-byte word remembers, for the current epoch, which thread last wrote it and which thread
//! read it (or that several did). An epoch number, not a reset, ages the records, so releasing a
//! barrier costs nothing.

use crate::launch::LaunchConfig;
use crate::memory::Place;
use crate::program::SHARED_BASE;

/// A reader slot meaning "more than one thread read this word in this epoch".
const MANY: u32 = u32::MAX;

/// A conflicting earlier access: the word, the other thread, and whether it "read" or "wrote".
struct Conflict {
    word: usize,
    other: u32,
    did: &'static str,
}

/// Per-word records of one memory area: (epoch, thread) of the last write and of the reads.
struct Shadow {
    writer: Vec<(u32, u32)>,
    reader: Vec<(u32, u32)>,
}

impl Shadow {
    fn new(bytes: usize) -> Self {
        let words = bytes.div_ceil(4);
        Shadow {
            writer: vec![(0, 0); words],
            reader: vec![(0, 0); words],
        }
    }

    /// Records a read of bytes `offset..offset + len` by `who` in `epoch`.
    fn read(&mut self, offset: usize, len: usize, who: u32, epoch: u32) -> Result<(), Conflict> {
        for word in offset / 4..(offset + len).div_ceil(4) {
            if let Some(other) = other_in_epoch(self.writer[word], who, epoch) {
                return Err(Conflict {
                    word,
                    other,
                    did: "wrote",
                });
            }
            let (e, reader) = self.reader[word];
            self.reader[word] = if e != epoch || reader == who {
                (epoch, who)
            } else {
                (epoch, MANY)
            };
        }
        Ok(())
    }

    /// Records a write of bytes `offset..offset + len` by `who` in `epoch`.
    fn write(&mut self, offset: usize, len: usize, who: u32, epoch: u32) -> Result<(), Conflict> {
        for word in offset / 4..(offset + len).div_ceil(4) {
            let earlier = [(self.writer[word], "wrote"), (self.reader[word], "read")];
            for (record, did) in earlier {
                if let Some(other) = other_in_epoch(record, who, epoch) {
                    return Err(Conflict { word, other, did });
                }
            }
            self.writer[word] = (epoch, who);
        }
        Ok(())
    }
}

/// The thread of a record `(epoch, thread)` when it is from `epoch` and not `who` (or
/// [`MANY`]): an access that conflicts with one by `who` now.
fn other_in_epoch((e, thread): (u32, u32), who: u32, epoch: u32) -> Option<u32> {
    (e == epoch && thread != who).then_some(thread)
}

/// `(x, y, z)` of linear index `i` in a box of `dims`.
fn coords(i: u32, dims: (u32, u32, u32)) -> String {
    let (x, y) = (dims.0, dims.1);
    format!("({}, {}, {})", i % x, i / x % y, i / (x * y))
}

/// Shared-memory records of one block (reused from block to block).
pub struct SharedRaces {
    shadow: Shadow,
    /// The current epoch; records from older ones are stale.
    epoch: u32,
    /// Threads per block, to name threads in messages.
    block: (u32, u32, u32),
}

impl SharedRaces {
    /// Records for `bytes` of shared memory in blocks of `block` threads.
    pub fn new(bytes: usize, block: (u32, u32, u32)) -> Self {
        SharedRaces {
            shadow: Shadow::new(bytes),
            epoch: 0,
            block,
        }
    }

    /// Starts a new epoch: after a barrier, or for a new block.
    pub fn next_epoch(&mut self) {
        self.epoch += 1;
    }

    /// Records a read by `thread` (linear index in the block) of `len` bytes at byte `offset`.
    pub fn read(&mut self, offset: usize, len: usize, thread: u32) -> Result<(), String> {
        let result = self.shadow.read(offset, len, thread, self.epoch);
        result.map_err(|c| self.message("reads", c))
    }

    /// Records a write by `thread`.
    pub fn write(&mut self, offset: usize, len: usize, thread: u32) -> Result<(), String> {
        let result = self.shadow.write(offset, len, thread, self.epoch);
        result.map_err(|c| self.message("writes", c))
    }

    fn message(&self, what: &str, c: Conflict) -> String {
        let who = match c.other {
            MANY => "other threads".to_string(),
            t => format!("thread {}", coords(t, self.block)),
        };
        format!(
            "shared-memory race: {what} the shared word at {:#x}, which {who} {} since the last \
             bar.sync (a bar.sync is missing between them)",
            SHARED_BASE + c.word as u64 * 4,
            c.did
        )
    }
}

/// Global-memory records of one launch, per allocation touched (by its start address).
pub struct GlobalRaces {
    shadows: Vec<(u64, Shadow)>,
    /// Index in `shadows` of the last allocation touched.
    last: usize,
    config: LaunchConfig,
}

/// The one epoch of a launch (records start at epoch 0, meaning "never").
const LAUNCH: u32 = 1;

impl GlobalRaces {
    /// Empty records for a launch of `config`.
    pub fn new(config: &LaunchConfig) -> Self {
        GlobalRaces {
            shadows: Vec::new(),
            last: 0,
            config: *config,
        }
    }

    /// The records of the allocation at `start` of `size` bytes, created on first use.
    fn shadow(&mut self, start: u64, size: usize) -> &mut Shadow {
        if self.shadows.get(self.last).is_none_or(|s| s.0 != start) {
            self.last = match self.shadows.iter().position(|s| s.0 == start) {
                Some(i) => i,
                None => {
                    self.shadows.push((start, Shadow::new(size)));
                    self.shadows.len() - 1
                }
            };
        }
        &mut self.shadows[self.last].1
    }

    /// Records a read at `at` by thread `id` (linear over the grid).
    pub fn read(&mut self, at: &Place, id: u32) -> Result<(), String> {
        let result = self
            .shadow(at.start, at.size)
            .read(at.offset, at.len, id, LAUNCH);
        result.map_err(|c| self.message("reads", at.start, c))
    }

    /// Records a write, as [`GlobalRaces::read`].
    pub fn write(&mut self, at: &Place, id: u32) -> Result<(), String> {
        let result = self
            .shadow(at.start, at.size)
            .write(at.offset, at.len, id, LAUNCH);
        result.map_err(|c| self.message("writes", at.start, c))
    }

    fn message(&self, what: &str, start: u64, c: Conflict) -> String {
        let per_block = self.config.threads_per_block();
        let who = match c.other {
            MANY => "other threads".to_string(),
            id => format!(
                "thread {} of block {}",
                coords(id % per_block, self.config.block),
                coords(id / per_block, self.config.grid)
            ),
        };
        format!(
            "global-memory race: {what} the word at {:#x}, which {who} {} earlier in this \
             launch (threads of one launch are unordered: give each thread its own outputs, or \
             use atomics)",
            start + c.word as u64 * 4,
            c.did
        )
    }
}
