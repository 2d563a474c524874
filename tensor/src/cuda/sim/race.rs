//! Shared-memory race detection. Between two barriers the threads of a block run in an
//! unspecified order on hardware, so two of them touching the same shared word, at least one
//! writing, is a race: the kernel is missing a `bar.sync`. The simulator runs threads one after
//! another, which would silently hide such a bug (the earlier thread's write is always there);
//! this check turns it into a fault instead.
//!
//! Each 4-byte word remembers, for the current epoch (the stretch between two barriers), which
//! thread last wrote it and which thread read it (or that several did). An epoch number, not a
//! reset, ages the records, so releasing a barrier costs nothing.

use super::program::SHARED_BASE;

/// A reader slot meaning "more than one thread read this word in this epoch".
const MANY: u32 = u32::MAX;

/// The per-word records of one block's shared memory.
pub struct RaceCheck {
    /// Per word: (epoch, thread) of the last write.
    writer: Vec<(u32, u32)>,
    /// Per word: (epoch, thread or [`MANY`]) of the reads.
    reader: Vec<(u32, u32)>,
    /// The current epoch; records from older ones are stale.
    epoch: u32,
    /// Threads per block in x and y, to name threads in messages.
    block: (u32, u32),
}

impl RaceCheck {
    /// Records for `bytes` of shared memory in blocks of `block.0 * block.1 * ...` threads.
    pub fn new(bytes: usize, block: (u32, u32)) -> Self {
        let words = bytes.div_ceil(4);
        RaceCheck {
            writer: vec![(0, 0); words],
            reader: vec![(0, 0); words],
            epoch: 0,
            block,
        }
    }

    /// Starts a new epoch: after a barrier, or for a new block.
    pub fn next_epoch(&mut self) {
        self.epoch += 1;
    }

    fn name(&self, t: u32) -> String {
        let (bx, by) = self.block;
        format!("({}, {}, {})", t % bx, t / bx % by, t / (bx * by))
    }

    /// Records a read by `thread` of `len` bytes at byte `offset`; a fault if another thread
    /// wrote one of its words in this epoch.
    pub fn read(&mut self, offset: usize, len: usize, thread: u32) -> Result<(), String> {
        for w in offset / 4..(offset + len).div_ceil(4) {
            let (epoch, writer) = self.writer[w];
            if epoch == self.epoch && writer != thread {
                return Err(self.race("reads", w, "wrote", writer));
            }
            let (epoch, reader) = self.reader[w];
            self.reader[w] = if epoch != self.epoch || reader == thread {
                (self.epoch, thread)
            } else {
                (self.epoch, MANY)
            };
        }
        Ok(())
    }

    /// Records a write by `thread`; a fault if another thread read or wrote one of its words in
    /// this epoch.
    pub fn write(&mut self, offset: usize, len: usize, thread: u32) -> Result<(), String> {
        for w in offset / 4..(offset + len).div_ceil(4) {
            let (epoch, writer) = self.writer[w];
            if epoch == self.epoch && writer != thread {
                return Err(self.race("writes", w, "wrote", writer));
            }
            let (epoch, reader) = self.reader[w];
            if epoch == self.epoch && reader != thread {
                return Err(self.race("writes", w, "read", reader));
            }
            self.writer[w] = (self.epoch, thread);
        }
        Ok(())
    }

    fn race(&self, what: &str, word: usize, other_did: &str, other: u32) -> String {
        let who = if other == MANY {
            "other threads".to_string()
        } else {
            format!("thread {}", self.name(other))
        };
        format!(
            "shared-memory race: {what} the shared word at {:#x}, which {who} {other_did} since \
             the last bar.sync (a bar.sync is missing between them)",
            SHARED_BASE + word as u64 * 4
        )
    }
}
