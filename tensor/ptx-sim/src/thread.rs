//! One thread's instruction loop: runs from its pc until it reaches `bar.sync` or exits, with
//! every memory access checked for alignment and bounds. Faults come back as messages; the
//! block scheduler ([`crate::exec`]) adds which thread and which instruction.

use crate::kinds::IntTy;
use crate::memory::GlobalMemory;
use crate::ops;
use crate::program::{Addr, Instr, Op, SHARED_BASE, Space, Src};
use crate::race::{GlobalRaces, SharedRaces};

/// Branches one thread may take between barriers before the launch is reported as an endless
/// loop (seconds of simulation; far more than any of our kernels takes).
const MAX_BRANCHES: u32 = 1 << 28;

/// Why a thread stopped running.
pub enum Stop {
    /// At the `bar.sync` at this instruction index.
    Barrier(u32),
    /// It executed `ret`/`exit` (or ran off the end).
    Exit,
}

/// What a thread sees besides its registers: the code, the parameters and memory.
pub struct Machine<'a> {
    /// The entry's instructions.
    pub code: &'a [Instr],
    /// The parameter block.
    pub params: &'a [u8],
    /// Global memory.
    pub global: &'a mut GlobalMemory,
    /// The block's shared memory.
    pub shared: &'a mut [u8],
    /// Who touched which shared word since the last barrier.
    pub shared_races: &'a mut SharedRaces,
    /// Who touched which global word in this launch.
    pub global_races: &'a mut GlobalRaces,
    /// The grid-wide linear id of the block's thread 0.
    pub first_id: u32,
}

#[inline(always)]
fn val(regs: &[u64], s: Src) -> u64 {
    match s {
        Src::Reg(r) => regs[r as usize],
        Src::Imm(v) => v,
    }
}

impl Machine<'_> {
    /// Runs thread `thread` (its linear index in the block) from `*pc` until it waits at a
    /// barrier or exits. On a fault `*pc` is the faulting instruction.
    pub fn run(&mut self, thread: u32, regs: &mut [u64], pc: &mut u32) -> Result<Stop, String> {
        let code = self.code;
        let mut branches = 0u32;
        loop {
            let Some(ins) = code.get(*pc as usize) else {
                return Ok(Stop::Exit);
            };
            if let Some((p, want)) = ins.guard
                && (regs[p as usize] != 0) != want
            {
                *pc += 1;
                continue;
            }
            match ins.op {
                Op::Mov { d, a, mask } => regs[d as usize] = val(regs, a) & mask,
                Op::LdParam { d, offset, size } => {
                    let o = offset as usize;
                    regs[d as usize] = match self.params.get(o..o + size as usize) {
                        Some(b) if size == 4 => u32::from_le_bytes(b.try_into().unwrap()) as u64,
                        Some(b) => u64::from_le_bytes(b.try_into().unwrap()),
                        None => return Err("parameter read outside the parameter block".into()),
                    }
                }
                Op::Ld {
                    space,
                    size,
                    d,
                    n,
                    addr,
                } => {
                    let at = address(regs, addr);
                    let len = (size * n as u32) as usize;
                    let bytes = self.bytes(space, at, len, thread)?;
                    for (i, chunk) in bytes.chunks_exact(size as usize).enumerate() {
                        regs[d[i] as usize] = if size == 4 {
                            u32::from_le_bytes(chunk.try_into().unwrap()) as u64
                        } else {
                            u64::from_le_bytes(chunk.try_into().unwrap())
                        };
                    }
                }
                Op::St {
                    space,
                    size,
                    a,
                    n,
                    addr,
                } => {
                    let at = address(regs, addr);
                    let len = (size * n as u32) as usize;
                    let mut vals = [0u64; 4];
                    for (v, s) in vals.iter_mut().zip(a) {
                        *v = val(regs, s);
                    }
                    let bytes = self.bytes_mut(space, at, len, thread, false)?;
                    for (i, chunk) in bytes.chunks_exact_mut(size as usize).enumerate() {
                        if size == 4 {
                            chunk.copy_from_slice(&(vals[i] as u32).to_le_bytes());
                        } else {
                            chunk.copy_from_slice(&vals[i].to_le_bytes());
                        }
                    }
                }
                Op::Int { op, ty, d, a, b } => {
                    regs[d as usize] = ops::int_binary(op, ty, val(regs, a), val(regs, b))
                        .ok_or("integer division by zero")?;
                }
                Op::IntUn { op, ty, d, a } => {
                    regs[d as usize] = ops::int_unary(op, ty, val(regs, a));
                }
                Op::Mad { op, ty, d, a, b, c } => {
                    regs[d as usize] = ops::mad(op, ty, val(regs, a), val(regs, b), val(regs, c));
                }
                Op::Pred { op, d, a, b } => {
                    regs[d as usize] =
                        ops::int_binary(op, IntTy::U32, val(regs, a), val(regs, b)).unwrap_or(0);
                }
                Op::PredNot { d, a } => regs[d as usize] = (val(regs, a) == 0) as u64,
                Op::F32 { op, d, a, b } => {
                    regs[d as usize] = ops::f32_binary(op, val(regs, a), val(regs, b));
                }
                Op::F32Un { op, d, a } => regs[d as usize] = ops::f32_unary(op, val(regs, a)),
                Op::Fma { d, a, b, c } => {
                    regs[d as usize] = ops::fma(val(regs, a), val(regs, b), val(regs, c));
                }
                Op::Setp { cmp, ty, d, a, b } => {
                    regs[d as usize] = ops::compare(cmp, ty, val(regs, a), val(regs, b));
                }
                Op::Selp { d, a, b, p, mask } => {
                    let chosen = if val(regs, p) != 0 { a } else { b };
                    regs[d as usize] = val(regs, chosen) & mask;
                }
                Op::Cvt { cvt, d, a } => regs[d as usize] = ops::convert(cvt, val(regs, a)),
                Op::Atom { op, d, addr, b } => {
                    let at = address(regs, addr);
                    let operand = val(regs, b);
                    let cell = self.bytes_mut(Space::Global, at, 4, thread, true)?;
                    let old = u32::from_le_bytes((&*cell).try_into().unwrap());
                    cell.copy_from_slice(&ops::atomic(op, old, operand).to_le_bytes());
                    if let Some(d) = d {
                        regs[d as usize] = old as u64;
                    }
                }
                Op::Bra { target } => {
                    branches += 1;
                    if branches == MAX_BRANCHES {
                        return Err(format!(
                            "took {MAX_BRANCHES} branches without reaching a barrier or exit: \
                             an endless loop?"
                        ));
                    }
                    *pc = target;
                    continue;
                }
                Op::Bar => return Ok(Stop::Barrier(*pc)),
                Op::Exit => return Ok(Stop::Exit),
            }
            *pc += 1;
        }
    }

    /// Checks alignment, bounds and races of a read of `len` bytes at `at` in `space` by
    /// `thread`, and returns the bytes.
    fn bytes(&mut self, space: Space, at: u64, len: usize, thread: u32) -> Result<&[u8], String> {
        check_aligned(space, at, len, "read")?;
        let shared_len = self.shared.len();
        let fault = || out_of_bounds(space, at, len, "read", shared_len);
        match space {
            Space::Global => {
                let place = self.global.place(at, len).ok_or_else(fault)?;
                self.global_races
                    .read(&place, self.first_id.wrapping_add(thread))?;
                Ok(self.global.slice(&place))
            }
            Space::Shared => {
                let range = shared_range(shared_len, at, len).ok_or_else(fault)?;
                self.shared_races.read(range.start, len, thread)?;
                Ok(&self.shared[range])
            }
        }
    }

    /// As [`Machine::bytes`], for a write; an `atomic` one is not recorded for races (atomics
    /// are how threads share a word).
    fn bytes_mut(
        &mut self,
        space: Space,
        at: u64,
        len: usize,
        thread: u32,
        atomic: bool,
    ) -> Result<&mut [u8], String> {
        let what = if atomic { "atomic" } else { "write" };
        check_aligned(space, at, len, what)?;
        let shared_len = self.shared.len();
        let fault = || out_of_bounds(space, at, len, what, shared_len);
        match space {
            Space::Global => {
                let place = self.global.place(at, len).ok_or_else(fault)?;
                if !atomic {
                    self.global_races
                        .write(&place, self.first_id.wrapping_add(thread))?;
                }
                Ok(self.global.slice_mut(&place))
            }
            Space::Shared => {
                let range = shared_range(shared_len, at, len).ok_or_else(fault)?;
                self.shared_races.write(range.start, len, thread)?;
                Ok(&mut self.shared[range])
            }
        }
    }
}

#[inline(always)]
fn address(regs: &[u64], addr: Addr) -> u64 {
    match addr.base {
        Some(r) => regs[r as usize].wrapping_add(addr.offset),
        None => addr.offset,
    }
}

fn space_name(space: Space) -> &'static str {
    match space {
        Space::Global => "global",
        Space::Shared => "shared",
    }
}

/// Accesses are 4, 8 or 16 bytes, aligned to their size (a power of two, so a mask is enough).
#[inline(always)]
fn check_aligned(space: Space, at: u64, len: usize, what: &str) -> Result<(), String> {
    if at & (len as u64 - 1) == 0 {
        Ok(())
    } else {
        Err(format!(
            "misaligned {} {what} of {len} bytes at {at:#x}",
            space_name(space)
        ))
    }
}

fn shared_range(shared_len: usize, at: u64, len: usize) -> Option<std::ops::Range<usize>> {
    let offset = at.checked_sub(SHARED_BASE)?;
    let end = offset.checked_add(len as u64)?;
    (end <= shared_len as u64).then_some(offset as usize..end as usize)
}

fn out_of_bounds(space: Space, at: u64, len: usize, what: &str, shared_len: usize) -> String {
    match space {
        Space::Global => format!(
            "out-of-bounds global {what} of {len} bytes at {at:#x} (not inside any allocation)"
        ),
        Space::Shared => format!(
            "out-of-bounds shared {what} of {len} bytes at {at:#x} (the block's shared memory \
             is {shared_len} bytes at {SHARED_BASE:#x})"
        ),
    }
}
