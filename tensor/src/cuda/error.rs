//! What can go wrong on a GPU, as values: no driver, no device, out of memory, a kernel that fails.

use thiserror::Error;

/// An error from the GPU backend (real device or simulator). Never a panic: the caller decides.
#[derive(Debug, Error)]
pub enum GpuError {
    /// The CUDA driver library (libcuda.so) could not be loaded.
    #[error(
        "no CUDA driver: libcuda.so was not found on this machine; install the NVIDIA driver or use --device cpu or --device sim"
    )]
    NoDriver,
    /// The driver loaded but has no device with this ordinal.
    #[error("no CUDA device {ordinal}: the driver reports {count} device(s)")]
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
    /// The GPU backend computes in f32 only.
    #[error("the GPU backend computes in f32 only; {what} asked for another element type")]
    UnsupportedType {
        /// The op or conversion that asked.
        what: String,
    },
}
