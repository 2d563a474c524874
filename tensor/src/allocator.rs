//! Keeps freed tensor storage in the process heap for reuse.
//!
//! Every op allocates its output and most intermediate tensors die within a step. glibc hands
//! each block of 128 KiB or more straight back to the kernel with `munmap` and takes a fresh
//! mapping (and a page fault per 4 KiB) for the next one, so large elementwise ops run at a
//! quarter of memory bandwidth. Raising the mmap and trim thresholds makes freed blocks stay in
//! the heap, where the next step's tensors of the same sizes reuse them: the role PyTorch's
//! caching allocator plays. Binaries call [`keep_freed_memory`] once at start-up.
//!
//! A step's tensors span hundreds of megabytes, each read or written once or twice an op, so
//! with 4 KiB pages their address translations keep missing the TLB. [`keep_freed_memory`] also
//! marks the heap for transparent huge pages (2 MiB; the kernel here gives them only where asked,
//! `madvise` mode) and grows it 32 MiB at a time, so that its new pages fault in whole; binaries
//! that declare [`HugePages`] their global allocator mark every large block too, wherever it
//! lies (the worker threads' arenas), and have pages faulted small before collapsed. PyTorch
//! leaves this off unless `THP_MEM_ALLOC_ENABLE=1`. The MART step took 6% (ResNet-18) and 10%
//! (SmallCNN) less time with both (Intel Xeon, 2 threads, alternated with the binary before).

/// Largest block still served by the heap rather than its own mapping, and heap slack kept
/// rather than trimmed: 1 GiB each.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const KEEP_BYTES: libc::c_int = 1 << 30;

/// Bytes the heap grows by beyond each request: many huge pages at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HEAP_GROWTH_BYTES: libc::c_int = 32 << 20;

/// Tells the allocator to keep freed blocks up to 1 GiB for reuse and to grow the heap
/// `HEAP_GROWTH_BYTES` at a time, and marks the heap for transparent huge pages (glibc on
/// Linux; elsewhere nothing to do). The mark covers the heap as it grows: the break extends
/// the marked mapping. Returns whether the allocator settings took effect.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before the program
        // allocates tensors and takes plain integers.
        let kept = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP_BYTES) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_BYTES) == 1
                && libc::mallopt(libc::M_TOP_PAD, HEAP_GROWTH_BYTES) == 1
        };
        // The heap from the page of a fresh block (inside it) to the break.
        // SAFETY: a one-byte block, freed at once; `sbrk(0)` only reads the break; the advice
        // changes how the heap's pages are backed, never their contents.
        unsafe {
            let probe = libc::malloc(1);
            let (start, top) = (
                (probe as usize).next_multiple_of(4096),
                libc::sbrk(0) as usize,
            );
            if !probe.is_null() && top > start {
                libc::madvise(start as *mut libc::c_void, top - start, libc::MADV_HUGEPAGE);
            }
            libc::free(probe);
        }
        kept
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// A transparent huge page.
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Blocks of at least this many bytes are marked for huge pages.
const ADVISED_BYTES: usize = 256 << 10;

/// `MADV_COLLAPSE` (Linux 6.1 and later; older kernels refuse it, which changes nothing): back
/// the range with huge pages now, copying pages faulted small.
#[cfg(target_os = "linux")]
const MADV_COLLAPSE: libc::c_int = 25;

/// The system allocator, with the 2 MiB pages under each block of at least `ADVISED_BYTES`
/// marked for transparent huge pages and collapsed into them (Linux only; elsewhere the system
/// allocator as it is): the pages its block shares with neighbours too, all of them the
/// process's own heap. Two system calls per large block (cheap where its pages are huge
/// already, as a reused block's are), none for the small ones.
pub struct HugePages;

// SAFETY: every method hands the request to `System` unchanged and returns its block;
// `advise_huge_pages` only changes how pages are backed, never their contents.
unsafe impl std::alloc::GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let block = unsafe { std::alloc::System.alloc(layout) };
        advise_huge_pages(block, layout.size());
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { std::alloc::System.dealloc(block, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.size() < ADVISED_BYTES {
            // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
            return unsafe { std::alloc::System.alloc_zeroed(layout) };
        }
        // Advised before the zeros are written, so that they fault in huge pages.
        // SAFETY: the caller's contract for `alloc`; the block, when there is one, holds
        // `layout.size()` bytes to write.
        unsafe {
            let block = std::alloc::System.alloc(layout);
            if !block.is_null() {
                advise_huge_pages(block, layout.size());
                block.write_bytes(0, layout.size());
            }
            block
        }
    }

    unsafe fn realloc(
        &self,
        block: *mut u8,
        layout: std::alloc::Layout,
        new_size: usize,
    ) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let moved = unsafe { std::alloc::System.realloc(block, layout, new_size) };
        advise_huge_pages(moved, new_size);
        moved
    }
}

/// Marks the 2 MiB pages under the `len` bytes at `block` for transparent huge pages and
/// collapses them into huge pages (a failure only leaves them small).
fn advise_huge_pages(block: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    if !block.is_null() && len >= ADVISED_BYTES {
        let start = block as usize / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        let end = (block as usize + len).next_multiple_of(HUGE_PAGE_BYTES);
        // SAFETY: `start..end` covers the block and the rest of its huge pages, memory of this
        // process's heap (or past its end, which the kernel refuses); the advice changes how
        // the pages are backed, never their contents.
        unsafe {
            let range = (start as *mut libc::c_void, end - start);
            libc::madvise(range.0, range.1, libc::MADV_HUGEPAGE);
            libc::madvise(range.0, range.1, MADV_COLLAPSE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (block, len);
}
