//! What can go wrong on the simulator, as values: memory it cannot give, a copy outside every
//! allocation, PTX it cannot read, a kernel that faults.

use thiserror::Error;

/// An error of the simulated device. Never a panic: the caller decides.
#[derive(Debug, Error)]
pub enum SimError {
    /// The host could not provide the memory of an allocation.
    #[error("out of simulated memory: could not allocate {bytes} bytes")]
    OutOfMemory {
        /// The size of the failed allocation.
        bytes: usize,
    },
    /// A host copy (`read` or `write`) whose bytes do not lie inside one allocation.
    #[error("simulated {copy}: {len} bytes at {ptr:#x} do not lie inside one allocation")]
    OutsideAllocation {
        /// `read` or `write`.
        copy: &'static str,
        /// The device address copied from or to.
        ptr: u64,
        /// The bytes copied.
        len: usize,
    },
    /// A PTX module could not be parsed: outside the subset, or rejected by ptxas too.
    #[error("PTX module `{module}`: {message}")]
    Ptx {
        /// The module's name.
        module: String,
        /// What is wrong, starting with `line N:`.
        message: String,
    },
    /// A launch was rejected (geometry, arguments, shared memory) or the kernel faulted while
    /// running (the block, the thread, the instruction and why).
    #[error("kernel `{kernel}` failed: {message}")]
    Kernel {
        /// The kernel's name.
        kernel: String,
        /// What happened.
        message: String,
    },
}
