//! NCCL, the collective every CUDA cluster runs, through cudarc's `nccl` feature with the
//! library loaded at run time (so mart builds and runs without it). cudarc 0.19 looks for
//! `libnccl.so` but not `libnccl.so.2`, the only name that runtime packages (Debian's libnccl2)
//! and PyPI's nvidia-nccl-cu12 wheel ship: [`link_nccl_and_restart`] handles that.
//!
//! Buffers travel through the GPU: each operation copies the host buffer to a staging buffer
//! on the device, runs the collective there, and copies the result back.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use cudarc::nccl::result::NcclError;
use cudarc::nccl::{Comm, Id, ReduceOp};

use super::Collective;
use super::rendezvous::{ID_BYTES, UniqueId};

/// Set in the environment of the process [`link_nccl_and_restart`] restarts, so it never loops.
const RESTARTED: &str = "MART_NCCL_LINKED";

/// One rank's NCCL communicator, on the legacy default stream of its GPU (the stream the
/// tensor crate's kernels run on, so collectives run in order with them).
pub struct Nccl {
    comm: Comm,
    stream: Arc<CudaStream>,
    staging: RefCell<Option<CudaSlice<f32>>>,
}

/// Whether cudarc can load NCCL.
fn present() -> bool {
    // SAFETY: only tries to open the library by cudarc's names.
    unsafe { cudarc::nccl::sys::is_culib_present() }
}

/// An error naming the NCCL call and NCCL's own description of `e`.
fn nccl_error(call: &str, e: NcclError) -> anyhow::Error {
    // SAFETY: NCCL is loaded (every caller checked `present`); the string is static in NCCL.
    let text = unsafe { CStr::from_ptr(cudarc::nccl::sys::ncclGetErrorString(e.0)) };
    anyhow!("{call} failed: {} ({:?})", text.to_string_lossy(), e.0)
}

/// The path of `libnccl.so.2` when the dynamic loader finds it under that name.
fn versioned_library() -> Option<PathBuf> {
    let name = CString::new("libnccl.so.2").ok()?;
    let symbol = CString::new("ncclGetUniqueId").ok()?;
    // SAFETY: dlopen/dlsym/dladdr with valid C strings; the handle stays open (NCCL is wanted).
    unsafe {
        let handle = libc::dlopen(name.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL);
        if handle.is_null() {
            return None;
        }
        let address = libc::dlsym(handle, symbol.as_ptr());
        let mut info: libc::Dl_info = std::mem::zeroed();
        if address.is_null() || libc::dladdr(address, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        let path = CStr::from_ptr(info.dli_fname).to_str().ok()?;
        std::fs::canonicalize(path).ok()
    }
}

/// Makes NCCL loadable by cudarc: nothing to do when `libnccl.so` is found; when only
/// `libnccl.so.2` is, links it as `libnccl.so` in a folder of its own and restarts this
/// process (same pid, so launchers keep track of it) with that folder on LD_LIBRARY_PATH.
/// Returns only when NCCL is loadable; an error says how to install it otherwise.
pub fn link_nccl_and_restart() -> Result<()> {
    if present() {
        return Ok(());
    }
    let install = "install NCCL (apt install libnccl2, or pip install nvidia-nccl-cu12 and put \
                   its nvidia/nccl/lib folder on LD_LIBRARY_PATH)";
    let Some(target) = versioned_library() else {
        bail!(
            "multi-GPU training needs NCCL, but neither libnccl.so nor libnccl.so.2 loads: {install}"
        );
    };
    if std::env::var_os(RESTARTED).is_some() {
        bail!(
            "NCCL is {} but cudarc does not load it even through a link named libnccl.so on \
             LD_LIBRARY_PATH: {install}",
            target.display()
        );
    }
    // SAFETY: getuid cannot fail.
    let folder = std::env::temp_dir().join(format!("mart-nccl-{}", unsafe { libc::getuid() }));
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    // Ranks on one node race here: each makes its own link and renames it over the shared one.
    let staged = folder.join(format!("libnccl.so.{}", std::process::id()));
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(&target, &staged)
        .and_then(|()| std::fs::rename(&staged, folder.join("libnccl.so")))
        .with_context(|| {
            format!(
                "NCCL is {} but cudarc 0.19 loads only libnccl.so, and linking it as {}/libnccl.so failed",
                target.display(),
                folder.display()
            )
        })?;
    let path = match std::env::var_os("LD_LIBRARY_PATH") {
        Some(old) if !old.is_empty() => {
            let mut path = folder.clone().into_os_string();
            path.push(":");
            path.push(old);
            path
        }
        _ => folder.clone().into_os_string(),
    };
    let exe = std::env::current_exe().context("cannot find this program to restart it")?;
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("LD_LIBRARY_PATH", path)
        .env(RESTARTED, "1")
        .exec();
    Err(error).context("cannot restart mart with NCCL's link on LD_LIBRARY_PATH")
}

impl Nccl {
    /// A fresh NCCL unique id: rank 0 makes it and the rendezvous hands it out.
    pub fn unique_id() -> Result<UniqueId> {
        link_nccl_and_restart()?;
        let id = Id::new().map_err(|e| nccl_error("ncclGetUniqueId", e))?;
        Ok(id.internal().map(|c| c as u8))
    }

    /// Rank `rank` of `world` on CUDA device `ordinal` (already opened by the tensor crate),
    /// joining the communicator of `id`.
    pub fn new(ordinal: usize, rank: usize, world: usize, id: &UniqueId) -> Result<Nccl> {
        link_nccl_and_restart()?;
        let context = CudaContext::new(ordinal)
            .map_err(|e| anyhow!("cannot open cuda:{ordinal} for NCCL: {e}"))?;
        let stream = context.default_stream();
        let internal: [c_char; ID_BYTES] = id.map(|b| b as c_char);
        let comm = Comm::from_rank(stream.clone(), rank, world, Id::uninit(internal))
            .map_err(|e| nccl_error("ncclCommInitRank", e))
            .with_context(|| format!("rank {rank} of {world} joining NCCL on cuda:{ordinal}"))?;
        Ok(Nccl {
            comm,
            stream,
            staging: RefCell::new(None),
        })
    }

    /// Runs `op` on a device copy of `buf`, then copies the result back into `buf`.
    fn on_device(
        &self,
        buf: &mut [f32],
        op: impl FnOnce(&Comm, &mut CudaSlice<f32>) -> Result<()>,
    ) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let copy = |e: cudarc::driver::DriverError| anyhow!("NCCL staging copy: {e}");
        let mut staging = self.staging.borrow_mut();
        if staging.as_ref().is_none_or(|s| s.len() != buf.len()) {
            *staging = Some(self.stream.clone_htod(buf).map_err(copy)?);
        } else if let Some(s) = staging.as_mut() {
            self.stream.memcpy_htod(buf, s).map_err(copy)?;
        }
        let device = staging.as_mut().expect("staging buffer made above");
        op(&self.comm, device)?;
        self.stream.memcpy_dtoh(device, buf).map_err(copy)?;
        self.stream.synchronize().map_err(copy)
    }
}

impl Collective for Nccl {
    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn world(&self) -> usize {
        self.comm.world_size()
    }

    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()> {
        self.on_device(buf, |comm, device| {
            comm.broadcast_in_place(device, root as i32)
                .map(|_| ())
                .map_err(|e| nccl_error("ncclBroadcast", e))
        })
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<()> {
        self.on_device(buf, |comm, device| {
            comm.all_reduce_in_place(device, &ReduceOp::Sum)
                .map(|_| ())
                .map_err(|e| nccl_error("ncclAllReduce", e))
        })
    }
}
