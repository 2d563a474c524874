//! The result codes the mock returns. They are cudarc's own enum, so the mock cannot return a
//! code that cudarc's bindings lack (cudarc turns codes into that enum, and an unknown value
//! there would be undefined behaviour in the caller).

pub use cudarc::driver::sys::cudaError_enum as Code;
use std::ffi::{CStr, CString};
use std::sync::Mutex;

/// What a driver call returns: a value, or the code it failed with.
pub type CuResult<T> = Result<T, Code>;

/// The driver's description of `code` (the text `cuGetErrorString` gives for it).
pub fn describe(code: Code) -> &'static str {
    match code {
        Code::CUDA_SUCCESS => "no error",
        Code::CUDA_ERROR_INVALID_VALUE => "invalid argument",
        Code::CUDA_ERROR_OUT_OF_MEMORY => "out of memory",
        Code::CUDA_ERROR_NOT_INITIALIZED => "initialization error",
        Code::CUDA_ERROR_STUB_LIBRARY => "CUDA driver is a stub library",
        Code::CUDA_ERROR_NO_DEVICE => "no CUDA-capable device is detected",
        Code::CUDA_ERROR_INVALID_DEVICE => "invalid device ordinal",
        Code::CUDA_ERROR_INVALID_IMAGE => "device kernel image is invalid",
        Code::CUDA_ERROR_INVALID_CONTEXT => "invalid device context",
        Code::CUDA_ERROR_INVALID_PTX => "a PTX JIT compilation failed",
        Code::CUDA_ERROR_INVALID_HANDLE => "invalid resource handle",
        Code::CUDA_ERROR_NOT_FOUND => "named symbol not found",
        Code::CUDA_ERROR_ILLEGAL_ADDRESS => "an illegal memory access was encountered",
        Code::CUDA_ERROR_LAUNCH_TIMEOUT => "the launch timed out and was terminated",
        Code::CUDA_ERROR_MISALIGNED_ADDRESS => "misaligned address",
        Code::CUDA_ERROR_LAUNCH_FAILED => "unspecified launch failure",
        Code::CUDA_ERROR_NOT_SUPPORTED => "operation not supported",
        Code::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH => {
            "system has unsupported display driver / cuda driver combination"
        }
        Code::CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE => {
            "forward compatibility was attempted on non supported HW"
        }
        Code::CUDA_ERROR_UNKNOWN => "unknown error",
        _ => "an error the mock never returns",
    }
}

/// Every code the mock returns (`cuGetErrorString` and `cuGetErrorName` know these).
pub const RETURNED: [Code; 20] = [
    Code::CUDA_SUCCESS,
    Code::CUDA_ERROR_INVALID_VALUE,
    Code::CUDA_ERROR_OUT_OF_MEMORY,
    Code::CUDA_ERROR_NOT_INITIALIZED,
    Code::CUDA_ERROR_STUB_LIBRARY,
    Code::CUDA_ERROR_NO_DEVICE,
    Code::CUDA_ERROR_INVALID_DEVICE,
    Code::CUDA_ERROR_INVALID_IMAGE,
    Code::CUDA_ERROR_INVALID_CONTEXT,
    Code::CUDA_ERROR_INVALID_PTX,
    Code::CUDA_ERROR_INVALID_HANDLE,
    Code::CUDA_ERROR_NOT_FOUND,
    Code::CUDA_ERROR_ILLEGAL_ADDRESS,
    Code::CUDA_ERROR_LAUNCH_TIMEOUT,
    Code::CUDA_ERROR_MISALIGNED_ADDRESS,
    Code::CUDA_ERROR_LAUNCH_FAILED,
    Code::CUDA_ERROR_NOT_SUPPORTED,
    Code::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH,
    Code::CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE,
    Code::CUDA_ERROR_UNKNOWN,
];

/// The code's name, as `cuGetErrorName` gives it (`CUDA_ERROR_ILLEGAL_ADDRESS`); made once
/// per code and kept for the process, as the driver's strings are.
pub fn name(code: Code) -> &'static CStr {
    static MADE: Mutex<Vec<(u32, &'static CStr)>> = Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = made.iter().find(|(k, _)| *k == code as u32) {
        return c;
    }
    let text = CString::new(format!("{code:?}")).expect("names have no NUL");
    let c: &'static CStr = Box::leak(text.into_boxed_c_str());
    made.push((code as u32, c));
    c
}

/// The sticky code a simulator fault becomes: what a GPU reports for the same fault.
pub fn fault_code(why: &str) -> Code {
    if why.contains("misaligned") {
        Code::CUDA_ERROR_MISALIGNED_ADDRESS
    } else if why.contains("out-of-bounds") {
        Code::CUDA_ERROR_ILLEGAL_ADDRESS
    } else if why.contains("endless loop") {
        Code::CUDA_ERROR_LAUNCH_TIMEOUT
    } else {
        Code::CUDA_ERROR_LAUNCH_FAILED
    }
}
