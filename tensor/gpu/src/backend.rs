//! The two kinds of device behind one enum (DESIGN.md: prefer the enum to a trait object): raw
//! allocation, copies and launches on a CUDA device through the driver, or on the PTX
//! simulator, with the simulator's errors turned into [`GpuError`]s.

use super::driver::CudaDevice;
use super::error::GpuError;
use super::launch::{KernelArg, LaunchConfig};
use super::module::PtxModule;
use crate::device::Device;
use ptx_sim::SimDevice;

/// A real device or the simulator.
pub(crate) enum Backend {
    Cuda(CudaDevice),
    Sim(SimDevice),
}

impl Backend {
    /// The device this backend drives.
    pub(crate) fn device(&self) -> Device {
        match self {
            Backend::Cuda(device) => Device::Cuda(device.ordinal()),
            Backend::Sim(_) => Device::Sim,
        }
    }

    /// `bytes` of device memory, uncached.
    pub(crate) fn alloc(&self, bytes: usize) -> Result<u64, GpuError> {
        match self {
            Backend::Cuda(device) => device.alloc(bytes),
            Backend::Sim(device) => Ok(device.alloc(bytes)?),
        }
    }

    /// Frees an allocation (never fails).
    pub(crate) fn free(&self, ptr: u64) {
        match self {
            Backend::Cuda(device) => device.free(ptr),
            Backend::Sim(device) => device.free(ptr),
        }
    }

    /// Copies host bytes to `ptr`.
    pub(crate) fn write(&self, ptr: u64, bytes: &[u8]) -> Result<(), GpuError> {
        match self {
            Backend::Cuda(device) => device.write(ptr, bytes),
            Backend::Sim(device) => Ok(device.write(ptr, bytes)?),
        }
    }

    /// Copies bytes at `ptr` to the host (after every launched kernel).
    pub(crate) fn read(&self, ptr: u64, out: &mut [u8]) -> Result<(), GpuError> {
        match self {
            Backend::Cuda(device) => device.read(ptr, out),
            Backend::Sim(device) => Ok(device.read(ptr, out)?),
        }
    }

    /// Launches `kernel` of `module` (loaded or parsed on first use).
    pub(crate) fn launch(
        &self,
        module: &'static PtxModule,
        kernel: &str,
        config: LaunchConfig,
        args: &[KernelArg],
    ) -> Result<(), GpuError> {
        match self {
            Backend::Cuda(device) => device.launch(module, kernel, config, args),
            Backend::Sim(device) => {
                Ok(device.launch(module.name(), module.ptx(), kernel, &config, args)?)
            }
        }
    }

    /// Waits for every launched kernel (the simulator runs them at launch: nothing to wait for).
    pub(crate) fn synchronize(&self) -> Result<(), GpuError> {
        match self {
            Backend::Cuda(device) => device.synchronize(),
            Backend::Sim(_) => Ok(()),
        }
    }
}
