//! `Gpu`: one device, real (CUDA through cudarc) or simulated, behind one API, with a caching
//! allocator in front of both.

use super::buffer::{BufferCache, GpuBuffer};
use super::driver::CudaDevice;
use super::error::GpuError;
use super::launch::{KernelArg, LaunchConfig};
use super::module::PtxModule;
use super::sim::SimDevice;
use crate::device::Device;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A handle to one GPU. Cloning is cheap; every buffer keeps its device alive.
#[derive(Clone)]
pub struct Gpu {
    inner: Arc<GpuInner>,
}

struct GpuInner {
    backend: Backend,
    cache: Mutex<BufferCache>,
}

/// The two kinds of device, as an enum rather than a trait object (DESIGN.md: prefer the enum).
enum Backend {
    Cuda(CudaDevice),
    Sim(SimDevice),
}

impl Gpu {
    /// The PTX simulator: runs every kernel on the CPU, one thread at a time, checking every
    /// memory access. Always available.
    pub fn sim() -> Gpu {
        Gpu::with_backend(Backend::Sim(SimDevice::new()))
    }

    /// CUDA device `ordinal`, or an error saying why not (no driver, no such device).
    pub fn cuda(ordinal: usize) -> Result<Gpu, GpuError> {
        Ok(Gpu::with_backend(Backend::Cuda(CudaDevice::new(ordinal)?)))
    }

    fn with_backend(backend: Backend) -> Gpu {
        Gpu {
            inner: Arc::new(GpuInner {
                backend,
                cache: Mutex::new(BufferCache::default()),
            }),
        }
    }

    /// The device's name as the CLI spells it: `cuda:0` or `sim`.
    pub fn name(&self) -> String {
        self.device().to_string()
    }

    /// The device this handle drives.
    pub fn device(&self) -> Device {
        match &self.inner.backend {
            Backend::Cuda(device) => Device::Cuda(device.ordinal()),
            Backend::Sim(_) => Device::Sim,
        }
    }

    /// True for the simulator.
    pub fn is_sim(&self) -> bool {
        matches!(self.inner.backend, Backend::Sim(_))
    }

    /// True when both handles are the same device.
    pub fn same_device(&self, other: &Gpu) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A buffer of at least `bytes` bytes with unspecified contents, reused from the cache when a
    /// freed buffer of the same size class is there. On out-of-memory the cache is emptied and the
    /// allocation tried once more.
    pub fn alloc(&self, bytes: usize) -> Result<GpuBuffer, GpuError> {
        let class = BufferCache::size_class(bytes);
        let cached = self.inner.cache.lock().unwrap().take(class);
        let ptr = match cached {
            Some(ptr) => ptr,
            None => match self.alloc_raw(class) {
                Ok(ptr) => ptr,
                Err(GpuError::OutOfMemory { .. }) => {
                    self.empty_cache();
                    self.alloc_raw(class)?
                }
                Err(other) => return Err(other),
            },
        };
        Ok(GpuBuffer::new(self.clone(), ptr, bytes, class))
    }

    fn alloc_raw(&self, bytes: usize) -> Result<u64, GpuError> {
        match &self.inner.backend {
            Backend::Cuda(device) => device.alloc(bytes),
            Backend::Sim(device) => device.alloc(bytes),
        }
    }

    /// Returns a dropped buffer's memory to the cache (called by `GpuBuffer::drop`).
    pub(crate) fn recycle(&self, ptr: u64, class: usize) {
        self.inner.cache.lock().unwrap().put(class, ptr);
    }

    /// Frees every cached buffer back to the device.
    pub fn empty_cache(&self) {
        let freed = self.inner.cache.lock().unwrap().drain();
        for ptr in freed {
            self.free_raw(ptr);
        }
    }

    fn free_raw(&self, ptr: u64) {
        match &self.inner.backend {
            Backend::Cuda(device) => device.free(ptr),
            Backend::Sim(device) => device.free(ptr),
        }
    }

    /// Bytes currently held by the cache (freed by tensors, kept for reuse).
    pub fn cached_bytes(&self) -> usize {
        self.inner.cache.lock().unwrap().bytes()
    }

    /// Copies host bytes into the start of `buffer`.
    pub fn write(&self, buffer: &GpuBuffer, bytes: &[u8]) -> Result<(), GpuError> {
        assert!(
            bytes.len() <= buffer.len(),
            "Gpu::write: {} bytes do not fit a buffer of {}",
            bytes.len(),
            buffer.len()
        );
        match &self.inner.backend {
            Backend::Cuda(device) => device.write(buffer.ptr(), bytes),
            Backend::Sim(device) => device.write(buffer.ptr(), bytes),
        }
    }

    /// Copies the start of `buffer` into `out` (waits for every launched kernel first).
    pub fn read(&self, buffer: &GpuBuffer, out: &mut [u8]) -> Result<(), GpuError> {
        assert!(
            out.len() <= buffer.len(),
            "Gpu::read: {} bytes asked of a buffer of {}",
            out.len(),
            buffer.len()
        );
        match &self.inner.backend {
            Backend::Cuda(device) => device.read(buffer.ptr(), out),
            Backend::Sim(device) => device.read(buffer.ptr(), out),
        }
    }

    /// Launches `kernel` of `module` (loaded on first use) with `args` in declaration order.
    pub fn launch(
        &self,
        module: &'static PtxModule,
        kernel: &str,
        config: LaunchConfig,
        args: &[KernelArg],
    ) -> Result<(), GpuError> {
        match &self.inner.backend {
            Backend::Cuda(device) => device.launch(module, kernel, config, args),
            Backend::Sim(device) => {
                device.launch(module.name(), module.ptx(), kernel, &config, args)
            }
        }
    }

    /// Waits until every launched kernel has finished (and reports a fault of any of them).
    pub fn synchronize(&self) -> Result<(), GpuError> {
        match &self.inner.backend {
            Backend::Cuda(device) => device.synchronize(),
            Backend::Sim(_) => Ok(()),
        }
    }
}

impl Drop for GpuInner {
    fn drop(&mut self) {
        let freed = self
            .cache
            .get_mut()
            .map(|cache| cache.drain())
            .unwrap_or_default();
        for ptr in freed {
            match &self.backend {
                Backend::Cuda(device) => device.free(ptr),
                Backend::Sim(device) => device.free(ptr),
            }
        }
    }
}

impl fmt::Debug for Gpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gpu({})", self.name())
    }
}
