//! `Gpu`: one device, real (CUDA through cudarc) or simulated, behind one API, with a caching
//! allocator in front of both; and the [`GpuBuffer`]s it hands out, which return to it when
//! dropped.

use super::backend::Backend;
use super::buffer_cache::BufferCache;
use super::driver::CudaDevice;
use super::error::GpuError;
use super::launch::{KernelArg, LaunchConfig};
use super::module::PtxModule;
use crate::device::Device;
use ptx_sim::SimDevice;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A handle to one GPU. Cloning is cheap; every buffer keeps its device alive.
#[derive(Clone)]
pub struct Gpu {
    inner: Arc<GpuInner>,
}

struct GpuInner {
    backend: Backend,
    cache: Mutex<BufferCache>,
    checks: Mutex<IndexChecks>,
    reads: AtomicU64,
    usage: Mutex<Usage>,
}

/// Bytes of device memory held by live buffers, now and at most (the cache's free buffers not
/// counted, as `torch.cuda.memory_allocated` does not).
#[derive(Default)]
struct Usage {
    in_use: usize,
    peak: usize,
}

/// Index checks that run on the device and are reported at the next read (see
/// [`Gpu::index_check`]).
#[derive(Default)]
struct IndexChecks {
    /// The fault word: three u32s (bad values, the largest, `u32::MAX -` the earliest check).
    word: Option<u64>,
    /// The message of each check since the last read, `{value}` standing for the bad value.
    pending: Vec<String>,
}

/// Bytes of the fault word.
const FAULT_WORD_BYTES: usize = 12;

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
                checks: Mutex::new(IndexChecks::default()),
                reads: AtomicU64::new(0),
                usage: Mutex::new(Usage::default()),
            }),
        }
    }

    /// The device's name as the CLI spells it: `cuda:0` or `sim`.
    pub fn name(&self) -> String {
        self.device().to_string()
    }

    /// The device this handle drives.
    pub fn device(&self) -> Device {
        self.inner.backend.device()
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
    ///
    /// The simulator gets exact sizes and no reuse instead: it checks every access against its
    /// allocation, and size-class slack would hide a kernel that reads a few bytes past its
    /// tensor.
    pub fn alloc(&self, bytes: usize) -> Result<GpuBuffer, GpuError> {
        if self.is_sim() {
            let ptr = self.alloc_raw(bytes.max(1))?;
            self.count_in_use(bytes);
            return Ok(GpuBuffer::new(self.clone(), ptr, bytes, bytes));
        }
        let class = BufferCache::size_class(bytes);
        let cached = self.inner.cache.lock().unwrap().take(class);
        let ptr = match cached {
            Some(ptr) => ptr,
            None => match self.alloc_raw(class) {
                Ok(ptr) => ptr,
                Err(GpuError::OutOfMemory { .. }) => {
                    self.empty_cache()?;
                    self.alloc_raw(class)?
                }
                Err(other) => return Err(other),
            },
        };
        self.count_in_use(class);
        Ok(GpuBuffer::new(self.clone(), ptr, bytes, class))
    }

    fn count_in_use(&self, bytes: usize) {
        let mut usage = self.inner.usage.lock().unwrap();
        usage.in_use += bytes;
        usage.peak = usage.peak.max(usage.in_use);
    }

    /// The most device memory live buffers have held at once (`torch.cuda.max_memory_allocated`
    /// in spirit: sizes as allocated, rounded to their size class; cached free buffers excluded).
    pub fn peak_bytes_in_use(&self) -> usize {
        self.inner.usage.lock().unwrap().peak
    }

    fn alloc_raw(&self, bytes: usize) -> Result<u64, GpuError> {
        self.inner.backend.alloc(bytes)
    }

    /// Returns a dropped buffer's memory to the cache (called by `GpuBuffer::drop`).
    pub(crate) fn recycle(&self, ptr: u64, class: usize) {
        self.inner.usage.lock().unwrap().in_use -= class;
        if self.is_sim() {
            self.free_raw(ptr);
        } else {
            self.inner.cache.lock().unwrap().put(class, ptr);
        }
    }

    /// Frees every cached buffer back to the device, after waiting for the kernels already
    /// launched: `cuMemFree` does not wait, and a queued kernel may still use a buffer that its
    /// tensor dropped into the cache. An error (a kernel fault) leaves the cache as it was.
    pub fn empty_cache(&self) -> Result<(), GpuError> {
        self.inner.backend.synchronize()?;
        let freed = self.inner.cache.lock().unwrap().drain();
        for ptr in freed {
            self.free_raw(ptr);
        }
        Ok(())
    }

    fn free_raw(&self, ptr: u64) {
        self.inner.backend.free(ptr);
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
        self.write_raw(buffer.ptr(), bytes)
    }

    /// Copies the start of `buffer` into `out` (waits for every launched kernel first). A failed
    /// index check of an earlier kernel is reported here.
    pub fn read(&self, buffer: &GpuBuffer, out: &mut [u8]) -> Result<(), GpuError> {
        assert!(
            out.len() <= buffer.len(),
            "Gpu::read: {} bytes asked of a buffer of {}",
            out.len(),
            buffer.len()
        );
        self.inner.reads.fetch_add(1, Ordering::Relaxed);
        self.read_raw(buffer.ptr(), out)?;
        self.take_index_fault()
    }

    /// How many times the host has read from this device. Each read waits for every launched
    /// kernel, so a training step should read only the numbers it prints (tests count them).
    pub fn host_reads(&self) -> u64 {
        self.inner.reads.load(Ordering::Relaxed)
    }

    fn read_raw(&self, ptr: u64, out: &mut [u8]) -> Result<(), GpuError> {
        self.inner.backend.read(ptr, out)
    }

    fn write_raw(&self, ptr: u64, bytes: &[u8]) -> Result<(), GpuError> {
        self.inner.backend.write(ptr, bytes)
    }

    /// Registers an index check that a kernel runs on the device: returns the address of the
    /// device's fault word, where the kernel records bad values, and the check's number. The
    /// check is deferred, like PyTorch's device-side asserts: reading a flag back at once would
    /// make every gather wait for the GPU. `message` names the op, with `{value}` standing for
    /// the bad value; it becomes the error of the next read.
    pub(crate) fn index_check(&self, message: String) -> Result<(u64, u32), GpuError> {
        let mut checks = self.inner.checks.lock().unwrap();
        let word = match checks.word {
            Some(word) => word,
            None => {
                let word = self.alloc_raw(FAULT_WORD_BYTES)?;
                self.write_raw(word, &[0; FAULT_WORD_BYTES])?;
                checks.word = Some(word);
                word
            }
        };
        checks.pending.push(message);
        let check = u32::try_from(checks.pending.len() - 1).unwrap_or(u32::MAX);
        Ok((word, check))
    }

    /// After a synchronising read: the earliest failed index check since the last one, as an
    /// error (and the fault word cleared for the next).
    fn take_index_fault(&self) -> Result<(), GpuError> {
        let mut checks = self.inner.checks.lock().unwrap();
        let Some(word) = checks.word else {
            return Ok(());
        };
        if checks.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut checks.pending);
        let mut bytes = [0u8; FAULT_WORD_BYTES];
        self.read_raw(word, &mut bytes)?;
        let field =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let (bad, largest, earliest) = (field(0), field(4), u32::MAX - field(8));
        if bad == 0 {
            return Ok(());
        }
        self.write_raw(word, &[0; FAULT_WORD_BYTES])?;
        let message = pending
            .get(earliest as usize)
            .map_or("an index out of range".to_string(), |m| {
                m.replace("{value}", &largest.to_string())
            });
        Err(GpuError::Kernel {
            kernel: "index check".to_string(),
            message: format!(
                "{message} ({bad} value(s) out of range, found on {} and reported at this read)",
                self.device()
            ),
        })
    }

    /// Launches `kernel` of `module` (loaded on first use) with `args` in declaration order.
    pub fn launch(
        &self,
        module: &'static PtxModule,
        kernel: &str,
        config: LaunchConfig,
        args: &[KernelArg],
    ) -> Result<(), GpuError> {
        self.inner.backend.launch(module, kernel, config, args)
    }

    /// Waits until every launched kernel has finished (and reports a fault of any of them, a
    /// failed index check included).
    pub fn synchronize(&self) -> Result<(), GpuError> {
        self.inner.backend.synchronize()?;
        self.take_index_fault()
    }
}

impl Drop for GpuInner {
    fn drop(&mut self) {
        // As in `empty_cache`: wait for queued kernels before freeing what they may use. A
        // device that cannot synchronise (a kernel faulted) frees nothing; the context's
        // memory goes when the context does.
        if self.backend.synchronize().is_err() {
            return;
        }
        let mut freed = self
            .cache
            .get_mut()
            .map(|cache| cache.drain())
            .unwrap_or_default();
        freed.extend(self.checks.get_mut().ok().and_then(|checks| checks.word));
        for ptr in freed {
            self.backend.free(ptr);
        }
    }
}

impl fmt::Debug for Gpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gpu({})", self.name())
    }
}

/// A block of device memory. Dropping it returns the memory to its device's cache.
pub struct GpuBuffer {
    gpu: Gpu,
    ptr: u64,
    len: usize,
    class: usize,
}

impl GpuBuffer {
    fn new(gpu: Gpu, ptr: u64, len: usize, class: usize) -> Self {
        GpuBuffer {
            gpu,
            ptr,
            len,
            class,
        }
    }

    /// The device address, as kernels take it (`.param .u64`).
    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    /// The size asked for, in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-byte buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device the buffer lives on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        self.gpu.recycle(self.ptr, self.class);
    }
}
