//! SKELETON (replaced by the simulator helper): the interface the rest of the backend calls.

use super::error::GpuError;
use super::launch::{KernelArg, LaunchConfig};

/// The PTX simulator device.
pub struct SimDevice {}

impl SimDevice {
    /// A fresh simulated device with empty memory.
    pub fn new() -> Self {
        SimDevice {}
    }
    /// Allocates `bytes` of simulated global memory (contents: 0xFF bytes, so uninitialised reads
    /// show up as NaN), returning its address.
    pub fn alloc(&self, bytes: usize) -> Result<u64, GpuError> {
        let _ = bytes;
        todo!()
    }
    /// Frees an allocation.
    pub fn free(&self, ptr: u64) {
        let _ = ptr;
    }
    /// Copies bytes into memory at `ptr` (must lie inside one allocation).
    pub fn write(&self, ptr: u64, bytes: &[u8]) -> Result<(), GpuError> {
        let _ = (ptr, bytes);
        todo!()
    }
    /// Copies bytes out of memory at `ptr` (must lie inside one allocation).
    pub fn read(&self, ptr: u64, out: &mut [u8]) -> Result<(), GpuError> {
        let _ = (ptr, out);
        todo!()
    }
    /// Parses (once per module name) and runs `kernel` over the whole grid.
    pub fn launch(
        &self,
        module: &str,
        ptx: &str,
        kernel: &str,
        config: &LaunchConfig,
        args: &[KernelArg],
    ) -> Result<(), GpuError> {
        let _ = (module, ptx, kernel, config, args);
        todo!()
    }
}

impl Default for SimDevice {
    fn default() -> Self {
        Self::new()
    }
}
