//! What can go wrong on a GPU, as values: no driver, no device, out of memory, a kernel that fails.

use ptx_sim::SimError;
use thiserror::Error;

/// An error from the GPU backend (real device or simulator). Never a panic: the caller decides.
#[derive(Debug, Error)]
pub enum GpuError {
    /// No usable CUDA driver: libcuda.so is missing, is not a driver, is the toolkit's stub, or
    /// does not match the kernel module.
    #[error(
        "no usable CUDA driver: {reason}; install the NVIDIA driver (or fix LD_LIBRARY_PATH), or use --device cpu or --device sim"
    )]
    NoDriver {
        /// What is wrong with the installation.
        reason: String,
    },
    /// The driver loaded but has no device with this ordinal.
    #[error(
        "no CUDA device {ordinal}: the driver reports {count} device(s) (cuda:N counts the devices CUDA_VISIBLE_DEVICES leaves visible)"
    )]
    NoDevice {
        /// The ordinal asked for.
        ordinal: usize,
        /// How many devices the driver reports.
        count: usize,
    },
    /// An allocation failed even after the buffer cache was emptied.
    #[error("out of GPU memory on {device}: could not allocate {bytes} bytes")]
    OutOfMemory {
        /// The device's name, e.g. `cuda:0`.
        device: String,
        /// The size of the failed allocation.
        bytes: usize,
    },
    /// A CUDA driver call failed.
    #[error("CUDA driver error in {call}: {message}")]
    Driver {
        /// The operation that failed.
        call: String,
        /// The driver's message.
        message: String,
    },
    /// A PTX module could not be parsed or loaded.
    #[error("PTX module `{module}`: {message}")]
    Ptx {
        /// The module's name.
        module: String,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// A kernel faulted while running (on the simulator: the thread, the instruction and why).
    #[error("kernel `{kernel}` failed: {message}")]
    Kernel {
        /// The kernel's name.
        kernel: String,
        /// What happened.
        message: String,
    },
    /// A kernel faulted on a real device: the context is unusable for the rest of the process
    /// (CUDA errors of this kind are sticky), so every later call fails fast with this.
    #[error(
        "{device}: an earlier kernel faulted: the device is unusable; rerun with CUDA_LAUNCH_BLOCKING=1 to find it ({message}, reported by {call})"
    )]
    Faulted {
        /// The device, e.g. `cuda:0`.
        device: String,
        /// The driver call that reported the fault.
        call: String,
        /// The driver's code and message.
        message: String,
    },
    /// The GPU backend computes in f32 only.
    #[error("the GPU backend computes in f32 only; {what} asked for another element type")]
    UnsupportedType {
        /// The op or conversion that asked.
        what: String,
    },
}

/// The simulator's errors as the backend reports them: `sim` is the device, a bad host copy is a
/// failed driver call, PTX and kernel errors keep their module or kernel and message.
impl From<SimError> for GpuError {
    fn from(e: SimError) -> Self {
        match e {
            SimError::OutOfMemory { bytes } => GpuError::OutOfMemory {
                device: "sim".to_string(),
                bytes,
            },
            SimError::OutsideAllocation { copy, ptr, len } => GpuError::Driver {
                call: format!("sim {copy}"),
                message: format!("{len} bytes at {ptr:#x} do not lie inside one allocation"),
            },
            SimError::Ptx { module, message } => GpuError::Ptx { module, message },
            SimError::Kernel { kernel, message } => GpuError::Kernel { kernel, message },
        }
    }
}
