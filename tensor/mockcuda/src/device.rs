//! One mock device: its memory, the launches queued on its stream, and its sticky fault.
//!
//! As on a GPU, a launch only queues work: it runs at the next synchronising call (a stream or
//! context synchronisation, or a synchronous copy), and a fault it hits is reported there, late,
//! and then by every later call (the context is unusable). Freeing memory that a queued launch
//! still takes as a parameter is caught as such a fault, with the reason in the error string.

use crate::codes::{Code, CuResult, fault_code};
use crate::sim::{Kernel, Memory, memory_at};
use ptx_sim::LaunchConfig;
use std::collections::{BTreeMap, VecDeque};

/// Where device 0's memory starts; device `d` starts `d` times [`DEVICE_STRIDE`] above.
pub const FIRST_ADDRESS: u64 = 0x7f00_0000_0000;

/// The distance between two devices' address ranges (1 TiB: no allocation reaches the next).
pub const DEVICE_STRIDE: u64 = 1 << 40;

/// A launch waiting for the next synchronising call.
pub struct Launch {
    /// The kernel.
    pub kernel: Kernel,
    /// The parameter block, laid out as the module's `.param` list says.
    pub params: Vec<u8>,
    /// Grid, block and dynamic shared memory.
    pub config: LaunchConfig,
}

/// A fault that made the context unusable: its code and what happened.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The sticky code every later call returns.
    pub code: Code,
    /// Which launch faulted, where and why.
    pub detail: String,
}

/// The state of one device.
pub struct DeviceState {
    ordinal: usize,
    memory: Memory,
    /// Live allocations: start address to size.
    allocations: BTreeMap<u64, usize>,
    /// Bytes allocated now, and the most the device may hold.
    in_use: usize,
    capacity: usize,
    queue: VecDeque<Launch>,
    fault: Option<Fault>,
    /// Primary-context references (`cuDevicePrimaryCtxRetain` minus releases).
    pub retained: usize,
    /// Context flags (`cuCtxSetFlags`).
    pub flags: u32,
}

impl DeviceState {
    /// Device `ordinal` with `capacity` bytes of memory.
    pub fn new(ordinal: usize, capacity: usize) -> Self {
        DeviceState {
            ordinal,
            memory: memory_at(FIRST_ADDRESS + ordinal as u64 * DEVICE_STRIDE),
            allocations: BTreeMap::new(),
            in_use: 0,
            capacity,
            queue: VecDeque::new(),
            fault: None,
            retained: 0,
            flags: 0,
        }
    }

    /// Everything a destroyed primary context loses: memory, queued work, the sticky fault.
    pub fn reset(&mut self) {
        *self = DeviceState::new(self.ordinal, self.capacity);
    }

    /// The sticky fault, if one happened.
    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// Fails with the sticky code once the context is unusable.
    pub fn check(&self) -> CuResult<()> {
        self.fault.as_ref().map_or(Ok(()), |f| Err(f.code))
    }

    /// Launches queued and not yet run.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// `cuMemAlloc`: does not wait for queued work.
    pub fn alloc(&mut self, bytes: usize) -> CuResult<u64> {
        self.check()?;
        if bytes == 0 {
            return Err(Code::CUDA_ERROR_INVALID_VALUE);
        }
        if self.in_use + bytes > self.capacity {
            return Err(Code::CUDA_ERROR_OUT_OF_MEMORY);
        }
        let ptr = self
            .memory
            .alloc(bytes)
            .ok_or(Code::CUDA_ERROR_OUT_OF_MEMORY)?;
        self.allocations.insert(ptr, bytes);
        self.in_use += bytes;
        Ok(ptr)
    }

    /// `cuMemFree`: does not wait for queued work either, so freeing a buffer a queued launch
    /// takes is a fault (reported late, as the launch's illegal access would be).
    pub fn free(&mut self, ptr: u64) -> CuResult<()> {
        self.check()?;
        let size = *self
            .allocations
            .get(&ptr)
            .ok_or(Code::CUDA_ERROR_INVALID_VALUE)?;
        if let Some(user) = self.queue.iter().find(|l| takes(l, ptr, size)) {
            self.fault = Some(Fault {
                code: Code::CUDA_ERROR_ILLEGAL_ADDRESS,
                detail: format!(
                    "cuMemFree of {size} bytes at {ptr:#x} on device {} while a queued launch of \
                     `{}` still takes it: synchronise before freeing",
                    self.ordinal,
                    user.kernel.name()
                ),
            });
            self.queue.clear();
        }
        self.allocations.remove(&ptr);
        self.memory.free(ptr);
        self.in_use -= size;
        Ok(())
    }

    /// `cuMemcpyHtoD`: a synchronous copy, after every queued launch.
    pub fn write(&mut self, ptr: u64, bytes: &[u8]) -> CuResult<()> {
        self.flush()?;
        let target = self
            .memory
            .bytes_mut(ptr, bytes.len())
            .ok_or(Code::CUDA_ERROR_INVALID_VALUE)?;
        target.copy_from_slice(bytes);
        Ok(())
    }

    /// `cuMemcpyDtoH`: a synchronous copy, after every queued launch.
    pub fn read(&mut self, ptr: u64, out: &mut [u8]) -> CuResult<()> {
        self.flush()?;
        let source = self
            .memory
            .bytes(ptr, out.len())
            .ok_or(Code::CUDA_ERROR_INVALID_VALUE)?;
        out.copy_from_slice(source);
        Ok(())
    }

    /// `cuLaunchKernel`: queues the launch (the caller checked its geometry).
    pub fn enqueue(&mut self, launch: Launch) -> CuResult<()> {
        self.check()?;
        self.queue.push_back(launch);
        Ok(())
    }

    /// Runs every queued launch in order (a synchronisation). The first fault becomes sticky and
    /// drops the rest of the queue.
    pub fn flush(&mut self) -> CuResult<()> {
        self.check()?;
        while let Some(launch) = self.queue.pop_front() {
            if let Err(why) = launch
                .kernel
                .run(&launch.params, &launch.config, &mut self.memory)
            {
                self.fault = Some(Fault {
                    code: fault_code(&why),
                    detail: format!(
                        "kernel `{}` on device {}: {why}",
                        launch.kernel.name(),
                        self.ordinal
                    ),
                });
                self.queue.clear();
            }
            self.check()?;
        }
        Ok(())
    }
}

/// True when one of the launch's 8-byte parameters points into the `size` bytes at `ptr`.
fn takes(launch: &Launch, ptr: u64, size: usize) -> bool {
    launch.kernel.params().iter().any(|slot| {
        slot.size == 8 && {
            let bytes = &launch.params[slot.offset..slot.offset + 8];
            let value = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
            value >= ptr && value <= ptr + size as u64
        }
    })
}
