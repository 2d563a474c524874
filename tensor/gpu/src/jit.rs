//! Loading a PTX module into the current context with `cuModuleLoadDataEx`, asking the JIT for
//! its error log, so that a module the driver refuses says which line and why (plain
//! `cuModuleLoadData` only says CUDA_ERROR_INVALID_PTX).

use super::error::GpuError;
use super::faults::describe;
use super::module::PtxModule;
use cudarc::driver::sys::{self, CUjit_option};
use cudarc::driver::{DriverError, result};
use std::collections::HashMap;
use std::ffi::{CString, c_void};

/// Bytes of the JIT error log buffer.
const LOG_BYTES: usize = 16 * 1024;

/// A module loaded in a context, and the kernels looked up in it so far (raw handles as
/// integers, so that the device stays `Send` and `Sync`).
pub struct LoadedModule {
    handle: usize,
    functions: HashMap<String, usize>,
}

/// Loads `module` into the calling thread's current context. On failure: the driver's error (if
/// the driver failed) and the error to report, with the JIT log.
pub fn load_module(module: &PtxModule) -> Result<LoadedModule, (Option<DriverError>, GpuError)> {
    let ptx_error = |message: String| GpuError::Ptx {
        module: module.name().to_string(),
        message,
    };
    let text = CString::new(module.ptx())
        .map_err(|_| (None, ptx_error("the PTX text contains a NUL byte".into())))?;
    let mut log = vec![0u8; LOG_BYTES];
    let mut options = [
        CUjit_option::CU_JIT_ERROR_LOG_BUFFER,
        CUjit_option::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
    ];
    let mut values = [log.as_mut_ptr() as *mut c_void, LOG_BYTES as *mut c_void];
    let mut handle: sys::CUmodule = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated PTX; the options say the log buffer holds LOG_BYTES bytes,
    // and both arrays outlive the call (the driver writes the log length back into `values`).
    let loaded = unsafe {
        sys::cuModuleLoadDataEx(
            &mut handle,
            text.as_ptr() as *const c_void,
            options.len() as u32,
            options.as_mut_ptr(),
            values.as_mut_ptr(),
        )
    }
    .result();
    match loaded {
        Ok(()) => Ok(LoadedModule {
            handle: handle as usize,
            functions: HashMap::new(),
        }),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let jit_log = String::from_utf8_lossy(&log[..end]).trim().to_string();
            let message = if jit_log.is_empty() {
                format!("the driver refused it: {}", describe(e))
            } else {
                format!("the driver refused it: {}; JIT log: {jit_log}", describe(e))
            };
            Err((Some(e), ptx_error(message)))
        }
    }
}

impl LoadedModule {
    /// The handle of `kernel`, looked up on first use.
    pub fn function(&mut self, module: &str, kernel: &str) -> Result<usize, GpuError> {
        if let Some(&f) = self.functions.get(kernel) {
            return Ok(f);
        }
        let no_kernel = |message: String| GpuError::Ptx {
            module: module.to_string(),
            message,
        };
        let name =
            CString::new(kernel).map_err(|_| no_kernel(format!("bad kernel name {kernel:?}")))?;
        // SAFETY: `handle` is a module loaded in the current context and not unloaded.
        let f = unsafe { result::module::get_function(self.handle as sys::CUmodule, name) }
            .map_err(|e| no_kernel(format!("no kernel `{kernel}`: {}", describe(e))))?;
        self.functions.insert(kernel.to_string(), f as usize);
        Ok(f as usize)
    }

    /// Unloads the module (its context must be current). A failure has nobody to report to.
    pub fn unload(self) {
        // SAFETY: `handle` is loaded and unloaded only here, once.
        let _ = unsafe { result::module::unload(self.handle as sys::CUmodule) };
    }
}
