//! The C ABI: the driver entry points cudarc 0.19 resolves (lazily, by name, on first use) on the
//! path `tensor_gpu::driver` takes, over one process-wide [`Driver`]. The current context is
//! per thread, as in CUDA. Functions the mock does not export make cudarc panic on first use,
//! which is why `tensor` checks the exported names before calling any.

#![allow(non_snake_case, clippy::missing_safety_doc)]

use crate::codes::{Code, CuResult, name};
use crate::config::Config;
use crate::driver::Driver;
use cudarc::driver::sys::{CUcontext, CUdevice, CUdeviceptr, CUfunction, CUmodule, CUstream};
use ptx_sim::LaunchConfig;
use std::cell::Cell;
use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

thread_local! {
    /// The calling thread's current context handle (0: none).
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// The process-wide driver, configured from the environment on first use.
fn driver() -> CuResult<&'static Driver> {
    static DRIVER: OnceLock<Result<Driver, String>> = OnceLock::new();
    let made = DRIVER.get_or_init(|| {
        Config::from_env()
            .map(Driver::new)
            .inspect_err(|why| eprintln!("mockcuda: {why}"))
    });
    made.as_ref().map_err(|_| Code::CUDA_ERROR_INVALID_VALUE)
}

/// The device of the calling thread's current context.
fn current(drv: &Driver) -> CuResult<usize> {
    match CURRENT.with(Cell::get) {
        0 => Err(Code::CUDA_ERROR_INVALID_CONTEXT),
        handle => drv.context_device(handle),
    }
}

/// Runs a call, turning its result into a code; a panic (a mock bug) becomes CUDA_ERROR_UNKNOWN
/// instead of unwinding into C.
fn call(f: impl FnOnce() -> CuResult<()>) -> Code {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Code::CUDA_SUCCESS,
        Ok(Err(code)) => code,
        Err(_) => Code::CUDA_ERROR_UNKNOWN,
    }
}

/// Writes `value` through an out-pointer, or fails on a null one.
unsafe fn put<T>(out: *mut T, value: T) -> CuResult<()> {
    if out.is_null() {
        return Err(Code::CUDA_ERROR_INVALID_VALUE);
    }
    unsafe { out.write(value) };
    Ok(())
}

#[unsafe(no_mangle)]
pub extern "C" fn cuInit(flags: c_uint) -> Code {
    call(|| driver()?.init(flags))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuDriverGetVersion(version: *mut c_int) -> Code {
    call(|| unsafe { put(version, 12080) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuDeviceGetCount(count: *mut c_int) -> Code {
    call(|| unsafe { put(count, driver()?.device_count()?) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuDeviceGet(device: *mut CUdevice, ordinal: c_int) -> Code {
    call(|| unsafe { put(device, driver()?.device(ordinal)? as CUdevice) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuDeviceGetAttribute(
    value: *mut c_int,
    attribute: c_uint,
    device: CUdevice,
) -> Code {
    call(|| unsafe { put(value, driver()?.attribute(attribute, device)?) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuDeviceGetName(out: *mut c_char, len: c_int, device: CUdevice) -> Code {
    call(|| {
        let text = driver()?.device_name(device)?;
        let len = usize::try_from(len).map_err(|_| Code::CUDA_ERROR_INVALID_VALUE)?;
        unsafe { write_c_string(out, len, &text) }.map(|_| ())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuDeviceTotalMem_v2(bytes: *mut usize, device: CUdevice) -> Code {
    call(|| unsafe { put(bytes, driver()?.total_memory(device)?) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuDevicePrimaryCtxRetain(
    context: *mut CUcontext,
    device: CUdevice,
) -> Code {
    call(|| unsafe { put(context, driver()?.retain(device)? as CUcontext) })
}

#[unsafe(no_mangle)]
pub extern "C" fn cuDevicePrimaryCtxRelease_v2(device: CUdevice) -> Code {
    call(|| driver()?.release(device))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuCtxGetCurrent(context: *mut CUcontext) -> Code {
    call(|| {
        driver()?.device_count()?;
        unsafe { put(context, CURRENT.with(Cell::get) as CUcontext) }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn cuCtxSetCurrent(context: CUcontext) -> Code {
    call(|| {
        let drv = driver()?;
        drv.device_count()?;
        if !context.is_null() {
            drv.context_device(context as usize)?;
        }
        CURRENT.with(|c| c.set(context as usize));
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn cuCtxSynchronize() -> Code {
    call(|| {
        let drv = driver()?;
        drv.synchronize(current(drv)?)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn cuCtxSetFlags(flags: c_uint) -> Code {
    call(|| {
        let drv = driver()?;
        let d = current(drv)?;
        drv.on(d, |state| {
            state.flags = flags;
            Ok(())
        })
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuCtxGetFlags(flags: *mut c_uint) -> Code {
    call(|| {
        let drv = driver()?;
        let d = current(drv)?;
        let value = drv.on(d, |state| Ok(state.flags))?;
        unsafe { put(flags, value) }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn cuStreamSynchronize(stream: CUstream) -> Code {
    call(|| {
        // Only the default streams exist: legacy (null or 0x1) and per-thread (0x2).
        if stream as usize > 2 {
            return Err(Code::CUDA_ERROR_INVALID_HANDLE);
        }
        let drv = driver()?;
        drv.synchronize(current(drv)?)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuMemAlloc_v2(ptr: *mut CUdeviceptr, bytes: usize) -> Code {
    call(|| {
        let drv = driver()?;
        let d = current(drv)?;
        let got = drv.on(d, |state| state.alloc(bytes))?;
        unsafe { put(ptr, got) }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn cuMemFree_v2(ptr: CUdeviceptr) -> Code {
    call(|| {
        let drv = driver()?;
        let d = current(drv)?;
        drv.on(d, |state| state.free(ptr))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuMemcpyHtoD_v2(
    dst: CUdeviceptr,
    src: *const c_void,
    bytes: usize,
) -> Code {
    call(|| {
        let drv = driver()?;
        let d = current(drv)?;
        if src.is_null() && bytes > 0 {
            return Err(Code::CUDA_ERROR_INVALID_VALUE);
        }
        let host = if bytes == 0 {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(src as *const u8, bytes) }
        };
        drv.on(d, |state| state.write(dst, host))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuMemcpyDtoH_v2(dst: *mut c_void, src: CUdeviceptr, bytes: usize) -> Code {
    call(|| {
        let drv = driver()?;
        let d = current(drv)?;
        if dst.is_null() && bytes > 0 {
            return Err(Code::CUDA_ERROR_INVALID_VALUE);
        }
        let host = if bytes == 0 {
            &mut [][..]
        } else {
            unsafe { std::slice::from_raw_parts_mut(dst as *mut u8, bytes) }
        };
        drv.on(d, |state| state.read(src, host))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuModuleLoadData(module: *mut CUmodule, image: *const c_void) -> Code {
    unsafe { cuModuleLoadDataEx(module, image, 0, std::ptr::null_mut(), std::ptr::null_mut()) }
}

/// JIT options the mock answers: the error log buffer and its size (the others are ignored).
const JIT_ERROR_LOG_BUFFER: c_uint = 5;
const JIT_ERROR_LOG_BUFFER_SIZE_BYTES: c_uint = 6;

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuModuleLoadDataEx(
    module: *mut CUmodule,
    image: *const c_void,
    num_options: c_uint,
    options: *mut c_uint,
    values: *mut *mut c_void,
) -> Code {
    call(|| {
        let drv = driver()?;
        let d = current(drv)?;
        if image.is_null() || (num_options > 0 && (options.is_null() || values.is_null())) {
            return Err(Code::CUDA_ERROR_INVALID_VALUE);
        }
        let text = unsafe { CStr::from_ptr(image as *const c_char) }
            .to_str()
            .map_err(|_| Code::CUDA_ERROR_INVALID_IMAGE)?;
        match drv.load_module(d, text) {
            Ok(handle) => unsafe { put(module, handle as CUmodule) },
            Err((code, log)) => {
                unsafe { write_error_log(num_options, options, values, &log) };
                Err(code)
            }
        }
    })
}

/// Writes the JIT error log where the options ask, and its length back into the size option.
unsafe fn write_error_log(n: c_uint, options: *mut c_uint, values: *mut *mut c_void, log: &str) {
    let n = n as usize;
    let find = |wanted| (0..n).find(|&i| unsafe { *options.add(i) } == wanted);
    let (Some(buffer), Some(size)) = (
        find(JIT_ERROR_LOG_BUFFER),
        find(JIT_ERROR_LOG_BUFFER_SIZE_BYTES),
    ) else {
        return;
    };
    unsafe {
        let out = *values.add(buffer) as *mut c_char;
        let capacity = *values.add(size) as usize;
        if let Ok(written) = write_c_string(out, capacity, log) {
            *values.add(size) = written as *mut c_void;
        }
    }
}

/// Copies `text` (truncated to fit, NUL-terminated) into `capacity` bytes at `out`; the bytes
/// written, NUL included.
unsafe fn write_c_string(out: *mut c_char, capacity: usize, text: &str) -> CuResult<usize> {
    if out.is_null() || capacity == 0 {
        return Err(Code::CUDA_ERROR_INVALID_VALUE);
    }
    let len = text.len().min(capacity - 1);
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr() as *const c_char, out, len);
        *out.add(len) = 0;
    }
    Ok(len + 1)
}

#[unsafe(no_mangle)]
pub extern "C" fn cuModuleUnload(module: CUmodule) -> Code {
    call(|| driver()?.unload(module as usize))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuModuleGetFunction(
    function: *mut CUfunction,
    module: CUmodule,
    name: *const c_char,
) -> Code {
    call(|| {
        if name.is_null() {
            return Err(Code::CUDA_ERROR_INVALID_VALUE);
        }
        let name = unsafe { CStr::from_ptr(name) }
            .to_str()
            .map_err(|_| Code::CUDA_ERROR_NOT_FOUND)?;
        let handle = driver()?.function(module as usize, name)?;
        unsafe { put(function, handle as CUfunction) }
    })
}

/// `cuLaunchKernel`: reads each argument through `kernel_params` with the size the module's
/// `.param` list gives it, as the driver does. `extra` (packed arguments) is not supported.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuLaunchKernel(
    function: CUfunction,
    grid_x: c_uint,
    grid_y: c_uint,
    grid_z: c_uint,
    block_x: c_uint,
    block_y: c_uint,
    block_z: c_uint,
    shared_bytes: c_uint,
    stream: CUstream,
    kernel_params: *mut *mut c_void,
    extra: *mut *mut c_void,
) -> Code {
    call(|| {
        let drv = driver()?;
        let d = current(drv)?;
        if !extra.is_null() {
            return Err(Code::CUDA_ERROR_NOT_SUPPORTED);
        }
        if stream as usize > 2 {
            return Err(Code::CUDA_ERROR_INVALID_HANDLE);
        }
        let slots = drv.params(function as usize)?;
        if kernel_params.is_null() && !slots.is_empty() {
            return Err(Code::CUDA_ERROR_INVALID_VALUE);
        }
        let mut args = Vec::with_capacity(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            let at = unsafe { *kernel_params.add(i) } as *const u8;
            if at.is_null() {
                return Err(Code::CUDA_ERROR_INVALID_VALUE);
            }
            args.push(unsafe { std::slice::from_raw_parts(at, slot.size) });
        }
        let config = LaunchConfig {
            grid: (grid_x, grid_y, grid_z),
            block: (block_x, block_y, block_z),
            shared_bytes,
        };
        drv.launch(d, function as usize, config, &args)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuGetErrorString(error: c_uint, text: *mut *const c_char) -> Code {
    call(|| {
        let code = known(error)?;
        let message = match driver() {
            Ok(drv) => drv.error_string(code),
            Err(_) => c"mockcuda: unreadable configuration",
        };
        unsafe { put(text, message.as_ptr()) }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuGetErrorName(error: c_uint, text: *mut *const c_char) -> Code {
    call(|| {
        let code = known(error)?;
        unsafe { put(text, name(code).as_ptr()) }
    })
}

/// The code numbered `value`, if the mock ever returns it.
fn known(value: c_uint) -> CuResult<Code> {
    crate::codes::RETURNED
        .iter()
        .copied()
        .find(|&c| c as c_uint == value)
        .ok_or(Code::CUDA_ERROR_INVALID_VALUE)
}
