//! Running one kernel over a grid: blocks one after another; within a block, each thread runs
//! (see [`crate::thread`]) until it reaches `bar.sync` or exits, and a barrier releases when
//! every thread of the block waits at it.
//!
//! A fault (bad address, division by zero, a barrier not every thread reaches) stops the launch
//! with a message naming the block, the thread, the source line and what went wrong.

use crate::launch::LaunchConfig;
use crate::memory::GlobalMemory;
use crate::program::{Entry, Module, SPECIAL_REGS};
use crate::race::{GlobalRaces, SharedRaces};
use crate::thread::{Machine, Stop};

/// Three coordinates, for messages.
fn xyz(v: (u32, u32, u32)) -> String {
    format!("({}, {}, {})", v.0, v.1, v.2)
}

/// Runs `entry` over the grid of `config` with the parameter block `params`. The error is the
/// fault's description (the caller adds the kernel's name).
pub fn run_grid(
    module: &Module,
    entry: &Entry,
    params: &[u8],
    config: &LaunchConfig,
    global: &mut GlobalMemory,
) -> Result<(), String> {
    let mut block = Block::new(entry, config);
    let mut races = GlobalRaces::new(config);
    let (gx, gy, gz) = config.grid;
    for cz in 0..gz {
        for cy in 0..gy {
            for cx in 0..gx {
                block
                    .run((cx, cy, cz), params, global, &mut races)
                    .map_err(|(t, pc, why)| {
                        let line = entry.code.get(pc as usize).map_or(0, |i| i.line);
                        format!(
                            "block {} thread {}, line {line} `{}`: {why}",
                            xyz((cx, cy, cz)),
                            xyz(block.thread_id(t)),
                            module.line_text(line)
                        )
                    })?;
            }
        }
    }
    Ok(())
}

/// A fault: the thread (linear index in its block), its pc, and what went wrong.
type Fault = (usize, u32, String);

/// The state of one block's threads, reused from block to block.
struct Block<'e> {
    entry: &'e Entry,
    /// The launch geometry (for thread ids and special registers).
    config: LaunchConfig,
    /// Register files, `entry.regs` slots per thread, one after another.
    regs: Vec<u64>,
    shared: Vec<u8>,
    /// Shared-memory race records.
    races: SharedRaces,
    pcs: Vec<u32>,
    /// Where each thread stopped in the current round (`None`: not run yet).
    stops: Vec<Option<Stop>>,
}

impl<'e> Block<'e> {
    fn new(entry: &'e Entry, config: &LaunchConfig) -> Self {
        let threads = config.threads_per_block() as usize;
        let shared_len = entry.static_shared as usize + config.shared_bytes as usize;
        Block {
            entry,
            config: *config,
            regs: vec![0; threads * entry.regs as usize],
            shared: vec![0; shared_len],
            races: SharedRaces::new(shared_len, config.block),
            pcs: vec![0; threads],
            stops: (0..threads).map(|_| None).collect(),
        }
    }

    /// `%tid` of the thread with linear index `t` (x fastest).
    fn thread_id(&self, t: usize) -> (u32, u32, u32) {
        let (bx, by, _) = self.config.block;
        let t = t as u32;
        (t % bx, t / bx % by, t / (bx * by))
    }

    /// Fresh state for block `ctaid`: zeroed registers holding the special registers, shared
    /// memory all 0xFF (uninitialised reads show as NaN), every pc at the first instruction.
    fn reset(&mut self, ctaid: (u32, u32, u32)) {
        let (b, g) = (self.config.block, self.config.grid);
        let nregs = self.entry.regs as usize;
        self.regs.fill(0);
        self.shared.fill(0xFF);
        self.pcs.fill(0);
        self.stops.fill_with(|| None);
        for t in 0..self.pcs.len() {
            let tid = self.thread_id(t);
            let specials = [
                tid.0, tid.1, tid.2, b.0, b.1, b.2, ctaid.0, ctaid.1, ctaid.2, g.0, g.1, g.2,
            ];
            let file = &mut self.regs[t * nregs..][..SPECIAL_REGS as usize];
            for (slot, value) in file.iter_mut().zip(specials) {
                *slot = value as u64;
            }
        }
    }

    /// Runs block `ctaid` to completion: rounds of running every thread to a barrier or its
    /// exit, releasing the barrier between rounds.
    fn run(
        &mut self,
        ctaid: (u32, u32, u32),
        params: &[u8],
        global: &mut GlobalMemory,
        races: &mut GlobalRaces,
    ) -> Result<(), Fault> {
        self.reset(ctaid);
        let (g, per_block) = (self.config.grid, self.config.threads_per_block());
        let block_index = (ctaid.2 * g.1 + ctaid.1) * g.0 + ctaid.0;
        let first_id = block_index.wrapping_mul(per_block);
        let nregs = self.entry.regs as usize;
        loop {
            self.races.next_epoch();
            let mut machine = Machine {
                code: &self.entry.code,
                params,
                global: &mut *global,
                shared: &mut self.shared,
                shared_races: &mut self.races,
                global_races: &mut *races,
                first_id,
            };
            for (t, stop) in self.stops.iter_mut().enumerate() {
                if matches!(stop, Some(Stop::Exit)) {
                    continue;
                }
                let file = &mut self.regs[t * nregs..(t + 1) * nregs];
                match machine.run(t as u32, file, &mut self.pcs[t]) {
                    Ok(s) => *stop = Some(s),
                    Err(why) => return Err((t, self.pcs[t], why)),
                }
            }
            match self.barrier()? {
                Some(at) => {
                    self.pcs.fill(at + 1);
                    self.stops.fill_with(|| None);
                }
                None => return Ok(()),
            }
        }
    }

    /// After a round, every thread has exited or waits at a barrier. Returns the barrier's
    /// instruction index when all threads wait at the same one, `None` when all have exited,
    /// and a fault otherwise (some exited, or they wait at different `bar.sync`s): on hardware
    /// such a kernel hangs or depends on the compiler, so it is a bug here.
    fn barrier(&self) -> Result<Option<u32>, Fault> {
        let waits_at = |t: usize| match self.stops[t] {
            Some(Stop::Barrier(pc)) => Some(pc),
            _ => None,
        };
        let threads = self.stops.len();
        let Some((first, at)) = (0..threads).find_map(|t| waits_at(t).map(|pc| (t, pc))) else {
            return Ok(None);
        };
        let elsewhere =
            (0..threads).find_map(|t| waits_at(t).filter(|&pc| pc != at).map(|pc| (t, pc)));
        if let Some((other, there)) = elsewhere {
            let there_line = self.entry.code[there as usize].line;
            let why = format!(
                "waits at this barrier while thread {} waits at the one on line {there_line}; \
                 every thread must reach the same bar.sync",
                xyz(self.thread_id(other))
            );
            return Err((first, at, why));
        }
        if let Some(exited) = (0..threads).find(|&t| waits_at(t).is_none()) {
            let count = (0..threads).filter(|&t| waits_at(t).is_some()).count();
            let why = format!(
                "waits at this barrier but thread {} has exited ({count} of {threads} threads \
                 wait); every thread must reach the same bar.sync",
                xyz(self.thread_id(exited))
            );
            return Err((first, at, why));
        }
        Ok(Some(at))
    }
}
