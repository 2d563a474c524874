//! Launch geometry and kernel arguments, as `cuLaunchKernel` takes them: the simulator runs a
//! launch described by these, and the `tensor` crate's CUDA driver passes the same values to a
//! real GPU.

/// A kernel launch's grid, block and dynamic shared memory, as `cuLaunchKernel` takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks in x, y, z.
    pub grid: (u32, u32, u32),
    /// Threads per block in x, y, z.
    pub block: (u32, u32, u32),
    /// Bytes of dynamic (`.extern .shared`) shared memory per block.
    pub shared_bytes: u32,
}

impl LaunchConfig {
    /// One thread per element: `ceil(n / block)` blocks of `block` threads in x.
    pub fn linear(n: usize, block: u32) -> Self {
        let blocks = n.div_ceil(block as usize).max(1);
        let blocks = u32::try_from(blocks).expect("LaunchConfig::linear: more than 2^32 blocks");
        LaunchConfig {
            grid: (blocks, 1, 1),
            block: (block, 1, 1),
            shared_bytes: 0,
        }
    }

    /// Threads per block.
    pub fn threads_per_block(&self) -> u32 {
        self.block.0 * self.block.1 * self.block.2
    }
}

/// One kernel parameter, in the order the `.entry` declares them. Device pointers are `U64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KernelArg {
    /// A `.param .u32` (or `.b32`).
    U32(u32),
    /// A `.param .s32`.
    S32(i32),
    /// A `.param .u64`: a device address or a 64-bit count.
    U64(u64),
    /// A `.param .f32`.
    F32(f32),
}

impl KernelArg {
    /// The little-endian bytes the parameter occupies.
    pub fn to_le_bytes(self) -> Vec<u8> {
        match self {
            KernelArg::U32(v) => v.to_le_bytes().to_vec(),
            KernelArg::S32(v) => v.to_le_bytes().to_vec(),
            KernelArg::U64(v) => v.to_le_bytes().to_vec(),
            KernelArg::F32(v) => v.to_le_bytes().to_vec(),
        }
    }
}

impl From<u32> for KernelArg {
    fn from(v: u32) -> Self {
        KernelArg::U32(v)
    }
}

impl From<i32> for KernelArg {
    fn from(v: i32) -> Self {
        KernelArg::S32(v)
    }
}

impl From<u64> for KernelArg {
    fn from(v: u64) -> Self {
        KernelArg::U64(v)
    }
}

impl From<f32> for KernelArg {
    fn from(v: f32) -> Self {
        KernelArg::F32(v)
    }
}
