//! Keeps freed tensor storage in the process heap for reuse.
//!
//! Every op allocates its output and most intermediate tensors die within a step. glibc hands
//! each block of 128 KiB or more straight back to the kernel with `munmap` and takes a fresh
//! mapping (and a page fault per 4 KiB) for the next one, so large elementwise ops run at a
//! quarter of memory bandwidth. Raising the mmap and trim thresholds makes freed blocks stay in
//! the heap, where the next step's tensors of the same sizes reuse them: the role PyTorch's
//! caching allocator plays. Binaries call [`keep_freed_memory`] once at start-up.

/// Largest block still served by the heap rather than its own mapping, and heap slack kept
/// rather than trimmed: 1 GiB each.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const KEEP_BYTES: libc::c_int = 1 << 30;

/// Tells the allocator to keep freed blocks up to 1 GiB for reuse (glibc on Linux; elsewhere
/// nothing to do). Returns whether the setting took effect.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before the program
        // allocates tensors and takes plain integers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP_BYTES) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_BYTES) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
