//! The PTX simulator, instruction group by instruction group: hand-written PTX kernels run on
//! `Gpu::sim()` and checked against values computed here; then barriers, shared memory, grids,
//! atomics, and the faults it must report as errors instead of panicking.
//!
//! Every kernel here is valid PTX (each was assembled with `ptxas -arch=sm_80`).

use tensor::cuda::module::PTX_HEADER;
use tensor::cuda::{Gpu, GpuBuffer, GpuError, KernelArg, LaunchConfig, PtxModule};

/// A buffer holding `values` (as little-endian 32-bit words).
fn upload(gpu: &Gpu, words: &[u32]) -> GpuBuffer {
    let buffer = gpu.alloc(words.len() * 4).unwrap();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    gpu.write(&buffer, &bytes).unwrap();
    buffer
}

/// A buffer of `n` uninitialised 32-bit words.
fn scratch(gpu: &Gpu, n: usize) -> GpuBuffer {
    gpu.alloc(n * 4).unwrap()
}

/// The first `n` 32-bit words of `buffer`.
fn download(gpu: &Gpu, buffer: &GpuBuffer, n: usize) -> Vec<u32> {
    let mut bytes = vec![0u8; n * 4];
    gpu.read(buffer, &mut bytes).unwrap();
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn f32_bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn floats(words: &[u32]) -> Vec<f32> {
    words.iter().map(|&w| f32::from_bits(w)).collect()
}

fn one_block(threads: u32) -> LaunchConfig {
    LaunchConfig {
        grid: (1, 1, 1),
        block: (threads, 1, 1),
        shared_bytes: 0,
    }
}

fn ptr(buffer: &GpuBuffer) -> KernelArg {
    KernelArg::U64(buffer.ptr())
}

// ---------------------------------------------------------------------------------------------
// A guarded elementwise kernel: ld.param, cvta, special registers, mad, setp, guard, ld/st.

static ADD: PtxModule = PtxModule::new("sim_test_add", add_ptx);

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

#[test]
fn sim_guarded_elementwise_add() {
    let gpu = Gpu::sim();
    let n = 1000;
    let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32).collect();
    let (da, db) = (upload(&gpu, &f32_bits(&a)), upload(&gpu, &f32_bits(&b)));
    let out = scratch(&gpu, n);
    let config = LaunchConfig::linear(n, 256);
    let args = [ptr(&da), ptr(&db), ptr(&out), KernelArg::U32(n as u32)];
    gpu.launch(&ADD, "add", config, &args).unwrap();
    let got = floats(&download(&gpu, &out, n));
    for i in 0..n {
        assert_eq!(got[i], a[i] + b[i], "element {i}");
    }
}
