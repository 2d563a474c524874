//! What the mock pretends to be, from environment variables read once when it loads:
//! - `MOCKCUDA_DEVICES`: how many devices (default 2; 0 makes `cuInit` fail with
//!   CUDA_ERROR_NO_DEVICE, as a driver on a machine without a GPU does);
//! - `MOCKCUDA_MEMORY`: bytes of memory per device (default 4 GiB; larger allocations fail with
//!   CUDA_ERROR_OUT_OF_MEMORY);
//! - `MOCKCUDA_INIT_ERROR`: a broken installation, every call failing with its code: `stub`
//!   (34, the toolkit's stub libcuda.so), `no-device` (100), `driver-mismatch` (803, kernel
//!   module and libcuda.so of different versions), `compat` (804, forward compatibility on a
//!   device that lacks it);
//! - `CUDA_LAUNCH_BLOCKING=1`: every launch runs at once and reports its own fault, as on a GPU.

use crate::codes::Code;
use cudarc::driver::sys::CUdevice_attribute_enum as Attr;

/// The mock's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Number of devices.
    pub devices: usize,
    /// Bytes of memory per device.
    pub memory: usize,
    /// The code every call fails with, for a broken installation.
    pub init_error: Option<Code>,
    /// Launches run synchronously (`CUDA_LAUNCH_BLOCKING=1`).
    pub launch_blocking: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            devices: 2,
            memory: 4 << 30,
            init_error: None,
            launch_blocking: false,
        }
    }
}

impl Config {
    /// The settings from the environment; an unreadable value is an error naming it.
    pub fn from_env() -> Result<Config, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let number = |name: &str, default: usize| match var(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| format!("{name}={v} is not a whole number")),
        };
        let defaults = Config::default();
        let init_error = match var("MOCKCUDA_INIT_ERROR").as_deref() {
            None => None,
            Some("stub") => Some(Code::CUDA_ERROR_STUB_LIBRARY),
            Some("no-device") => Some(Code::CUDA_ERROR_NO_DEVICE),
            Some("driver-mismatch") => Some(Code::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH),
            Some("compat") => Some(Code::CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE),
            Some(other) => {
                return Err(format!(
                    "MOCKCUDA_INIT_ERROR={other}: expected stub, no-device, driver-mismatch or compat"
                ));
            }
        };
        Ok(Config {
            devices: number("MOCKCUDA_DEVICES", defaults.devices)?,
            memory: number("MOCKCUDA_MEMORY", defaults.memory)?,
            init_error,
            launch_blocking: var("CUDA_LAUNCH_BLOCKING").as_deref() == Some("1"),
        })
    }
}

/// The value of device attribute `attribute` (a `CUdevice_attribute` number) on the mock's
/// sm_80-like devices; `None` for attributes it does not model.
pub fn attribute(attribute: u32) -> Option<i32> {
    let table = [
        (Attr::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024),
        (Attr::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, 1024),
        (Attr::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, 1024),
        (Attr::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, 64),
        (Attr::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, i32::MAX),
        (Attr::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, 65535),
        (Attr::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, 65535),
        (
            Attr::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK,
            48 * 1024,
        ),
        (Attr::CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32),
        (Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 4),
        (Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 8),
        (Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0),
        (Attr::CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING, 1),
        // No memory pools: cudarc then allocates with cuMemAlloc, the call the mock models.
        (Attr::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, 0),
    ];
    table
        .iter()
        .find(|(a, _)| *a as u32 == attribute)
        .map(|&(_, v)| v)
}
