//! Launch geometry and kernel arguments: the simulator's launch types, which hold the values
//! `cuLaunchKernel` takes, so a launch reads the same on a real GPU and on the simulator; and
//! the block size of the simple one-thread-per-element kernels.

pub use ptx_sim::launch::{KernelArg, LaunchConfig};

/// Threads per block used by the simple one-thread-per-element kernels.
pub const BLOCK_1D: u32 = 256;
