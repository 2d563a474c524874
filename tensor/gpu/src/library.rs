//! Finding the CUDA driver library before cudarc touches it. cudarc panics when libcuda is
//! missing, and when a symbol it resolves (lazily, on first use) is missing, so we check both up
//! front and turn a missing or foreign library into [`GpuError::NoDriver`].

use super::error::GpuError;

/// Every driver entry point our path resolves through cudarc (see `driver.rs`). A library
/// without one of them is not a CUDA driver we can use.
pub const REQUIRED_SYMBOLS: [&str; 18] = [
    "cuInit",
    "cuDeviceGetCount",
    "cuDeviceGet",
    "cuDeviceGetAttribute",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxGetCurrent",
    "cuCtxSetCurrent",
    "cuMemAlloc_v2",
    "cuMemFree_v2",
    "cuMemcpyHtoD_v2",
    "cuMemcpyDtoH_v2",
    "cuStreamSynchronize",
    "cuModuleLoadDataEx",
    "cuModuleGetFunction",
    "cuModuleUnload",
    "cuLaunchKernel",
    "cuGetErrorString",
];

/// Ok when a CUDA driver library loads and exports every symbol we call; otherwise why not.
pub fn check_library() -> Result<(), GpuError> {
    // SAFETY: only dlopens the candidate names; no driver call is made.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(GpuError::NoDriver {
            reason: "libcuda.so was not found on this machine (nor on LD_LIBRARY_PATH)".into(),
        });
    }
    let missing: Vec<&str> = REQUIRED_SYMBOLS
        .iter()
        .copied()
        .filter(|name| !has_symbol(name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(GpuError::NoDriver {
        reason: format!(
            "the libcuda.so found does not export {} (a library that is not the NVIDIA driver, \
             or one older than CUDA 11)",
            missing.join(", ")
        ),
    })
}

/// True when the driver library (present: [`check_library`] passed) exports `name`. For the
/// optional calls: `cuCtxSetFlags` came with CUDA 12.1.
pub fn has_symbol(name: &str) -> bool {
    // SAFETY: callers checked that a library is present, so `culib` loads it instead of
    // panicking; looking a symbol up calls nothing.
    unsafe {
        let library = cudarc::driver::sys::culib();
        library
            .get::<unsafe extern "C" fn()>(name.as_bytes())
            .is_ok()
    }
}
