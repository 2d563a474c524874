//! Shared by the simulator's test files: the PTX module type, buffers of
//! 32-bit words in simulated memory, launch shapes, and `ADD`, a guarded elementwise kernel that
//! several files launch.
//!
//! Every kernel in these tests is valid PTX except the deliberately broken ones in
//! `parse_errors.rs`: `MART_SIM_PTX_DIR=/tmp/x cargo test -p ptx-sim` writes each module launched
//! to `/tmp/x/NAME.ptx`, for `ptxas -arch=sm_80` to check.

#![allow(dead_code)]

pub use ptx_sim::module::{PTX_HEADER, PtxModule};
pub use ptx_sim::{KernelArg, LaunchConfig, SimDevice, SimError};

/// An allocation in simulated global memory (never freed: each test uses a fresh device).
pub struct Buffer(u64);

impl Buffer {
    /// The device address, as kernels take it.
    /// The buffer's address as a kernel argument.
    pub fn ptr(&self) -> u64 {
        self.0
    }
}

/// Launches `kernel`, first writing the module's text to `$MART_SIM_PTX_DIR` when set.
pub fn launch(
    sim: &SimDevice,
    module: &'static PtxModule,
    kernel: &str,
    config: LaunchConfig,
    args: &[KernelArg],
) -> Result<(), SimError> {
    if let Some(dir) = std::env::var_os("MART_SIM_PTX_DIR") {
        let path = std::path::Path::new(&dir).join(format!("{}.ptx", module.name()));
        std::fs::write(path, module.ptx()).unwrap();
    }
    sim.launch(module.name(), module.ptx(), kernel, &config, args)
}

/// `bytes` of fresh memory (0xFF bytes until written).
pub fn alloc(sim: &SimDevice, bytes: usize) -> Buffer {
    Buffer(sim.alloc(bytes).unwrap())
}

/// A buffer holding `words` (little-endian).
pub fn upload(sim: &SimDevice, words: &[u32]) -> Buffer {
    let buffer = alloc(sim, words.len() * 4);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    sim.write(buffer.ptr(), &bytes).unwrap();
    buffer
}

/// A buffer of `n` uninitialised 32-bit words.
pub fn scratch(sim: &SimDevice, n: usize) -> Buffer {
    alloc(sim, n * 4)
}

/// The first `n` 32-bit words of `buffer`.
pub fn download(sim: &SimDevice, buffer: &Buffer, n: usize) -> Vec<u32> {
    let mut bytes = vec![0u8; n * 4];
    sim.read(buffer.ptr(), &mut bytes).unwrap();
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The first `n` 64-bit words of `buffer`.
pub fn download64(sim: &SimDevice, buffer: &Buffer, n: usize) -> Vec<u64> {
    let mut bytes = vec![0u8; n * 8];
    sim.read(buffer.ptr(), &mut bytes).unwrap();
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The IEEE bits of each value.
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The f32 each word holds.
pub fn floats(words: &[u32]) -> Vec<f32> {
    words.iter().map(|&w| f32::from_bits(w)).collect()
}

/// A launch of one thread.
pub fn one_thread() -> LaunchConfig {
    one_block(1)
}

/// A launch of one block of `threads` threads in x.
pub fn one_block(threads: u32) -> LaunchConfig {
    LaunchConfig {
        grid: (1, 1, 1),
        block: (threads, 1, 1),
        shared_bytes: 0,
    }
}

pub fn ptr(buffer: &Buffer) -> KernelArg {
    KernelArg::U64(buffer.ptr())
}

/// Same bits, or both NaN (NaN payloads are not specified).
pub fn same_f32(got: f32, want: f32) -> bool {
    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
}

/// The kernel error's message, asserting the launch failed with `SimError::Kernel`.
pub fn kernel_error(result: Result<(), SimError>, kernel: &str) -> String {
    match result {
        Err(SimError::Kernel { kernel: k, message }) => {
            assert_eq!(k, kernel);
            message
        }
        other => panic!("expected a kernel error from `{kernel}`, got {other:?}"),
    }
}

/// A guarded elementwise kernel, `add(a, b, out, n)`: ld.param, cvta, special registers, mad,
/// setp, guard, ld/st.
pub static ADD: PtxModule = PtxModule::new("sim_test_add", add_ptx);

fn add_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry add(.param .u64 a, .param .u64 b, .param .u64 out, .param .u32 n)
{
    .reg .pred %p<2>;
    .reg .b32 %r<6>;
    .reg .f32 %f<4>;
    .reg .b64 %rd<10>;

    ld.param.u64 %rd1, [a];
    ld.param.u64 %rd2, [b];
    ld.param.u64 %rd3, [out];
    ld.param.u32 %r1, [n];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p1, %r5, %r1;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd4, %rd1;
    cvta.to.global.u64 %rd5, %rd2;
    cvta.to.global.u64 %rd6, %rd3;
    mul.wide.u32 %rd7, %r5, 4;
    add.s64 %rd8, %rd4, %rd7;
    ld.global.nc.f32 %f1, [%rd8];
    add.s64 %rd8, %rd5, %rd7;
    ld.global.nc.f32 %f2, [%rd8];
    add.rn.f32 %f3, %f1, %f2;
    add.s64 %rd9, %rd6, %rd7;
    st.global.f32 [%rd9], %f3;
DONE:
    ret;
}
"#
}
