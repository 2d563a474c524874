//! The cache that reuses device buffers: allocating on a GPU is slow (and synchronises), so a
//! freed buffer goes to a free list keyed by size class, as PyTorch's caching allocator does.

use std::collections::HashMap;

/// Free buffers by size class.
#[derive(Default)]
pub(crate) struct BufferCache {
    free: HashMap<usize, Vec<u64>>,
    bytes: usize,
}

impl BufferCache {
    /// The size actually allocated for a request: a multiple of 512 bytes up to 1 MiB, then one of
    /// four steps per power of two (at most 25% slack), so that similar sizes share buffers.
    pub(crate) fn size_class(bytes: usize) -> usize {
        const SMALL: usize = 512;
        if bytes <= 1 << 20 {
            return bytes.max(1).div_ceil(SMALL) * SMALL;
        }
        let octave = 1usize << (usize::BITS - 1 - bytes.leading_zeros());
        let step = octave / 4;
        bytes.div_ceil(step) * step
    }

    pub(crate) fn take(&mut self, class: usize) -> Option<u64> {
        let ptr = self.free.get_mut(&class)?.pop()?;
        self.bytes -= class;
        Some(ptr)
    }

    pub(crate) fn put(&mut self, class: usize, ptr: u64) {
        self.free.entry(class).or_default().push(ptr);
        self.bytes += class;
    }

    pub(crate) fn drain(&mut self) -> Vec<u64> {
        self.bytes = 0;
        self.free.drain().flat_map(|(_, ptrs)| ptrs).collect()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::BufferCache;

    #[test]
    fn size_classes_round_up_with_bounded_slack() {
        assert_eq!(BufferCache::size_class(1), 512);
        assert_eq!(BufferCache::size_class(512), 512);
        assert_eq!(BufferCache::size_class(513), 1024);
        assert_eq!(BufferCache::size_class(1 << 20), 1 << 20);
        assert_eq!(
            BufferCache::size_class((1 << 20) + 1),
            (1 << 20) + (1 << 18)
        );
        for bytes in [3_000_001usize, 77_777_777, 1 << 30] {
            let class = BufferCache::size_class(bytes);
            assert!(
                class >= bytes && class as f64 <= bytes as f64 * 1.25,
                "{bytes} -> {class}"
            );
        }
    }
}
