//! The mock driver as a Rust API: devices, primary contexts, modules, functions and launches,
//! each call returning a CUDA result code on failure. [`crate::exports`] puts the C ABI on top;
//! the crate's tests drive this directly.

use crate::codes::{Code, CuResult, describe};
use crate::config::Config;
use crate::device::{DeviceState, Fault, Launch};
use crate::sim::{Kernel, ParamSlot, Program};
use ptx_sim::LaunchConfig;
use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The handle of device `d`'s primary context is `CONTEXT_BASE + d * HANDLE_ALIGN`.
const CONTEXT_BASE: usize = 0xC0_0000;

/// Handles are multiples of this (they look like pointers, and a null one is never valid).
const HANDLE_ALIGN: usize = 0x100;

/// Most threads in a block, and most shared memory a block may use without the opt-in
/// attribute, as on every GPU our kernels target.
const MAX_THREADS: u64 = 1024;
const MAX_SHARED: u64 = 48 * 1024;

/// The whole mock driver.
pub struct Driver {
    config: Config,
    initialised: AtomicBool,
    devices: Vec<Mutex<DeviceState>>,
    modules: Mutex<HashMap<usize, (usize, Program)>>,
    functions: Mutex<HashMap<usize, (usize, Kernel)>>,
    next_handle: AtomicUsize,
    /// The message `cuGetErrorString` gives for a code, with the last fault's detail.
    details: Mutex<HashMap<u32, &'static CStr>>,
}

impl Driver {
    /// A driver with `config`'s devices, not yet initialised.
    pub fn new(config: Config) -> Self {
        let devices = (0..config.devices)
            .map(|d| Mutex::new(DeviceState::new(d, config.memory)))
            .collect();
        Driver {
            config,
            initialised: AtomicBool::new(false),
            devices,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            next_handle: AtomicUsize::new(1),
            details: Mutex::new(HashMap::new()),
        }
    }

    /// `cuInit`: fails as the configured broken installation would, or with no device.
    pub fn init(&self, flags: u32) -> CuResult<()> {
        if let Some(code) = self.config.init_error {
            return Err(code);
        }
        if flags != 0 {
            return Err(Code::CUDA_ERROR_INVALID_VALUE);
        }
        if self.devices.is_empty() {
            return Err(Code::CUDA_ERROR_NO_DEVICE);
        }
        self.initialised.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn ready(&self) -> CuResult<()> {
        match self.config.init_error {
            Some(code) => Err(code),
            None if self.initialised.load(Ordering::SeqCst) => Ok(()),
            None => Err(Code::CUDA_ERROR_NOT_INITIALIZED),
        }
    }

    /// `cuDeviceGetCount`.
    pub fn device_count(&self) -> CuResult<i32> {
        self.ready()?;
        Ok(self.devices.len() as i32)
    }

    /// `cuDeviceGet`: the device handle is its ordinal.
    pub fn device(&self, ordinal: i32) -> CuResult<usize> {
        self.ready()?;
        usize::try_from(ordinal)
            .ok()
            .filter(|&d| d < self.devices.len())
            .ok_or(Code::CUDA_ERROR_INVALID_DEVICE)
    }

    /// `cuDeviceGetAttribute`: an sm_80-like device.
    pub fn attribute(&self, attribute: u32, device: i32) -> CuResult<i32> {
        self.device(device)?;
        crate::config::attribute(attribute).ok_or(Code::CUDA_ERROR_INVALID_VALUE)
    }

    /// `cuDeviceGetName`.
    pub fn device_name(&self, device: i32) -> CuResult<String> {
        let d = self.device(device)?;
        Ok(format!("mockcuda device {d} (PTX simulator)"))
    }

    /// `cuDeviceTotalMem`.
    pub fn total_memory(&self, device: i32) -> CuResult<usize> {
        self.device(device)?;
        Ok(self.config.memory)
    }

    /// `cuDevicePrimaryCtxRetain`: the context handle.
    pub fn retain(&self, device: i32) -> CuResult<usize> {
        let d = self.device(device)?;
        self.state(d).retained += 1;
        Ok(CONTEXT_BASE + d * HANDLE_ALIGN)
    }

    /// `cuDevicePrimaryCtxRelease`: the last release destroys the context (memory, queued work
    /// and sticky fault go with it), as the driver does.
    pub fn release(&self, device: i32) -> CuResult<()> {
        let d = self.device(device)?;
        let mut state = self.state(d);
        if state.retained == 0 {
            return Err(Code::CUDA_ERROR_INVALID_CONTEXT);
        }
        state.retained -= 1;
        if state.retained == 0 {
            state.reset();
        }
        Ok(())
    }

    /// The device whose context `handle` is (a live, retained context only).
    pub fn context_device(&self, handle: usize) -> CuResult<usize> {
        let d = handle.wrapping_sub(CONTEXT_BASE) / HANDLE_ALIGN;
        let valid = handle >= CONTEXT_BASE
            && (handle - CONTEXT_BASE).is_multiple_of(HANDLE_ALIGN)
            && d < self.devices.len()
            && self.state(d).retained > 0;
        valid.then_some(d).ok_or(Code::CUDA_ERROR_INVALID_CONTEXT)
    }

    /// The lock of device `d`'s state.
    pub fn state(&self, d: usize) -> MutexGuard<'_, DeviceState> {
        self.devices[d].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on device `d`; when it fails with the device's sticky fault, the fault's detail
    /// becomes part of the code's error string (and is said once on stderr).
    pub fn on<T>(&self, d: usize, f: impl FnOnce(&mut DeviceState) -> CuResult<T>) -> CuResult<T> {
        self.ready()?;
        let mut state = self.state(d);
        let result = f(&mut state);
        if let (Err(code), Some(fault)) = (&result, state.fault())
            && *code == fault.code
        {
            self.record(fault);
        }
        result
    }

    fn record(&self, fault: &Fault) {
        let text = format!("{} (mockcuda: {})", describe(fault.code), fault.detail);
        let mut details = self.details.lock().unwrap_or_else(|e| e.into_inner());
        let key = fault.code as u32;
        if details
            .get(&key)
            .is_some_and(|c| c.to_bytes() == text.as_bytes())
        {
            return;
        }
        eprintln!("mockcuda: {}", fault.detail);
        let text = std::ffi::CString::new(text.replace('\0', " ")).expect("no NUL left");
        // Leaked on purpose: cuGetErrorString hands out pointers that live for the process.
        details.insert(key, Box::leak(text.into_boxed_c_str()));
    }

    /// `cuGetErrorString`: the description, with the last fault's detail for sticky codes.
    pub fn error_string(&self, code: Code) -> &'static CStr {
        let details = self.details.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(text) = details.get(&(code as u32)) {
            return text;
        }
        drop(details);
        leak_once(describe(code))
    }

    fn handle(&self) -> usize {
        self.next_handle.fetch_add(1, Ordering::Relaxed) * HANDLE_ALIGN + 0x1000_0000
    }

    /// `cuModuleLoadData(Ex)` in device `d`'s context: the handle, or the code and JIT log.
    pub fn load_module(&self, d: usize, text: &str) -> Result<usize, (Code, String)> {
        self.on(d, |state| state.check())
            .map_err(|c| (c, String::new()))?;
        let program = Program::parse(text).map_err(|why| {
            let log = format!("ptxas application ptx input: error   : {why}");
            (Code::CUDA_ERROR_INVALID_PTX, log)
        })?;
        let handle = self.handle();
        lock(&self.modules).insert(handle, (d, program));
        Ok(handle)
    }

    /// `cuModuleUnload`.
    pub fn unload(&self, module: usize) -> CuResult<()> {
        self.ready()?;
        lock(&self.modules)
            .remove(&module)
            .map(|_| ())
            .ok_or(Code::CUDA_ERROR_INVALID_HANDLE)
    }

    /// `cuModuleGetFunction`.
    pub fn function(&self, module: usize, name: &str) -> CuResult<usize> {
        self.ready()?;
        let (d, kernel) = {
            let modules = lock(&self.modules);
            let (d, program) = modules
                .get(&module)
                .ok_or(Code::CUDA_ERROR_INVALID_HANDLE)?;
            (*d, program.kernel(name).ok_or(Code::CUDA_ERROR_NOT_FOUND)?)
        };
        let handle = self.handle();
        lock(&self.functions).insert(handle, (d, kernel));
        Ok(handle)
    }

    /// The `.param` layout of a function: how `cuLaunchKernel` reads its argument pointers.
    pub fn params(&self, function: usize) -> CuResult<Vec<ParamSlot>> {
        let functions = lock(&self.functions);
        let (_, kernel) = functions
            .get(&function)
            .ok_or(Code::CUDA_ERROR_INVALID_HANDLE)?;
        Ok(kernel.params())
    }

    /// `cuLaunchKernel` in device `d`'s context, `args` being each parameter's bytes in
    /// declaration order: queued, or run at once under `CUDA_LAUNCH_BLOCKING=1`.
    pub fn launch(
        &self,
        d: usize,
        function: usize,
        config: LaunchConfig,
        args: &[&[u8]],
    ) -> CuResult<()> {
        let (fd, kernel) = lock(&self.functions)
            .get(&function)
            .cloned()
            .ok_or(Code::CUDA_ERROR_INVALID_HANDLE)?;
        if fd != d {
            return Err(Code::CUDA_ERROR_INVALID_HANDLE);
        }
        check_geometry(&config, kernel.static_shared())?;
        let slots = kernel.params();
        if args.len() != slots.len() || slots.iter().zip(args).any(|(s, a)| a.len() != s.size) {
            return Err(Code::CUDA_ERROR_INVALID_VALUE);
        }
        let mut params = vec![0u8; kernel.param_bytes()];
        for (slot, arg) in slots.iter().zip(args) {
            params[slot.offset..slot.offset + slot.size].copy_from_slice(arg);
        }
        let blocking = self.config.launch_blocking;
        self.on(d, |state| {
            state.enqueue(Launch {
                kernel,
                params,
                config,
            })?;
            if blocking { state.flush() } else { Ok(()) }
        })
    }

    /// `cuStreamSynchronize` / `cuCtxSynchronize`: runs device `d`'s queue.
    pub fn synchronize(&self, d: usize) -> CuResult<()> {
        self.on(d, DeviceState::flush)
    }
}

/// Rejects what `cuLaunchKernel` rejects at once (not sticky): empty or oversized geometry.
fn check_geometry(config: &LaunchConfig, static_shared: u32) -> CuResult<()> {
    let (g, b) = (config.grid, config.block);
    let dims = [g.0, g.1, g.2, b.0, b.1, b.2];
    let threads = b.0 as u64 * b.1 as u64 * b.2 as u64;
    let shared = static_shared as u64 + config.shared_bytes as u64;
    let bad = dims.contains(&0)
        || threads > MAX_THREADS
        || b.2 > 64
        || g.1 > 65535
        || g.2 > 65535
        || g.0 > i32::MAX as u32
        || shared > MAX_SHARED;
    if bad {
        Err(Code::CUDA_ERROR_INVALID_VALUE)
    } else {
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `'static` C string for `text`, made once per distinct text.
fn leak_once(text: &'static str) -> &'static CStr {
    static MADE: Mutex<Vec<(&'static str, &'static CStr)>> = Mutex::new(Vec::new());
    let mut made = lock(&MADE);
    if let Some((_, c)) = made.iter().find(|(t, _)| *t == text) {
        return c;
    }
    let c: &'static CStr = Box::leak(
        std::ffi::CString::new(text)
            .expect("descriptions have no NUL")
            .into_boxed_c_str(),
    );
    made.push((text, c));
    c
}
