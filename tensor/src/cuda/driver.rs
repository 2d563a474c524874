//! The real device: a CUDA context through `cudarc`'s driver API, with the library loaded at run
//! time (so a machine without CUDA builds and runs everything else). Every driver failure comes
//! back as a [`GpuError`], never a panic: cudarc panics when libcuda is missing, so we ask
//! `is_culib_present` before touching it.

use super::error::GpuError;
use super::launch::{KernelArg, LaunchConfig};
use super::module::PtxModule;
use cudarc::driver::sys::cudaError_enum;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaStream, DriverError, PushKernelArg, result,
};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One CUDA device: its context, the stream every kernel runs on, and the modules loaded so far.
pub struct CudaDevice {
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<(&'static str, String), CudaFunction>>,
}

/// True when the CUDA driver library can be loaded on this machine.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen libcuda; no driver call is made.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// How many CUDA devices the driver reports (0 when there is no driver).
pub fn device_count() -> usize {
    if !driver_present() {
        return 0;
    }
    CudaContext::device_count().map_or(0, |n| n.max(0) as usize)
}

fn driver_error(call: &str, error: DriverError) -> GpuError {
    GpuError::Driver {
        call: call.to_string(),
        message: format!("{error:?}"),
    }
}

impl CudaDevice {
    /// Opens device `ordinal`: an error when there is no driver or no such device.
    pub fn new(ordinal: usize) -> Result<Self, GpuError> {
        if !driver_present() {
            return Err(GpuError::NoDriver);
        }
        let count = CudaContext::device_count().map_err(|e| driver_error("cuDeviceGetCount", e))?;
        let count = count.max(0) as usize;
        if ordinal >= count {
            return Err(GpuError::NoDevice { ordinal, count });
        }
        let context = CudaContext::new(ordinal).map_err(|e| driver_error("cuCtxCreate", e))?;
        let stream = context.default_stream();
        Ok(CudaDevice {
            context,
            stream,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
        })
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.context.ordinal()
    }

    fn bind(&self) -> Result<(), GpuError> {
        self.context
            .bind_to_thread()
            .map_err(|e| driver_error("cuCtxSetCurrent", e))
    }

    /// Allocates `bytes` of device memory.
    pub fn alloc(&self, bytes: usize) -> Result<u64, GpuError> {
        self.bind()?;
        // SAFETY: a plain cuMemAlloc on the bound context; the pointer is freed by `free`.
        match unsafe { result::malloc_sync(bytes) } {
            Ok(ptr) => Ok(ptr),
            Err(DriverError(cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY)) => {
                Err(GpuError::OutOfMemory {
                    device: format!("cuda:{}", self.ordinal()),
                    bytes,
                })
            }
            Err(e) => Err(driver_error("cuMemAlloc", e)),
        }
    }

    /// Frees memory from `alloc` (after the kernels using it have finished).
    pub fn free(&self, ptr: u64) {
        if self.bind().is_ok() {
            // SAFETY: `ptr` came from `alloc` and no tensor refers to it any more. A failure here
            // (a context already torn down) has nobody left to report to.
            let _ = unsafe { result::free_sync(ptr) };
        }
    }

    /// Copies host bytes to device address `ptr`. Kernels run on the legacy default stream, so
    /// this synchronous copy starts only after every kernel launched before it (one that may
    /// still read a buffer the cache handed out again) has finished.
    pub fn write(&self, ptr: u64, bytes: &[u8]) -> Result<(), GpuError> {
        self.bind()?;
        // SAFETY: the caller checked that `bytes` fits the buffer at `ptr`.
        unsafe { result::memcpy_htod_sync(ptr, bytes) }.map_err(|e| driver_error("cuMemcpyHtoD", e))
    }

    /// Copies device bytes at `ptr` to the host, after every launched kernel has finished.
    pub fn read(&self, ptr: u64, out: &mut [u8]) -> Result<(), GpuError> {
        self.bind()?;
        self.synchronize()?;
        // SAFETY: the caller checked that `out` does not read past the buffer at `ptr`.
        unsafe { result::memcpy_dtoh_sync(out, ptr) }.map_err(|e| driver_error("cuMemcpyDtoH", e))
    }

    /// Waits for the stream; a fault in any earlier kernel is reported here.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        self.stream
            .synchronize()
            .map_err(|e| driver_error("cuStreamSynchronize (a kernel failed)", e))
    }

    fn function(&self, module: &'static PtxModule, kernel: &str) -> Result<CudaFunction, GpuError> {
        let key = (module.name(), kernel.to_string());
        if let Some(function) = self.functions.lock().unwrap().get(&key) {
            return Ok(function.clone());
        }
        let loaded = {
            let mut modules = self.modules.lock().unwrap();
            match modules.get(module.name()) {
                Some(loaded) => loaded.clone(),
                None => {
                    let loaded = self
                        .context
                        .load_module(Ptx::from_src(module.ptx()))
                        .map_err(|e| GpuError::Ptx {
                            module: module.name().to_string(),
                            message: format!("the driver refused it: {e:?}"),
                        })?;
                    modules.insert(module.name(), loaded.clone());
                    loaded
                }
            }
        };
        let function = loaded.load_function(kernel).map_err(|e| GpuError::Ptx {
            module: module.name().to_string(),
            message: format!("no kernel `{kernel}`: {e:?}"),
        })?;
        self.functions.lock().unwrap().insert(key, function.clone());
        Ok(function)
    }

    /// Launches `kernel` on the device's stream (asynchronously).
    pub fn launch(
        &self,
        module: &'static PtxModule,
        kernel: &str,
        config: LaunchConfig,
        args: &[KernelArg],
    ) -> Result<(), GpuError> {
        self.bind()?;
        let function = self.function(module, kernel)?;
        let mut builder = self.stream.launch_builder(&function);
        for arg in args {
            match arg {
                KernelArg::U32(v) => builder.arg(v),
                KernelArg::S32(v) => builder.arg(v),
                KernelArg::U64(v) => builder.arg(v),
                KernelArg::F32(v) => builder.arg(v),
            };
        }
        let cfg = cudarc::driver::LaunchConfig {
            grid_dim: config.grid,
            block_dim: config.block,
            shared_mem_bytes: config.shared_bytes,
        };
        // SAFETY: the arguments match the kernel's `.param` list (each kernel's launcher passes
        // them in declaration order, and the simulator checks the same list on every test run).
        unsafe { builder.launch(cfg) }
            .map(|_| ())
            .map_err(|e| GpuError::Kernel {
                kernel: kernel.to_string(),
                message: format!("launch failed: {e:?}"),
            })
    }
}
