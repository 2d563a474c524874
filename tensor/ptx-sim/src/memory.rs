//! Simulated global memory: separate allocations at well-separated addresses, every access
//! checked to lie inside one allocation.
//!
//! Addresses start at [`FIRST_ADDRESS`], are 256-byte aligned (as `cuMemAlloc` guarantees) and
//! leave a gap of at least [`GAP`] unmapped bytes after each allocation, so an index that runs
//! past the end of one buffer faults instead of landing in the next. Addresses are never reused,
//! so a stale pointer to a freed buffer faults too.

/// The address of the first allocation (a typical device address, far from shared memory).
pub const FIRST_ADDRESS: u64 = 0x7f00_0000_0000;

/// Unmapped bytes after each allocation.
pub const GAP: u64 = 64 * 1024;

/// Alignment of every allocation.
pub const ALIGN: u64 = 256;

/// Where an access lies: found once, then used for the race check and the bytes.
pub struct Place {
    /// Index of the allocation.
    index: usize,
    /// The allocation's address.
    pub start: u64,
    /// The allocation's size in bytes.
    pub size: usize,
    /// Offset of the access in the allocation.
    pub offset: usize,
    /// Bytes accessed.
    pub len: usize,
}

/// One allocation.
struct Allocation {
    start: u64,
    data: Vec<u8>,
}

/// All live allocations, sorted by address (new ones always go above the old ones).
pub struct GlobalMemory {
    /// The live allocations, in address order.
    allocations: Vec<Allocation>,
    /// Where the next allocation starts.
    next: u64,
    /// Index of the allocation the last access hit: kernels mostly touch a few buffers.
    last: usize,
}

impl Default for GlobalMemory {
    fn default() -> Self {
        GlobalMemory {
            allocations: Vec::new(),
            next: FIRST_ADDRESS,
            last: 0,
        }
    }
}

impl GlobalMemory {
    /// Empty memory whose first allocation starts at `first` (rounded up to [`ALIGN`]): devices
    /// that must not share addresses (the mock driver's several devices) start far apart.
    pub fn starting_at(first: u64) -> Self {
        GlobalMemory {
            next: first.next_multiple_of(ALIGN),
            ..GlobalMemory::default()
        }
    }

    /// A new allocation of `bytes` bytes, all 0xFF (NaN as f32), returning its address; `None`
    /// when the host cannot provide the memory.
    pub fn alloc(&mut self, bytes: usize) -> Option<u64> {
        let mut data = Vec::new();
        data.try_reserve_exact(bytes).ok()?;
        data.resize(bytes, 0xFF);
        let start = self.next;
        self.next = (start + bytes as u64 + GAP).next_multiple_of(ALIGN);
        self.allocations.push(Allocation { start, data });
        Some(start)
    }

    /// Frees the allocation starting at `ptr`; anything else is ignored (as the skeleton's
    /// `free` documents: freeing never fails).
    pub fn free(&mut self, ptr: u64) {
        if let Ok(i) = self.allocations.binary_search_by_key(&ptr, |a| a.start) {
            self.allocations.remove(i);
            self.last = 0;
        }
    }

    /// The allocation index and offset of `len` bytes at `addr`, if they lie inside one
    /// allocation.
    fn locate(&mut self, addr: u64, len: usize) -> Option<(usize, usize)> {
        let inside = |a: &Allocation| {
            addr >= a.start
                && addr - a.start <= a.data.len() as u64
                && (addr - a.start) as usize + len <= a.data.len()
        };
        if let Some(a) = self.allocations.get(self.last)
            && inside(a)
        {
            return Some((self.last, (addr - a.start) as usize));
        }
        let i = self
            .allocations
            .partition_point(|a| a.start <= addr)
            .checked_sub(1)?;
        let a = &self.allocations[i];
        if inside(a) {
            self.last = i;
            Some((i, (addr - a.start) as usize))
        } else {
            None
        }
    }

    /// Where `len` bytes at `addr` lie, if inside one allocation.
    pub fn place(&mut self, addr: u64, len: usize) -> Option<Place> {
        let (index, offset) = self.locate(addr, len)?;
        let a = &self.allocations[index];
        Some(Place {
            index,
            start: a.start,
            size: a.data.len(),
            offset,
            len,
        })
    }

    /// The bytes at a place found by [`GlobalMemory::place`] (no allocation changed since).
    pub fn slice(&self, place: &Place) -> &[u8] {
        &self.allocations[place.index].data[place.offset..place.offset + place.len]
    }

    /// As [`GlobalMemory::slice`], writable.
    pub fn slice_mut(&mut self, place: &Place) -> &mut [u8] {
        &mut self.allocations[place.index].data[place.offset..place.offset + place.len]
    }

    /// The `len` bytes at `addr`, if inside one allocation.
    pub fn bytes(&mut self, addr: u64, len: usize) -> Option<&[u8]> {
        let (i, off) = self.locate(addr, len)?;
        Some(&self.allocations[i].data[off..off + len])
    }

    /// The `len` bytes at `addr`, writable, if inside one allocation.
    pub fn bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let (i, off) = self.locate(addr, len)?;
        Some(&mut self.allocations[i].data[off..off + len])
    }
}
