//! [`SimDevice`]: simulated global memory plus the modules parsed so far, and a launch that checks
//! its geometry and arguments as `cuLaunchKernel` does before running the grid.

use crate::error::SimError;
use crate::exec;
use crate::launch::{KernelArg, LaunchConfig};
use crate::memory::GlobalMemory;
use crate::parse;
use crate::program::Module;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most threads a block may have, as on every CUDA GPU since sm_20.
const MAX_THREADS_PER_BLOCK: u32 = 1024;

/// Most shared memory (static plus dynamic) a block may use without the per-kernel opt-in
/// attribute, which the `tensor` crate's CUDA driver does not set: a launch asking for more fails on
/// hardware.
const MAX_SHARED_PER_BLOCK: u32 = 48 * 1024;

/// The PTX simulator device: simulated global memory plus the modules parsed so far.
pub struct SimDevice {
    memory: Mutex<GlobalMemory>,
    modules: Mutex<HashMap<String, Arc<Module>>>,
}

impl SimDevice {
    /// A fresh simulated device with empty memory.
    pub fn new() -> Self {
        SimDevice {
            memory: Mutex::new(GlobalMemory::default()),
            modules: Mutex::new(HashMap::new()),
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, GlobalMemory> {
        // A panic elsewhere while the lock was held cannot leave memory half-updated in a way
        // that matters to a simulator, so a poisoned lock is still usable.
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Allocates `bytes` of simulated global memory (contents: 0xFF bytes, so uninitialised reads
    /// show up as NaN), returning its address.
    pub fn alloc(&self, bytes: usize) -> Result<u64, SimError> {
        self.memory()
            .alloc(bytes)
            .ok_or(SimError::OutOfMemory { bytes })
    }

    /// Frees an allocation.
    pub fn free(&self, ptr: u64) {
        self.memory().free(ptr);
    }

    /// Copies bytes into memory at `ptr` (must lie inside one allocation).
    pub fn write(&self, ptr: u64, bytes: &[u8]) -> Result<(), SimError> {
        let mut memory = self.memory();
        let target = memory
            .bytes_mut(ptr, bytes.len())
            .ok_or(SimError::OutsideAllocation {
                copy: "write",
                ptr,
                len: bytes.len(),
            })?;
        target.copy_from_slice(bytes);
        Ok(())
    }

    /// Copies bytes out of memory at `ptr` (must lie inside one allocation).
    pub fn read(&self, ptr: u64, out: &mut [u8]) -> Result<(), SimError> {
        let mut memory = self.memory();
        let source = memory
            .bytes(ptr, out.len())
            .ok_or(SimError::OutsideAllocation {
                copy: "read",
                ptr,
                len: out.len(),
            })?;
        out.copy_from_slice(source);
        Ok(())
    }

    /// The parsed module called `name`, parsing `ptx` on first use.
    fn module(&self, name: &str, ptx: &str) -> Result<Arc<Module>, SimError> {
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = modules.get(name) {
            return Ok(m.clone());
        }
        let module = Arc::new(parse::parse_module(ptx).map_err(|message| SimError::Ptx {
            module: name.to_string(),
            message,
        })?);
        modules.insert(name.to_string(), module.clone());
        Ok(module)
    }

    /// Parses (once per module name) and runs `kernel` over the whole grid.
    pub fn launch(
        &self,
        module: &str,
        ptx: &str,
        kernel: &str,
        config: &LaunchConfig,
        args: &[KernelArg],
    ) -> Result<(), SimError> {
        let parsed = self.module(module, ptx)?;
        let fail = |message: String| SimError::Kernel {
            kernel: kernel.to_string(),
            message,
        };
        let entry = parsed
            .entry(kernel)
            .ok_or_else(|| fail(format!("module `{module}` has no entry `{kernel}`")))?;
        check_config(config).map_err(fail)?;
        let shared = entry.static_shared as u64 + config.shared_bytes as u64;
        if shared > MAX_SHARED_PER_BLOCK as u64 {
            return Err(fail(format!(
                "a block of `{kernel}` needs {shared} bytes of shared memory ({} static + {} \
                 dynamic); the limit is {MAX_SHARED_PER_BLOCK}",
                entry.static_shared, config.shared_bytes
            )));
        }
        if args.len() != entry.params.len() {
            return Err(fail(format!(
                "`{kernel}` takes {} parameters, the launch passed {}",
                entry.params.len(),
                args.len()
            )));
        }
        let mut params = vec![0u8; entry.param_bytes as usize];
        for (param, arg) in entry.params.iter().zip(args) {
            let bytes = arg.to_le_bytes();
            let float = matches!(arg, KernelArg::F32(_));
            if bytes.len() != param.size as usize || float != param.float {
                return Err(fail(format!(
                    "parameter `{}` of `{kernel}` is a {}-byte {}, the launch passed {arg:?}",
                    param.name,
                    param.size,
                    if param.float { "float" } else { "integer" }
                )));
            }
            let at = param.offset as usize;
            params[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        let mut memory = self.memory();
        exec::run_grid(&parsed, entry, &params, config, &mut memory).map_err(fail)
    }
}

/// Rejects launch geometry that `cuLaunchKernel` rejects.
fn check_config(config: &LaunchConfig) -> Result<(), String> {
    let (gx, gy, gz) = config.grid;
    let (bx, by, bz) = config.block;
    if gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 {
        return Err(format!(
            "empty launch: grid {:?}, block {:?}",
            config.grid, config.block
        ));
    }
    let threads = bx as u64 * by as u64 * bz as u64;
    if threads > MAX_THREADS_PER_BLOCK as u64 || bz > 64 {
        return Err(format!(
            "block {:?} has {threads} threads; at most {MAX_THREADS_PER_BLOCK} (and z at most 64)",
            config.block
        ));
    }
    if gy > 65535 || gz > 65535 {
        return Err(format!("grid {:?}: y and z are at most 65535", config.grid));
    }
    Ok(())
}

impl Default for SimDevice {
    fn default() -> Self {
        Self::new()
    }
}
