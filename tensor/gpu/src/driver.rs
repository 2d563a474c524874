//! The real device: a CUDA primary context through `cudarc`'s driver API, with the library
//! loaded at run time (so a machine without CUDA builds and runs everything else). Every driver
//! failure comes back as a [`GpuError`], never a panic: [`check_library`] makes sure libcuda is
//! there and exports every symbol we call before cudarc touches it, and sticky kernel faults
//! poison the device ([`Poison`]).
//!
//! CI runs this path over `mockcuda`, a mock driver on the PTX simulator (README, "The CUDA path
//! without a GPU").

use super::error::GpuError;
use super::faults::{Poison, describe, init_error, is_sticky};
use super::jit::{LoadedModule, load_module};
use super::launch::{KernelArg, LaunchConfig};
use super::library::{check_library, has_symbol};
use super::module::PtxModule;
use cudarc::driver::sys::cudaError_enum;
use cudarc::driver::{CudaContext, DriverError, result};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex};

/// One CUDA device: its primary context, the modules loaded so far, and its sticky fault. Kernels
/// and copies all go to the context's legacy default stream, so they run in issue order.
pub struct CudaDevice {
    context: Arc<CudaContext>,
    modules: Mutex<HashMap<&'static str, LoadedModule>>,
    poison: Poison,
}

/// True when the CUDA driver library can be loaded on this machine (and is a driver).
pub fn driver_present() -> bool {
    check_library().is_ok()
}

/// How many CUDA devices the driver reports (0 when there is no usable driver).
pub fn device_count() -> usize {
    if !driver_present() {
        return 0;
    }
    let count = result::init().and_then(|()| result::device::get_count());
    count.map_or(0, |n| n.max(0) as usize)
}

fn driver_error(call: &str, error: DriverError) -> GpuError {
    GpuError::Driver {
        call: call.to_string(),
        message: describe(error),
    }
}

impl CudaDevice {
    /// Opens device `ordinal`'s primary context: an error when there is no usable driver or no
    /// such device.
    pub fn new(ordinal: usize) -> Result<Self, GpuError> {
        check_library()?;
        result::init().map_err(|e| init_error(ordinal, e))?;
        let count = result::device::get_count().map_err(|e| driver_error("cuDeviceGetCount", e))?;
        let count = count.max(0) as usize;
        if ordinal >= count {
            return Err(GpuError::NoDevice { ordinal, count });
        }
        let context = CudaContext::new(ordinal).map_err(|e| {
            driver_error("cuDevicePrimaryCtxRetain (opening the primary context)", e)
        })?;
        // Wait for the GPU by sleeping rather than spinning: rayon's host threads need the cores.
        // (Drivers older than CUDA 12.1 lack cuCtxSetFlags; they spin.)
        if has_symbol("cuCtxSetFlags") {
            context
                .set_blocking_synchronize()
                .map_err(|e| driver_error("cuCtxSetFlags", e))?;
        }
        Ok(CudaDevice {
            context,
            modules: Mutex::new(HashMap::new()),
            poison: Poison::default(),
        })
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.context.ordinal()
    }

    fn name(&self) -> String {
        format!("cuda:{}", self.ordinal())
    }

    /// The error for a failed `call`: a sticky code poisons the device and becomes
    /// [`GpuError::Faulted`] (the culprit is an earlier kernel, not `call`).
    fn fail(&self, call: &str, error: DriverError) -> GpuError {
        if is_sticky(error.0) {
            self.poison.set(call, describe(error));
            if let Err(faulted) = self.poison.check(&self.name()) {
                return faulted;
            }
        }
        driver_error(call, error)
    }

    /// Fails fast once poisoned; otherwise binds the context to the calling thread.
    fn ready(&self) -> Result<(), GpuError> {
        self.poison.check(&self.name())?;
        self.context
            .bind_to_thread()
            .map_err(|e| self.fail("cuCtxSetCurrent", e))
    }

    /// Allocates `bytes` of device memory.
    pub fn alloc(&self, bytes: usize) -> Result<u64, GpuError> {
        self.ready()?;
        // SAFETY: a plain cuMemAlloc on the bound context; the pointer is freed by `free`.
        match unsafe { result::malloc_sync(bytes) } {
            Ok(ptr) => Ok(ptr),
            Err(DriverError(cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY)) => {
                Err(GpuError::OutOfMemory {
                    device: self.name(),
                    bytes,
                })
            }
            Err(e) => Err(self.fail("cuMemAlloc", e)),
        }
    }

    /// Frees memory from `alloc`. The caller has synchronised since the last kernel that used
    /// it (cuMemFree does not wait for queued kernels). A poisoned device frees nothing: its
    /// memory goes with the context.
    pub fn free(&self, ptr: u64) {
        if self.ready().is_ok() {
            // SAFETY: `ptr` came from `alloc` and no tensor or queued kernel refers to it. A
            // failure here has nobody to report to, except a sticky fault, kept for the next call.
            if let Err(e) = unsafe { result::free_sync(ptr) } {
                self.fail("cuMemFree", e);
            }
        }
    }

    /// Copies host bytes to device address `ptr`. Kernels run on the legacy default stream, so
    /// this synchronous copy starts only after every kernel launched before it (one that may
    /// still read a buffer the cache handed out again) has finished.
    pub fn write(&self, ptr: u64, bytes: &[u8]) -> Result<(), GpuError> {
        self.ready()?;
        // SAFETY: the caller checked that `bytes` fits the buffer at `ptr`.
        unsafe { result::memcpy_htod_sync(ptr, bytes) }.map_err(|e| self.fail("cuMemcpyHtoD", e))
    }

    /// Copies device bytes at `ptr` to the host, after every launched kernel has finished.
    pub fn read(&self, ptr: u64, out: &mut [u8]) -> Result<(), GpuError> {
        self.synchronize()?;
        // SAFETY: the caller checked that `out` does not read past the buffer at `ptr`.
        unsafe { result::memcpy_dtoh_sync(out, ptr) }.map_err(|e| self.fail("cuMemcpyDtoH", e))
    }

    /// Waits for the stream; a fault in any earlier kernel is reported here.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        self.ready()?;
        // SAFETY: the null stream is the context's legacy default stream, always valid.
        unsafe { result::stream::synchronize(std::ptr::null_mut()) }
            .map_err(|e| self.fail("cuStreamSynchronize", e))
    }

    /// The handle of `kernel` in `module`, loading the module on first use.
    fn function(&self, module: &'static PtxModule, kernel: &str) -> Result<usize, GpuError> {
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        let loaded = match modules.entry(module.name()) {
            std::collections::hash_map::Entry::Occupied(slot) => slot.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let loaded = load_module(module).map_err(|(error, ptx)| match error {
                    Some(e) if is_sticky(e.0) => self.fail("cuModuleLoadDataEx", e),
                    _ => ptx,
                })?;
                slot.insert(loaded)
            }
        };
        loaded.function(module.name(), kernel)
    }

    /// Launches `kernel` on the device's stream (asynchronously: a fault inside it is reported
    /// by a later call, unless `CUDA_LAUNCH_BLOCKING=1`).
    pub fn launch(
        &self,
        module: &'static PtxModule,
        kernel: &str,
        config: LaunchConfig,
        args: &[KernelArg],
    ) -> Result<(), GpuError> {
        self.ready()?;
        let function = self.function(module, kernel)?;
        // Each argument in 8 bytes of its own, little-endian: the driver reads as many bytes from
        // each pointer as the kernel's `.param` declares.
        let mut values: Vec<[u8; 8]> = args
            .iter()
            .map(|arg| {
                let mut slot = [0u8; 8];
                let bytes = arg.to_le_bytes();
                slot[..bytes.len()].copy_from_slice(&bytes);
                slot
            })
            .collect();
        let mut pointers: Vec<*mut c_void> = values
            .iter_mut()
            .map(|slot| slot.as_mut_ptr() as *mut c_void)
            .collect();
        // SAFETY: `function` is a live handle of this context; the arguments match the kernel's
        // `.param` list (each kernel's launcher passes them in declaration order, and the
        // simulator checks the same list on every test run); `values` outlives the call, which
        // copies the arguments.
        let launched = unsafe {
            result::launch_kernel(
                function as cudarc::driver::sys::CUfunction,
                config.grid,
                config.block,
                config.shared_bytes,
                std::ptr::null_mut(),
                &mut pointers,
            )
        };
        launched.map_err(|e| {
            let blocking = std::env::var("CUDA_LAUNCH_BLOCKING").is_ok_and(|v| v == "1");
            if blocking && is_sticky(e.0) {
                // Launches are synchronous: this fault is this kernel's own.
                self.poison.set(&format!("kernel `{kernel}`"), describe(e));
                GpuError::Kernel {
                    kernel: kernel.to_string(),
                    message: format!("faulted ({}); the device is unusable", describe(e)),
                }
            } else if is_sticky(e.0) {
                self.fail("cuLaunchKernel", e)
            } else {
                GpuError::Kernel {
                    kernel: kernel.to_string(),
                    message: format!("the driver refused the launch: {}", describe(e)),
                }
            }
        })
    }
}

impl Drop for CudaDevice {
    fn drop(&mut self) {
        let modules = std::mem::take(self.modules.get_mut().unwrap_or_else(|e| e.into_inner()));
        if self.context.bind_to_thread().is_ok() {
            for (_, module) in modules {
                module.unload();
            }
        }
    }
}
