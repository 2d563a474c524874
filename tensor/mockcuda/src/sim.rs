//! The one place the mock touches the PTX simulator's internals (the `ptx-sim` crate): parsing a
//! module, the `.param` layout of an entry, device memory, and running a grid.

use ptx_sim::LaunchConfig;
use ptx_sim::memory::GlobalMemory;
use ptx_sim::program::Module;
use ptx_sim::{exec, parse};
use std::sync::Arc;

/// Device memory: bounds-checked allocations that are never reused (a stale pointer faults).
pub type Memory = GlobalMemory;

/// Memory whose first allocation is at `first`.
pub fn memory_at(first: u64) -> Memory {
    GlobalMemory::starting_at(first)
}

/// A parsed PTX module, shared by the module handle and every queued launch of its kernels.
#[derive(Clone)]
pub struct Program(Arc<Module>);

/// One parameter of an entry, as the driver lays out the parameter block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamSlot {
    /// Bytes (4 or 8).
    pub size: usize,
    /// Offset in the parameter block.
    pub offset: usize,
}

/// One kernel of a program: what `cuModuleGetFunction` returns a handle to.
#[derive(Clone)]
pub struct Kernel {
    program: Program,
    entry: usize,
}

impl Program {
    /// Parses PTX text; the error names the line, as a JIT log does.
    pub fn parse(text: &str) -> Result<Program, String> {
        parse::parse_module(text).map(|m| Program(Arc::new(m)))
    }

    /// The kernel called `name`, if the module has it.
    pub fn kernel(&self, name: &str) -> Option<Kernel> {
        let entry = self.0.entries.iter().position(|e| e.name == name)?;
        Some(Kernel {
            program: self.clone(),
            entry,
        })
    }
}

impl Kernel {
    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.program.0.entries[self.entry].name
    }

    /// The parameters in declaration order.
    pub fn params(&self) -> Vec<ParamSlot> {
        self.program.0.entries[self.entry]
            .params
            .iter()
            .map(|p| ParamSlot {
                size: p.size as usize,
                offset: p.offset as usize,
            })
            .collect()
    }

    /// Bytes of the parameter block.
    pub fn param_bytes(&self) -> usize {
        self.program.0.entries[self.entry].param_bytes as usize
    }

    /// Bytes of static shared memory a block uses.
    pub fn static_shared(&self) -> u32 {
        self.program.0.entries[self.entry].static_shared
    }

    /// Runs the whole grid; the error says which block, thread and line faulted, and why.
    pub fn run(
        &self,
        params: &[u8],
        config: &LaunchConfig,
        memory: &mut Memory,
    ) -> Result<(), String> {
        let module = &self.program.0;
        exec::run_grid(module, &module.entries[self.entry], params, config, memory)
    }
}
