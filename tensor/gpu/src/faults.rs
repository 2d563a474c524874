//! Reading CUDA driver errors: which call failed and what it means for the device.
//!
//! Faults inside a kernel are sticky on a real GPU: the launch that faults returns success (it is
//! asynchronous), the next call into the context fails with the fault's code, and so does every
//! call after it. So the call that reports such a code is not the culprit; the device is marked
//! poisoned and every later call fails fast with [`GpuError::Faulted`].

use super::error::GpuError;
use cudarc::driver::DriverError;
use cudarc::driver::sys::cudaError_enum as Code;
use std::sync::Mutex;

/// The driver's name and description of an error: `CUDA_ERROR_ILLEGAL_ADDRESS: an illegal
/// memory access was encountered`.
pub fn describe(error: DriverError) -> String {
    match error.error_string() {
        Ok(text) => format!("{:?}: {}", error.0, text.to_string_lossy()),
        Err(_) => format!("{:?}", error.0),
    }
}

/// True for the codes that leave the context unusable (a kernel's fault, reported late).
pub fn is_sticky(code: Code) -> bool {
    matches!(
        code,
        Code::CUDA_ERROR_ECC_UNCORRECTABLE
            | Code::CUDA_ERROR_ILLEGAL_ADDRESS
            | Code::CUDA_ERROR_LAUNCH_TIMEOUT
            | Code::CUDA_ERROR_ASSERT
            | Code::CUDA_ERROR_HARDWARE_STACK_ERROR
            | Code::CUDA_ERROR_ILLEGAL_INSTRUCTION
            | Code::CUDA_ERROR_MISALIGNED_ADDRESS
            | Code::CUDA_ERROR_INVALID_ADDRESS_SPACE
            | Code::CUDA_ERROR_INVALID_PC
            | Code::CUDA_ERROR_LAUNCH_FAILED
    )
}

/// What a failed `cuInit` (or device count) means: a broken installation is
/// [`GpuError::NoDriver`], no device is [`GpuError::NoDevice`], anything else a driver error.
pub fn init_error(ordinal: usize, error: DriverError) -> GpuError {
    let no_driver = |reason: &str| GpuError::NoDriver {
        reason: format!("{reason} ({})", describe(error)),
    };
    match error.0 {
        Code::CUDA_ERROR_STUB_LIBRARY => no_driver(
            "the libcuda.so found is the CUDA toolkit's stub library, not the driver; put the \
             driver's libcuda.so.1 first (remove .../cuda/lib64/stubs from LD_LIBRARY_PATH)",
        ),
        Code::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH => no_driver(
            "libcuda.so and the loaded NVIDIA kernel module are different versions (a driver \
             update without a reboot, or a container's libcuda.so that does not match the host)",
        ),
        Code::CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE => no_driver(
            "this libcuda.so is a forward-compatibility driver, which this GPU does not support; \
             use the host's driver",
        ),
        Code::CUDA_ERROR_NO_DEVICE => GpuError::NoDevice { ordinal, count: 0 },
        _ => GpuError::Driver {
            call: "cuInit".into(),
            message: describe(error),
        },
    }
}

/// A device's sticky fault, once one has been reported.
#[derive(Default)]
pub struct Poison {
    fault: Mutex<Option<(String, String)>>,
}

impl Poison {
    /// Ok while no fault has been seen; afterwards the fault, as [`GpuError::Faulted`].
    pub fn check(&self, device: &str) -> Result<(), GpuError> {
        let fault = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        match &*fault {
            None => Ok(()),
            Some((call, message)) => Err(GpuError::Faulted {
                device: device.to_string(),
                call: call.clone(),
                message: message.clone(),
            }),
        }
    }

    /// Records the first fault (later reports of the same sticky code add nothing).
    pub fn set(&self, call: &str, message: String) {
        let mut fault = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        fault.get_or_insert_with(|| (call.to_string(), message));
    }

    /// True once a fault has been recorded.
    pub fn is_set(&self) -> bool {
        self.fault
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}
