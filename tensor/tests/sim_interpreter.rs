//! The PTX simulator, instruction group by instruction group: hand-written PTX kernels run on
//! `Gpu::sim()` and checked against values computed here; then loops, barriers, shared memory,
//! grids, atomics, and the faults it must report as errors instead of panicking (bad PTX, bad
//! arguments, bad addresses, division by zero, barriers not all threads reach, memory races,
//! endless loops).
//!
//! Every kernel here is valid PTX except the deliberately broken ones in the parse-error tests:
//! `MART_SIM_PTX_DIR=/tmp/x cargo test -p tensor --test sim_interpreter` writes each module
//! launched to `/tmp/x/NAME.ptx`, for `ptxas -arch=sm_80` to check.

use std::time::Instant;
use tensor::cuda::module::PTX_HEADER;
use tensor::cuda::{Gpu, GpuBuffer, GpuError, KernelArg, LaunchConfig, PtxModule};

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Launches `kernel`, first writing the module's text to `$MART_SIM_PTX_DIR` when set.
fn launch(
    gpu: &Gpu,
    module: &'static PtxModule,
    kernel: &str,
    config: LaunchConfig,
    args: &[KernelArg],
) -> Result<(), GpuError> {
    if let Some(dir) = std::env::var_os("MART_SIM_PTX_DIR") {
        let path = std::path::Path::new(&dir).join(format!("{}.ptx", module.name()));
        std::fs::write(path, module.ptx()).unwrap();
    }
    gpu.launch(module, kernel, config, args)
}

/// A buffer holding `words` (little-endian).
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

/// The first `n` 64-bit words of `buffer`.
fn download64(gpu: &Gpu, buffer: &GpuBuffer, n: usize) -> Vec<u64> {
    let mut bytes = vec![0u8; n * 8];
    gpu.read(buffer, &mut bytes).unwrap();
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn floats(words: &[u32]) -> Vec<f32> {
    words.iter().map(|&w| f32::from_bits(w)).collect()
}

fn one_thread() -> LaunchConfig {
    one_block(1)
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

/// Same bits, or both NaN (NaN payloads are not specified).
fn same_f32(got: f32, want: f32) -> bool {
    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
}

/// The kernel error's message, asserting the launch failed with `GpuError::Kernel`.
fn kernel_error(result: Result<(), GpuError>, kernel: &str) -> String {
    match result {
        Err(GpuError::Kernel { kernel: k, message }) => {
            assert_eq!(k, kernel);
            message
        }
        other => panic!("expected a kernel error from `{kernel}`, got {other:?}"),
    }
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
    let (da, db) = (upload(&gpu, &bits(&a)), upload(&gpu, &bits(&b)));
    // One element more than the kernel writes: it must stay untouched (0xFF bytes).
    let out = scratch(&gpu, n + 1);
    let args = [ptr(&da), ptr(&db), ptr(&out), KernelArg::U32(n as u32)];
    launch(&gpu, &ADD, "add", LaunchConfig::linear(n, 256), &args).unwrap();
    let got = download(&gpu, &out, n + 1);
    for i in 0..n {
        assert_eq!(f32::from_bits(got[i]), a[i] + b[i], "element {i}");
    }
    assert_eq!(got[n], u32::MAX, "the guard let a thread past n write");
}

// ---------------------------------------------------------------------------------------------
// Integer instructions, table-driven: each row is one instruction (or a short sequence) writing
// its destination, which the kernel stores to the next output word.

/// 32-bit rows: operands `%r1 = a`, `%r2 = b`, `%r3 = s`, destination `%r4`.
type Int32Row = (&'static str, fn(u32, u32, u32) -> u32);

const INT32: &[Int32Row] = &[
    ("add.s32 %r4, %r1, %r2", |a, b, _| a.wrapping_add(b)),
    ("sub.s32 %r4, %r1, %r2", |a, b, _| a.wrapping_sub(b)),
    ("mul.lo.s32 %r4, %r1, %r2", |a, b, _| a.wrapping_mul(b)),
    ("mul.lo.u32 %r4, %r1, 0xFFFFFFFF", |a, _, _| {
        a.wrapping_neg()
    }),
    ("mul.hi.u32 %r4, %r1, %r2", |a, b, _| {
        ((a as u64 * b as u64) >> 32) as u32
    }),
    ("mul.hi.s32 %r4, %r1, %r2", |a, b, _| {
        ((a as i32 as i64 * b as i32 as i64) >> 32) as u32
    }),
    ("div.u32 %r4, %r1, %r2", |a, b, _| a / b),
    ("div.s32 %r4, %r1, %r2", |a, b, _| {
        (a as i32 / b as i32) as u32
    }),
    ("rem.u32 %r4, %r1, %r2", |a, b, _| a % b),
    ("rem.s32 %r4, %r1, %r2", |a, b, _| {
        (a as i32 % b as i32) as u32
    }),
    ("min.u32 %r4, %r1, %r2", |a, b, _| a.min(b)),
    ("min.s32 %r4, %r1, %r2", |a, b, _| {
        (a as i32).min(b as i32) as u32
    }),
    ("max.u32 %r4, %r1, %r2", |a, b, _| a.max(b)),
    ("max.s32 %r4, %r1, %r2", |a, b, _| {
        (a as i32).max(b as i32) as u32
    }),
    ("min.s32 %r4, %r1, -5", |a, _, _| (a as i32).min(-5) as u32),
    ("neg.s32 %r4, %r1", |a, _, _| a.wrapping_neg()),
    ("abs.s32 %r4, %r1", |a, _, _| {
        (a as i32).wrapping_abs() as u32
    }),
    ("and.b32 %r4, %r1, %r2", |a, b, _| a & b),
    ("or.b32 %r4, %r1, %r2", |a, b, _| a | b),
    ("xor.b32 %r4, %r1, %r2", |a, b, _| a ^ b),
    ("not.b32 %r4, %r1", |a, _, _| !a),
    // Shift amounts of at least the width clamp: 0 for shl/shr.u, the sign for shr.s.
    ("shl.b32 %r4, %r1, %r3", |a, _, s| {
        a.checked_shl(s).unwrap_or(0)
    }),
    ("shr.u32 %r4, %r1, %r3", |a, _, s| {
        a.checked_shr(s).unwrap_or(0)
    }),
    ("shr.b32 %r4, %r1, %r3", |a, _, s| {
        a.checked_shr(s).unwrap_or(0)
    }),
    ("shr.s32 %r4, %r1, %r3", |a, _, s| {
        ((a as i32) >> s.min(31)) as u32
    }),
    ("shl.b32 %r4, %r1, 33", |_, _, _| 0),
    ("mad.lo.s32 %r4, %r1, %r2, %r3", |a, b, s| {
        a.wrapping_mul(b).wrapping_add(s)
    }),
    ("mad.hi.u32 %r4, %r1, %r2, %r3", |a, b, s| {
        (((a as u64 * b as u64) >> 32) as u32).wrapping_add(s)
    }),
    ("mad.hi.s32 %r4, %r1, %r2, %r3", |a, b, s| {
        (((a as i32 as i64 * b as i32 as i64) >> 32) as u32).wrapping_add(s)
    }),
    ("add.u32 %r4, %r1, -7", |a, _, _| a.wrapping_sub(7)),
    ("sub.u32 %r4, 0x10, %r1", |a, _, _| 16u32.wrapping_sub(a)),
    ("mov.b32 %r4, %r2", |_, b, _| b),
    ("mov.u32 %r4, 0x7FFFFFFF", |_, _, _| 0x7FFF_FFFF),
];

static INT32_MODULE: PtxModule = PtxModule::new("sim_test_int32", int32_ptx);

fn int32_ptx() -> String {
    let mut body = String::new();
    for (i, (text, _)) in INT32.iter().enumerate() {
        body += &format!("    {text};\n    st.global.u32 [%rd1+{}], %r4;\n", 4 * i);
    }
    format!(
        "{PTX_HEADER}.visible .entry int32(.param .u64 out, .param .u32 a, .param .u32 b, \
         .param .u32 s)\n{{\n    .reg .b32 %r<5>;\n    .reg .b64 %rd<2>;\n\
         \x20   ld.param.u64 %rd1, [out];\n    cvta.to.global.u64 %rd1, %rd1;\n\
         \x20   ld.param.u32 %r1, [a];\n    ld.param.u32 %r2, [b];\n    ld.param.u32 %r3, [s];\n\
         {body}    ret;\n}}\n"
    )
}

#[test]
fn sim_int32_arithmetic_wraps_and_clamps_like_ptx() {
    let gpu = Gpu::sim();
    let out = scratch(&gpu, INT32.len());
    let cases: [(u32, u32, u32); 7] = [
        (7, 3, 1),
        (-7i32 as u32, 3, 31),
        (0x8000_0000, 0xFFFF_FFFE, 32),
        (123_456_789, 987_654_321, 40),
        (u32::MAX, u32::MAX, u32::MAX),
        (0, 5, 0),
        (-100i32 as u32, -7i32 as u32, 5),
    ];
    for (a, b, s) in cases {
        let args = [ptr(&out), a.into(), b.into(), s.into()];
        launch(&gpu, &INT32_MODULE, "int32", one_thread(), &args).unwrap();
        let got = download(&gpu, &out, INT32.len());
        for ((text, want), got) in INT32.iter().zip(got) {
            assert_eq!(got, want(a, b, s), "`{text}` with a={a:#x} b={b:#x} s={s}");
        }
    }
}

/// 64-bit rows: `%rd1 = a`, `%rd2 = b`, `%r3 = s`, `%r5`/`%r6` the low halves of a and b,
/// destination `%rd4`, scratch `%r7`.
type Int64Row = (&'static str, fn(u64, u64, u32) -> u64);

fn sext32(x: u64) -> u64 {
    x as u32 as i32 as i64 as u64
}

const INT64: &[Int64Row] = &[
    ("add.s64 %rd4, %rd1, %rd2", |a, b, _| a.wrapping_add(b)),
    ("sub.s64 %rd4, %rd1, %rd2", |a, b, _| a.wrapping_sub(b)),
    ("mul.lo.s64 %rd4, %rd1, %rd2", |a, b, _| a.wrapping_mul(b)),
    ("mul.lo.u64 %rd4, %rd1, %rd2", |a, b, _| a.wrapping_mul(b)),
    ("mul.hi.u64 %rd4, %rd1, %rd2", |a, b, _| {
        ((a as u128 * b as u128) >> 64) as u64
    }),
    ("mul.hi.s64 %rd4, %rd1, %rd2", |a, b, _| {
        ((a as i64 as i128 * b as i64 as i128) >> 64) as u64
    }),
    ("div.u64 %rd4, %rd1, %rd2", |a, b, _| a / b),
    ("div.s64 %rd4, %rd1, %rd2", |a, b, _| {
        (a as i64 / b as i64) as u64
    }),
    ("rem.u64 %rd4, %rd1, %rd2", |a, b, _| a % b),
    ("rem.s64 %rd4, %rd1, %rd2", |a, b, _| {
        (a as i64 % b as i64) as u64
    }),
    ("min.u64 %rd4, %rd1, %rd2", |a, b, _| a.min(b)),
    ("min.s64 %rd4, %rd1, %rd2", |a, b, _| {
        (a as i64).min(b as i64) as u64
    }),
    ("max.u64 %rd4, %rd1, %rd2", |a, b, _| a.max(b)),
    ("max.s64 %rd4, %rd1, %rd2", |a, b, _| {
        (a as i64).max(b as i64) as u64
    }),
    ("neg.s64 %rd4, %rd1", |a, _, _| a.wrapping_neg()),
    ("abs.s64 %rd4, %rd1", |a, _, _| {
        (a as i64).wrapping_abs() as u64
    }),
    ("and.b64 %rd4, %rd1, %rd2", |a, b, _| a & b),
    ("or.b64 %rd4, %rd1, %rd2", |a, b, _| a | b),
    ("xor.b64 %rd4, %rd1, %rd2", |a, b, _| a ^ b),
    ("not.b64 %rd4, %rd1", |a, _, _| !a),
    ("shl.b64 %rd4, %rd1, %r3", |a, _, s| {
        a.checked_shl(s).unwrap_or(0)
    }),
    ("shr.u64 %rd4, %rd1, %r3", |a, _, s| {
        a.checked_shr(s).unwrap_or(0)
    }),
    ("shr.s64 %rd4, %rd1, %r3", |a, _, s| {
        ((a as i64) >> s.min(63)) as u64
    }),
    ("mad.lo.s64 %rd4, %rd1, %rd2, %rd1", |a, b, _| {
        a.wrapping_mul(b).wrapping_add(a)
    }),
    ("mad.hi.u64 %rd4, %rd1, %rd2, %rd1", |a, b, _| {
        (((a as u128 * b as u128) >> 64) as u64).wrapping_add(a)
    }),
    ("mul.wide.s32 %rd4, %r5, %r6", |a, b, _| {
        (sext32(a) as i64).wrapping_mul(sext32(b) as i64) as u64
    }),
    ("mul.wide.u32 %rd4, %r5, %r6", |a, b, _| {
        (a & 0xFFFF_FFFF) * (b & 0xFFFF_FFFF)
    }),
    ("mad.wide.s32 %rd4, %r5, %r6, %rd1", |a, b, _| {
        ((sext32(a) as i64).wrapping_mul(sext32(b) as i64) as u64).wrapping_add(a)
    }),
    ("mad.wide.u32 %rd4, %r5, %r6, %rd2", |a, b, _| {
        ((a & 0xFFFF_FFFF) * (b & 0xFFFF_FFFF)).wrapping_add(b)
    }),
    ("cvt.s64.s32 %rd4, %r5", |a, _, _| sext32(a)),
    ("cvt.u64.s32 %rd4, %r5", |a, _, _| sext32(a)),
    ("cvt.u64.u32 %rd4, %r5", |a, _, _| a & 0xFFFF_FFFF),
    ("cvt.s64.u32 %rd4, %r5", |a, _, _| a & 0xFFFF_FFFF),
    (
        "cvt.u32.u64 %r7, %rd2;\n    cvt.u64.u32 %rd4, %r7",
        |_, b, _| b & 0xFFFF_FFFF,
    ),
    (
        "cvt.s32.s64 %r7, %rd2;\n    cvt.s64.s32 %rd4, %r7",
        |_, b, _| sext32(b),
    ),
    (
        "add.u32 %r7, %r5, 1;\n    cvt.u64.u32 %rd4, %r7",
        |a, _, _| (a as u32).wrapping_add(1) as u64,
    ),
    ("add.s64 %rd4, %rd1, -1", |a, _, _| a.wrapping_sub(1)),
    ("mov.b64 %rd4, 0x123456789ABCDEF0", |_, _, _| {
        0x1234_5678_9ABC_DEF0
    }),
];

static INT64_MODULE: PtxModule = PtxModule::new("sim_test_int64", int64_ptx);

fn int64_ptx() -> String {
    let mut body = String::new();
    for (i, (text, _)) in INT64.iter().enumerate() {
        body += &format!("    {text};\n    st.global.u64 [%rd3+{}], %rd4;\n", 8 * i);
    }
    format!(
        "{PTX_HEADER}.visible .entry int64(.param .u64 out, .param .u64 a, .param .u64 b, \
         .param .u32 s)\n{{\n    .reg .b32 %r<8>;\n    .reg .b64 %rd<5>;\n\
         \x20   ld.param.u64 %rd3, [out];\n    cvta.to.global.u64 %rd3, %rd3;\n\
         \x20   ld.param.u64 %rd1, [a];\n    ld.param.u64 %rd2, [b];\n    ld.param.u32 %r3, [s];\n\
         \x20   cvt.u32.u64 %r5, %rd1;\n    cvt.u32.u64 %r6, %rd2;\n{body}    ret;\n}}\n"
    )
}

#[test]
fn sim_int64_arithmetic_and_width_conversions() {
    let gpu = Gpu::sim();
    let out = gpu.alloc(INT64.len() * 8).unwrap();
    let cases: [(u64, u64, u32); 6] = [
        (7, 3, 1),
        (-7i64 as u64, 3, 63),
        (i64::MIN as u64, -2i64 as u64, 64),
        (0x1234_5678_9ABC_DEF0, 0xFEDC_BA98_7654_3210, 70),
        (u64::MAX, u64::MAX, u32::MAX),
        (0xFFFF_FFFF, 0x1_8000_0001, 32),
    ];
    for (a, b, s) in cases {
        let args = [ptr(&out), a.into(), b.into(), s.into()];
        launch(&gpu, &INT64_MODULE, "int64", one_thread(), &args).unwrap();
        let got = download64(&gpu, &out, INT64.len());
        for ((text, want), got) in INT64.iter().zip(got) {
            assert_eq!(got, want(a, b, s), "`{text}` with a={a:#x} b={b:#x} s={s}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// f32 instructions, table-driven: `%f1 = x`, `%f2 = y`, `%f3 = z`, destination `%f4`.

type F32Row = (&'static str, fn(f32, f32, f32) -> f32);

/// PTX `min`/`max`: the other operand when one is NaN (-0 orders below +0).
fn ptx_min(x: f32, y: f32) -> f32 {
    match (x.is_nan(), y.is_nan()) {
        (true, _) => y,
        (_, true) => x,
        _ if x == y => f32::from_bits(x.to_bits() | y.to_bits()),
        _ => x.min(y),
    }
}

fn ptx_max(x: f32, y: f32) -> f32 {
    match (x.is_nan(), y.is_nan()) {
        (true, _) => y,
        (_, true) => x,
        _ if x == y => f32::from_bits(x.to_bits() & y.to_bits()),
        _ => x.max(y),
    }
}

const F32: &[F32Row] = &[
    ("add.f32 %f4, %f1, %f2", |x, y, _| x + y),
    ("add.rn.f32 %f4, %f1, %f2", |x, y, _| x + y),
    ("sub.f32 %f4, %f1, %f2", |x, y, _| x - y),
    ("sub.rn.f32 %f4, %f1, %f2", |x, y, _| x - y),
    ("mul.f32 %f4, %f1, %f2", |x, y, _| x * y),
    ("mul.rn.f32 %f4, %f1, %f2", |x, y, _| x * y),
    ("div.rn.f32 %f4, %f1, %f2", |x, y, _| x / y),
    ("div.approx.f32 %f4, %f1, %f2", |x, y, _| x / y),
    ("fma.rn.f32 %f4, %f1, %f2, %f3", |x, y, z| x.mul_add(y, z)),
    ("neg.f32 %f4, %f1", |x, _, _| -x),
    ("abs.f32 %f4, %f2", |_, y, _| y.abs()),
    ("min.f32 %f4, %f1, %f2", |x, y, _| ptx_min(x, y)),
    ("max.f32 %f4, %f1, %f2", |x, y, _| ptx_max(x, y)),
    ("min.f32 %f4, %f2, %f3", |_, y, z| ptx_min(y, z)),
    ("max.f32 %f4, %f3, %f2", |_, y, z| ptx_max(z, y)),
    ("sqrt.rn.f32 %f4, %f1", |x, _, _| x.sqrt()),
    ("rcp.rn.f32 %f4, %f2", |_, y, _| 1.0 / y),
    ("rsqrt.approx.f32 %f4, %f1", |x, _, _| 1.0 / x.sqrt()),
    ("ex2.approx.f32 %f4, %f2", |_, y, _| y.exp2()),
    ("lg2.approx.f32 %f4, %f1", |x, _, _| x.log2()),
    ("add.f32 %f4, %f1, 0f3F800000", |x, _, _| x + 1.0),
    ("mov.f32 %f4, 0fBF000000", |_, _, _| -0.5),
    ("mov.b32 %f4, %f3", |_, _, z| z),
];

static F32_MODULE: PtxModule = PtxModule::new("sim_test_f32", f32_ptx);

fn f32_ptx() -> String {
    let mut body = String::new();
    for (i, (text, _)) in F32.iter().enumerate() {
        body += &format!("    {text};\n    st.global.f32 [%rd1+{}], %f4;\n", 4 * i);
    }
    format!(
        "{PTX_HEADER}.visible .entry f32ops(.param .u64 out, .param .f32 x, .param .f32 y, \
         .param .f32 z)\n{{\n    .reg .f32 %f<5>;\n    .reg .b64 %rd<2>;\n\
         \x20   ld.param.u64 %rd1, [out];\n    cvta.to.global.u64 %rd1, %rd1;\n\
         \x20   ld.param.f32 %f1, [x];\n    ld.param.f32 %f2, [y];\n    ld.param.f32 %f3, [z];\n\
         {body}    ret;\n}}\n"
    )
}

#[test]
fn sim_f32_arithmetic_is_exact_ieee_with_nan_aware_min_max() {
    let gpu = Gpu::sim();
    let out = scratch(&gpu, F32.len());
    let cases: [(f32, f32, f32); 9] = [
        (1.5, -2.25, 0.1),
        (f32::NAN, 1.0, 2.0),
        (1.0, f32::NAN, -0.0),
        (f32::INFINITY, f32::NEG_INFINITY, 3.0),
        (-0.0, 0.0, 1e-40),
        (1e30, 1e30, -1e38),
        (0.1, 3.0, -0.3),
        (-4.0, 0.0, 2.0),
        (2.0, 10.5, f32::NAN),
    ];
    for (x, y, z) in cases {
        let args = [ptr(&out), x.into(), y.into(), z.into()];
        launch(&gpu, &F32_MODULE, "f32ops", one_thread(), &args).unwrap();
        let got = floats(&download(&gpu, &out, F32.len()));
        for ((text, want), got) in F32.iter().zip(got) {
            let want = want(x, y, z);
            assert!(
                same_f32(got, want),
                "`{text}` with {x}, {y}, {z}: got {got}, want {want}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// setp (every comparison), predicate logic, guards on non-branch instructions, selp.

/// Rows: a `setp` into `%p1` (operands `%f1 %f2` = x y, `%r1 %r2` = a b, `%rd1 %rd2` = c d);
/// the kernel stores `selp.u32 1, 0, %p1`.
type SetpRow = (&'static str, fn(f32, f32, u32, u32) -> bool);

fn unordered(x: f32, y: f32) -> bool {
    x.is_nan() || y.is_nan()
}

const SETP: &[SetpRow] = &[
    ("setp.eq.f32 %p1, %f1, %f2", |x, y, _, _| x == y),
    ("setp.ne.f32 %p1, %f1, %f2", |x, y, _, _| {
        !x.is_nan() && !y.is_nan() && x != y
    }),
    ("setp.lt.f32 %p1, %f1, %f2", |x, y, _, _| x < y),
    ("setp.le.f32 %p1, %f1, %f2", |x, y, _, _| x <= y),
    ("setp.gt.f32 %p1, %f1, %f2", |x, y, _, _| x > y),
    ("setp.ge.f32 %p1, %f1, %f2", |x, y, _, _| x >= y),
    ("setp.equ.f32 %p1, %f1, %f2", |x, y, _, _| {
        x.is_nan() || y.is_nan() || x == y
    }),
    ("setp.neu.f32 %p1, %f1, %f2", |x, y, _, _| x != y),
    ("setp.ltu.f32 %p1, %f1, %f2", |x, y, _, _| {
        unordered(x, y) || x < y
    }),
    ("setp.leu.f32 %p1, %f1, %f2", |x, y, _, _| {
        unordered(x, y) || x <= y
    }),
    ("setp.gtu.f32 %p1, %f1, %f2", |x, y, _, _| {
        unordered(x, y) || x > y
    }),
    ("setp.geu.f32 %p1, %f1, %f2", |x, y, _, _| {
        unordered(x, y) || x >= y
    }),
    ("setp.num.f32 %p1, %f1, %f2", |x, y, _, _| {
        !x.is_nan() && !y.is_nan()
    }),
    ("setp.nan.f32 %p1, %f1, %f2", |x, y, _, _| {
        x.is_nan() || y.is_nan()
    }),
    ("setp.eq.s32 %p1, %r1, %r2", |_, _, a, b| a == b),
    ("setp.ne.s32 %p1, %r1, %r2", |_, _, a, b| a != b),
    ("setp.lt.s32 %p1, %r1, %r2", |_, _, a, b| {
        (a as i32) < (b as i32)
    }),
    ("setp.le.s32 %p1, %r1, %r2", |_, _, a, b| {
        (a as i32) <= (b as i32)
    }),
    ("setp.gt.s32 %p1, %r1, %r2", |_, _, a, b| {
        (a as i32) > (b as i32)
    }),
    ("setp.ge.s32 %p1, %r1, %r2", |_, _, a, b| {
        (a as i32) >= (b as i32)
    }),
    ("setp.lo.u32 %p1, %r1, %r2", |_, _, a, b| a < b),
    ("setp.ls.u32 %p1, %r1, %r2", |_, _, a, b| a <= b),
    ("setp.hi.u32 %p1, %r1, %r2", |_, _, a, b| a > b),
    ("setp.hs.u32 %p1, %r1, %r2", |_, _, a, b| a >= b),
    ("setp.lt.u32 %p1, %r1, %r2", |_, _, a, b| a < b),
    ("setp.eq.u32 %p1, %r1, 7", |_, _, a, _| a == 7),
    ("setp.lt.s64 %p1, %rd1, %rd2", |_, _, a, b| {
        (a as i32 as i64) < (b as i32 as i64)
    }),
    ("setp.hi.u64 %p1, %rd1, %rd2", |_, _, a, b| {
        a as i32 as i64 as u64 > b as i32 as i64 as u64
    }),
    // Predicate logic on p2 = x < y and p3 = a < b (signed).
    ("and.pred %p1, %p2, %p3", |x, y, a, b| {
        x < y && (a as i32) < (b as i32)
    }),
    ("or.pred %p1, %p2, %p3", |x, y, a, b| {
        x < y || (a as i32) < (b as i32)
    }),
    ("xor.pred %p1, %p2, %p3", |x, y, a, b| {
        (x < y) != ((a as i32) < (b as i32))
    }),
    ("not.pred %p1, %p2", |x, y, _, _| unordered(x, y) || x >= y),
    // Guards on ordinary instructions: only the selected move runs.
    (
        "mov.pred %p1, 0;\n    @%p2 mov.pred %p1, 1",
        |x, y, _, _| x < y,
    ),
    (
        "mov.pred %p1, 1;\n    @!%p3 mov.pred %p1, 0",
        |_, _, a, b| (a as i32) < (b as i32),
    ),
];

static SETP_MODULE: PtxModule = PtxModule::new("sim_test_setp", setp_ptx);

fn setp_ptx() -> String {
    let mut body = String::new();
    for (i, (text, _)) in SETP.iter().enumerate() {
        body += &format!(
            "    {text};\n    selp.u32 %r4, 1, 0, %p1;\n    st.global.u32 [%rd3+{}], %r4;\n",
            4 * i
        );
    }
    let selp_at = 4 * SETP.len();
    format!(
        "{PTX_HEADER}.visible .entry setp(.param .u64 out, .param .f32 x, .param .f32 y, \
         .param .u32 a, .param .u32 b)\n{{\n    .reg .pred %p<4>;\n    .reg .f32 %f<4>;\n\
         \x20   .reg .b32 %r<5>;\n    .reg .b64 %rd<4>;\n\
         \x20   ld.param.u64 %rd3, [out];\n    cvta.to.global.u64 %rd3, %rd3;\n\
         \x20   ld.param.f32 %f1, [x];\n    ld.param.f32 %f2, [y];\n\
         \x20   ld.param.u32 %r1, [a];\n    ld.param.u32 %r2, [b];\n\
         \x20   cvt.s64.s32 %rd1, %r1;\n    cvt.s64.s32 %rd2, %r2;\n\
         \x20   setp.lt.f32 %p2, %f1, %f2;\n    setp.lt.s32 %p3, %r1, %r2;\n{body}\
         \x20   selp.f32 %f3, %f1, %f2, %p2;\n    st.global.f32 [%rd3+{selp_at}], %f3;\n\
         \x20   selp.s32 %r4, -1, 5, %p3;\n    st.global.u32 [%rd3+{}], %r4;\n    ret;\n}}\n",
        selp_at + 4
    )
}

#[test]
fn sim_setp_comparisons_predicates_guards_and_selp() {
    let gpu = Gpu::sim();
    let n = SETP.len() + 2;
    let out = scratch(&gpu, n);
    let cases: [(f32, f32, u32, u32); 7] = [
        (1.0, 2.0, 3, 7),
        (2.0, 1.0, 7, 3),
        (1.0, 1.0, 7, 7),
        (f32::NAN, 1.0, -1i32 as u32, 1),
        (1.0, f32::NAN, 1, -1i32 as u32),
        (-0.0, 0.0, 0x8000_0000, 0x7FFF_FFFF),
        (f32::NEG_INFINITY, f32::INFINITY, 0, 0),
    ];
    for (x, y, a, b) in cases {
        let args = [ptr(&out), x.into(), y.into(), a.into(), b.into()];
        launch(&gpu, &SETP_MODULE, "setp", one_thread(), &args).unwrap();
        let got = download(&gpu, &out, n);
        for ((text, want), &got) in SETP.iter().zip(&got) {
            assert_eq!(
                got,
                want(x, y, a, b) as u32,
                "`{text}` with {x} {y} {a:#x} {b:#x}"
            );
        }
        let p2 = x < y;
        let p3 = (a as i32) < (b as i32);
        assert!(same_f32(
            f32::from_bits(got[SETP.len()]),
            if p2 { x } else { y }
        ));
        assert_eq!(got[SETP.len() + 1], if p3 { u32::MAX } else { 5 });
    }
}

// ---------------------------------------------------------------------------------------------
// cvt: float to integer with each rounding (saturating, NaN to 0), float rounding, int to float.

/// Rows: `%f1 = x`, `%r1 = a`; destination `%r4` (stored as is) or `%f4` (stored as bits).
type CvtRow = (&'static str, fn(f32, u32) -> u32);

const CVT: &[CvtRow] = &[
    ("cvt.rzi.s32.f32 %r4, %f1", |x, _| x.trunc() as i32 as u32),
    ("cvt.rmi.s32.f32 %r4, %f1", |x, _| x.floor() as i32 as u32),
    ("cvt.rni.s32.f32 %r4, %f1", |x, _| {
        x.round_ties_even() as i32 as u32
    }),
    ("cvt.rpi.s32.f32 %r4, %f1", |x, _| x.ceil() as i32 as u32),
    ("cvt.rzi.u32.f32 %r4, %f1", |x, _| x.trunc() as u32),
    ("cvt.rmi.u32.f32 %r4, %f1", |x, _| x.floor() as u32),
    ("cvt.rni.u32.f32 %r4, %f1", |x, _| {
        x.round_ties_even() as u32
    }),
    ("cvt.rzi.f32.f32 %f4, %f1;\n    mov.b32 %r4, %f4", |x, _| {
        x.trunc().to_bits()
    }),
    ("cvt.rmi.f32.f32 %f4, %f1;\n    mov.b32 %r4, %f4", |x, _| {
        x.floor().to_bits()
    }),
    ("cvt.rni.f32.f32 %f4, %f1;\n    mov.b32 %r4, %f4", |x, _| {
        x.round_ties_even().to_bits()
    }),
    ("cvt.rpi.f32.f32 %f4, %f1;\n    mov.b32 %r4, %f4", |x, _| {
        x.ceil().to_bits()
    }),
    ("cvt.rn.f32.s32 %f4, %r1;\n    mov.b32 %r4, %f4", |_, a| {
        (a as i32 as f32).to_bits()
    }),
    ("cvt.rn.f32.u32 %f4, %r1;\n    mov.b32 %r4, %f4", |_, a| {
        (a as f32).to_bits()
    }),
];

static CVT_MODULE: PtxModule = PtxModule::new("sim_test_cvt", cvt_ptx);

fn cvt_ptx() -> String {
    let mut body = String::new();
    for (i, (text, _)) in CVT.iter().enumerate() {
        body += &format!("    {text};\n    st.global.u32 [%rd1+{}], %r4;\n", 4 * i);
    }
    format!(
        "{PTX_HEADER}.visible .entry cvt(.param .u64 out, .param .f32 x, .param .s32 a)\n{{\n\
         \x20   .reg .f32 %f<5>;\n    .reg .b32 %r<5>;\n    .reg .b64 %rd<2>;\n\
         \x20   ld.param.u64 %rd1, [out];\n    cvta.to.global.u64 %rd1, %rd1;\n\
         \x20   ld.param.f32 %f1, [x];\n    ld.param.s32 %r1, [a];\n{body}    ret;\n}}\n"
    )
}

#[test]
fn sim_cvt_rounding_modes_saturate_and_map_nan_to_zero() {
    let gpu = Gpu::sim();
    let out = scratch(&gpu, CVT.len());
    let xs = [
        2.5,
        -2.5,
        3.5,
        -0.5,
        0.499_999_97,
        -7.0,
        1e10,
        -1e10,
        4_294_967_296.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let ints = [16_777_217u32, -16_777_219i32 as u32, u32::MAX, 0x8000_0001];
    for (i, &x) in xs.iter().enumerate() {
        let a = ints[i % ints.len()];
        let args = [ptr(&out), x.into(), KernelArg::S32(a as i32)];
        launch(&gpu, &CVT_MODULE, "cvt", one_thread(), &args).unwrap();
        let got = download(&gpu, &out, CVT.len());
        for ((text, want), got) in CVT.iter().zip(got) {
            let want = want(x, a);
            let ok = got == want || (f32::from_bits(got).is_nan() && f32::from_bits(want).is_nan());
            assert!(
                ok,
                "`{text}` with x={x} a={a:#x}: got {got:#x}, want {want:#x}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Vector and 64-bit loads and stores, global and shared.

static VECTOR: PtxModule = PtxModule::new("sim_test_vector", vector_ptx);

fn vector_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry vector(.param .u64 input, .param .u64 out)
{
    .shared .align 16 .f32 buf[8];
    .reg .f32 %f<9>;
    .reg .b32 %r<3>;
    .reg .b64 %rd<6>;

    ld.param.u64 %rd1, [input];
    ld.param.u64 %rd2, [out];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    ld.global.v4.f32 {%f1, %f2, %f3, %f4}, [%rd1];
    ld.global.nc.v2.u32 {%r1, %r2}, [%rd1+16];
    ld.global.u64 %rd3, [%rd1+24];
    st.global.v4.f32 [%rd2], {%f4, %f3, %f2, %f1};
    st.global.v2.u32 [%rd2+16], {%r2, %r1};
    st.global.u64 [%rd2+24], %rd3;
    mov.u64 %rd4, buf;
    st.shared.v4.f32 [%rd4], {%f1, %f2, %f3, %f4};
    st.shared.v4.f32 [buf+16], {%f4, %f4, %f4, %f4};
    ld.shared.v2.f32 {%f5, %f6}, [%rd4+8];
    ld.shared.f32 %f7, [buf+28];
    ld.shared.v4.f32 {%f1, %f2, %f3, %f8}, [buf];
    st.global.v2.f32 [%rd2+32], {%f5, %f6};
    st.global.f32 [%rd2+40], %f7;
    st.global.f32 [%rd2+44], %f8;
    ret;
}
"#
}

#[test]
fn sim_vector_and_64_bit_loads_and_stores() {
    let gpu = Gpu::sim();
    let input = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    let din = upload(&gpu, &bits(&input));
    let out = scratch(&gpu, 12);
    launch(
        &gpu,
        &VECTOR,
        "vector",
        one_thread(),
        &[ptr(&din), ptr(&out)],
    )
    .unwrap();
    let got = floats(&download(&gpu, &out, 12));
    let want = [4.0, 3.0, 2.0, 1.0, 6.0, 5.0, 7.0, 8.0, 3.0, 4.0, 4.0, 4.0];
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------------
// Loops: a counting loop closed by a guarded branch, and a countdown with `@!%p`/`bra.uni`.

static LOOPS: PtxModule = PtxModule::new("sim_test_loops", loops_ptx);

fn loops_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry loops(.param .u64 sums, .param .u64 doubles)
{
    .reg .pred %p<3>;
    .reg .b32 %r<7>;
    .reg .b64 %rd<6>;

    ld.param.u64 %rd1, [sums];
    ld.param.u64 %rd2, [doubles];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r1, %tid.x;
    mov.u32 %r2, 0;
    mov.u32 %r3, 0;
$L_sum:
    add.u32 %r3, %r3, %r2;
    add.u32 %r2, %r2, 1;
    setp.le.u32 %p1, %r2, %r1;
    @%p1 bra $L_sum;
    mov.u32 %r4, %r1;
    mov.u32 %r5, 0;
$L_down:
    setp.ne.u32 %p2, %r4, 0;
    @!%p2 bra $L_end;
    sub.u32 %r4, %r4, 1;
    add.u32 %r5, %r5, 2;
    bra.uni $L_down;
$L_end:
    mul.wide.u32 %rd3, %r1, 4;
    add.s64 %rd4, %rd1, %rd3;
    st.global.u32 [%rd4], %r3;
    add.s64 %rd5, %rd2, %rd3;
    st.global.u32 [%rd5], %r5;
    ret;
}
"#
}

#[test]
fn sim_loops_with_guarded_branches() {
    let gpu = Gpu::sim();
    let n = 300;
    let (sums, doubles) = (scratch(&gpu, n), scratch(&gpu, n));
    launch(
        &gpu,
        &LOOPS,
        "loops",
        one_block(n as u32),
        &[ptr(&sums), ptr(&doubles)],
    )
    .unwrap();
    let (sums, doubles) = (download(&gpu, &sums, n), download(&gpu, &doubles, n));
    for i in 0..n as u32 {
        assert_eq!(sums[i as usize], i * (i + 1) / 2, "sum for thread {i}");
        assert_eq!(doubles[i as usize], 2 * i, "countdown for thread {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// A block tree-reduction in static shared memory with bar.sync, over several blocks.

static REDUCE: PtxModule = PtxModule::new("sim_test_reduce", reduce_ptx);

fn reduce_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry block_sum(.param .u64 input, .param .u64 out, .param .u32 n)
{
    .shared .align 4 .f32 partial[256];
    .reg .pred %p<4>;
    .reg .f32 %f<4>;
    .reg .b32 %r<10>;
    .reg .b64 %rd<8>;

    ld.param.u64 %rd1, [input];
    ld.param.u64 %rd2, [out];
    ld.param.u32 %r1, [n];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r2, %tid.x;
    mov.u32 %r3, %ctaid.x;
    mov.u32 %r4, %ntid.x;
    mad.lo.s32 %r5, %r3, %r4, %r2;
    mov.f32 %f1, 0f00000000;
    setp.lt.u32 %p1, %r5, %r1;
    mul.wide.u32 %rd3, %r5, 4;
    add.s64 %rd4, %rd1, %rd3;
    @%p1 ld.global.f32 %f1, [%rd4];
    mov.u32 %r6, partial;
    shl.b32 %r7, %r2, 2;
    add.s32 %r8, %r6, %r7;
    st.shared.f32 [%r8], %f1;
    bar.sync 0;
    shr.u32 %r9, %r4, 1;
$L_step:
    setp.lt.u32 %p2, %r2, %r9;
    @!%p2 bra $L_skip;
    shl.b32 %r7, %r9, 2;
    add.s32 %r7, %r8, %r7;
    ld.shared.f32 %f2, [%r7];
    ld.shared.f32 %f3, [%r8];
    add.f32 %f3, %f3, %f2;
    st.shared.f32 [%r8], %f3;
$L_skip:
    bar.sync 0;
    shr.u32 %r9, %r9, 1;
    setp.ne.u32 %p3, %r9, 0;
    @%p3 bra $L_step;
    setp.ne.u32 %p2, %r2, 0;
    @%p2 bra $L_done;
    ld.shared.f32 %f1, [partial];
    mul.wide.u32 %rd5, %r3, 4;
    add.s64 %rd6, %rd2, %rd5;
    st.global.f32 [%rd6], %f1;
$L_done:
    ret;
}
"#
}

#[test]
fn sim_block_tree_reduction_in_shared_memory() {
    let gpu = Gpu::sim();
    let n = 1000usize;
    let input: Vec<f32> = (0..n).map(|i| (i % 17) as f32).collect();
    let din = upload(&gpu, &bits(&input));
    let blocks = n.div_ceil(256);
    let out = scratch(&gpu, blocks);
    let args = [ptr(&din), ptr(&out), KernelArg::U32(n as u32)];
    launch(
        &gpu,
        &REDUCE,
        "block_sum",
        LaunchConfig::linear(n, 256),
        &args,
    )
    .unwrap();
    let got = floats(&download(&gpu, &out, blocks));
    for (b, got) in got.iter().enumerate() {
        let want: f32 = input.iter().skip(b * 256).take(256).sum();
        assert_eq!(*got, want, "block {b}");
    }
}

// ---------------------------------------------------------------------------------------------
// Dynamic shared memory: placed after the static arrays, sized by the launch.

static DYNAMIC: PtxModule = PtxModule::new("sim_test_dynamic", dynamic_ptx);

fn dynamic_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.extern .shared .align 16 .b8 dyn[];

.visible .entry reverse(.param .u64 input, .param .u64 out, .param .u64 gap)
{
    .shared .align 4 .u32 flags[3];
    .reg .pred %p<3>;
    .reg .b32 %r<10>;
    .reg .b64 %rd<10>;

    ld.param.u64 %rd1, [input];
    ld.param.u64 %rd2, [out];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r1, %tid.x;
    mov.u32 %r2, %ntid.x;
    mov.u32 %r3, %ctaid.x;
    mad.lo.s32 %r4, %r3, %r2, %r1;
    mul.wide.u32 %rd3, %r4, 4;
    add.s64 %rd4, %rd1, %rd3;
    ld.global.u32 %r5, [%rd4];
    mov.u64 %rd5, dyn;
    mul.wide.u32 %rd6, %r1, 4;
    add.s64 %rd7, %rd5, %rd6;
    st.shared.u32 [%rd7], %r5;
    setp.eq.u32 %p2, %r1, 0;
    @%p2 st.shared.u32 [flags+8], %r1;
    bar.sync 0;
    sub.s32 %r6, %r2, %r1;
    sub.s32 %r6, %r6, 1;
    mul.wide.u32 %rd6, %r6, 4;
    add.s64 %rd7, %rd5, %rd6;
    ld.shared.u32 %r7, [%rd7];
    add.s64 %rd8, %rd2, %rd3;
    st.global.u32 [%rd8], %r7;
    setp.ne.u32 %p1, %r4, 0;
    @%p1 bra $L_done;
    mov.u64 %rd9, flags;
    sub.s64 %rd9, %rd5, %rd9;
    ld.param.u64 %rd1, [gap];
    cvta.to.global.u64 %rd1, %rd1;
    st.global.u64 [%rd1], %rd9;
$L_done:
    ret;
}
"#
}

#[test]
fn sim_dynamic_shared_memory_follows_static_arrays() {
    let gpu = Gpu::sim();
    let (threads, blocks) = (128usize, 3usize);
    let n = threads * blocks;
    let input: Vec<u32> = (0..n as u32).map(|i| i * 3 + 1).collect();
    let din = upload(&gpu, &input);
    let out = scratch(&gpu, n);
    let gap = gpu.alloc(8).unwrap();
    let config = LaunchConfig {
        grid: (blocks as u32, 1, 1),
        block: (threads as u32, 1, 1),
        shared_bytes: (threads * 4) as u32,
    };
    let args = [ptr(&din), ptr(&out), ptr(&gap)];
    launch(&gpu, &DYNAMIC, "reverse", config, &args).unwrap();
    let got = download(&gpu, &out, n);
    for b in 0..blocks {
        for t in 0..threads {
            assert_eq!(got[b * threads + t], input[b * threads + threads - 1 - t]);
        }
    }
    // 12 bytes of static `flags`, then the dynamic array at its 16-byte alignment.
    assert_eq!(download64(&gpu, &gap, 1)[0], 16);

    // Too little dynamic shared memory for the block: the first access past it faults.
    let small = LaunchConfig {
        shared_bytes: 64,
        ..config
    };
    let message = kernel_error(launch(&gpu, &DYNAMIC, "reverse", small, &args), "reverse");
    assert!(message.contains("out-of-bounds shared write"), "{message}");
    assert!(message.contains("thread (16, 0, 0)"), "{message}");

    // More than 48 KiB in all fails to launch on hardware (no opt-in), so here too.
    let huge = LaunchConfig {
        shared_bytes: 48 * 1024,
        ..config
    };
    let message = kernel_error(launch(&gpu, &DYNAMIC, "reverse", huge, &args), "reverse");
    assert!(
        message.contains("49168 bytes of shared memory"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// A 3-d grid of 3-d blocks: every thread writes its ids; all must be there exactly once.

static GRID: PtxModule = PtxModule::new("sim_test_grid", grid_ptx);

fn grid_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry ids(.param .u64 out)
{
    .reg .b32 %r<24>;
    .reg .b64 %rd<4>;

    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    mov.u32 %r1, %tid.x;
    mov.u32 %r2, %tid.y;
    mov.u32 %r3, %tid.z;
    mov.u32 %r4, %ntid.x;
    mov.u32 %r5, %ntid.y;
    mov.u32 %r6, %ntid.z;
    mov.u32 %r7, %ctaid.x;
    mov.u32 %r8, %ctaid.y;
    mov.u32 %r9, %ctaid.z;
    mov.u32 %r10, %nctaid.x;
    mov.u32 %r11, %nctaid.y;
    mad.lo.s32 %r12, %r7, %r4, %r1;
    mad.lo.s32 %r13, %r8, %r5, %r2;
    mad.lo.s32 %r14, %r9, %r6, %r3;
    mul.lo.s32 %r15, %r10, %r4;
    mul.lo.s32 %r16, %r11, %r5;
    mad.lo.s32 %r17, %r14, %r16, %r13;
    mad.lo.s32 %r17, %r17, %r15, %r12;
    mad.lo.s32 %r18, %r9, %r11, %r8;
    mad.lo.s32 %r18, %r18, %r10, %r7;
    mad.lo.s32 %r19, %r3, 10, %r2;
    mad.lo.s32 %r19, %r19, 10, %r1;
    mad.lo.s32 %r19, %r18, 1000, %r19;
    mul.wide.u32 %rd2, %r17, 8;
    add.s64 %rd3, %rd1, %rd2;
    st.global.v2.u32 [%rd3], {%r17, %r19};
    ret;
}
"#
}

#[test]
fn sim_multi_block_multi_dim_grid_runs_every_thread_once() {
    let gpu = Gpu::sim();
    let (grid, block) = ((3u32, 2u32, 2u32), (4u32, 3u32, 2u32));
    let total = (grid.0 * grid.1 * grid.2 * block.0 * block.1 * block.2) as usize;
    let out = scratch(&gpu, 2 * total);
    let config = LaunchConfig {
        grid,
        block,
        shared_bytes: 0,
    };
    launch(&gpu, &GRID, "ids", config, &[ptr(&out)]).unwrap();
    let got = download(&gpu, &out, 2 * total);
    let (w, h) = (grid.0 * block.0, grid.1 * block.1);
    for z in 0..grid.2 * block.2 {
        for y in 0..h {
            for x in 0..w {
                let linear = (z * h + y) * w + x;
                let (b, t) = (
                    (x / block.0, y / block.1, z / block.2),
                    (x % block.0, y % block.1, z % block.2),
                );
                let block_id = (b.2 * grid.1 + b.1) * grid.0 + b.0;
                let tag = block_id * 1000 + t.2 * 100 + t.1 * 10 + t.0;
                assert_eq!(
                    got[2 * linear as usize],
                    linear,
                    "thread at ({x}, {y}, {z})"
                );
                assert_eq!(
                    got[2 * linear as usize + 1],
                    tag,
                    "thread at ({x}, {y}, {z})"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Atomics from many threads: tickets from atom.add return every old value once.

static ATOMICS: PtxModule = PtxModule::new("sim_test_atomics", atomics_ptx);

fn atomics_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry atomics(.param .u64 counters, .param .u64 tickets)
{
    .reg .f32 %f<2>;
    .reg .b32 %r<8>;
    .reg .b64 %rd<6>;

    ld.param.u64 %rd1, [counters];
    ld.param.u64 %rd2, [tickets];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r1, %tid.x;
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mad.lo.s32 %r4, %r2, %r3, %r1;
    atom.global.add.u32 %r5, [%rd1], 1;
    mul.wide.u32 %rd3, %r5, 4;
    add.s64 %rd4, %rd2, %rd3;
    st.global.u32 [%rd4], %r4;
    atom.global.add.f32 %f1, [%rd1+4], 0f3F000000;
    red.global.add.u32 [%rd1+8], %r4;
    red.global.add.f32 [%rd1+12], 0f3F800000;
    mul.lo.s32 %r6, %r4, 7919;
    rem.u32 %r6, %r6, 1000;
    atom.global.max.u32 %r7, [%rd1+16], %r6;
    ret;
}
"#
}

#[test]
fn sim_atomics_from_many_threads() {
    let gpu = Gpu::sim();
    let (blocks, threads) = (4u32, 256u32);
    let n = (blocks * threads) as usize;
    let counters = upload(&gpu, &[0, 0f32.to_bits(), 0, 0f32.to_bits(), 0]);
    let tickets = scratch(&gpu, n);
    let config = LaunchConfig {
        grid: (blocks, 1, 1),
        block: (threads, 1, 1),
        shared_bytes: 0,
    };
    launch(
        &gpu,
        &ATOMICS,
        "atomics",
        config,
        &[ptr(&counters), ptr(&tickets)],
    )
    .unwrap();
    let c = download(&gpu, &counters, 5);
    assert_eq!(c[0], n as u32, "atom.add.u32 count");
    assert_eq!(f32::from_bits(c[1]), 0.5 * n as f32, "atom.add.f32 sum");
    assert_eq!(c[2], (0..n as u32).sum::<u32>(), "red.add.u32 sum");
    assert_eq!(f32::from_bits(c[3]), n as f32, "red.add.f32 count");
    assert_eq!(
        c[4],
        (0..n as u32).map(|i| i * 7919 % 1000).max().unwrap(),
        "atom.max"
    );
    let mut got = download(&gpu, &tickets, n);
    got.sort_unstable();
    assert_eq!(
        got,
        (0..n as u32).collect::<Vec<_>>(),
        "each old value returned once"
    );
}

// ---------------------------------------------------------------------------------------------
// Faults are errors naming the kernel, the thread and the instruction, never panics.

static BROKEN: PtxModule = PtxModule::new("sim_test_broken", broken_ptx);

/// Deliberately invalid: line 8 of the module has an opcode outside the subset.
fn broken_ptx() -> String {
    PTX_HEADER.to_string()
        + ".visible .entry broken(.param .u64 out)\n{\n    .reg .b32 %r<2>;\n\
           \x20   frobnicate.u32 %r1, %r0;\n    ret;\n}\n"
}

static EXTERN_INSIDE: PtxModule = PtxModule::new("sim_test_extern_inside", extern_inside_ptx);

/// Deliberately invalid: ptxas only accepts `.extern .shared` at module scope.
fn extern_inside_ptx() -> String {
    PTX_HEADER.to_string()
        + ".visible .entry inside()\n{\n    .extern .shared .align 16 .b8 dyn[];\n    ret;\n}\n"
}

#[test]
fn sim_parse_error_names_module_and_line() {
    let gpu = Gpu::sim();
    let out = scratch(&gpu, 1);
    match gpu.launch(&BROKEN, "broken", one_thread(), &[ptr(&out)]) {
        Err(GpuError::Ptx { module, message }) => {
            assert_eq!(module, "sim_test_broken");
            assert!(message.contains("line 8"), "{message}");
            assert!(message.contains("frobnicate"), "{message}");
        }
        other => panic!("expected a PTX error, got {other:?}"),
    }
    match gpu.launch(&EXTERN_INSIDE, "inside", one_thread(), &[]) {
        Err(GpuError::Ptx { message, .. }) => {
            assert!(
                message.contains("line 7") && message.contains("module scope"),
                "{message}"
            );
        }
        other => panic!("expected a PTX error, got {other:?}"),
    }
}

/// Statements the parser must reject (each is rejected by ptxas too), and a part of the message.
const REJECTED: &[(&str, &str)] = &[
    ("add.b32 %r1, %r1, %r2", "ptxas rejects"),
    ("and.u32 %r1, %r1, %r2", "ptxas rejects"),
    ("neg.u32 %r1, %r1", "ptxas rejects"),
    ("setp.lt.b32 %p1, %r1, %r2", "ptxas rejects"),
    ("mov.u64 %rd1, %r1", "`%r1` is declared B32"),
    ("mul.lo.u32 %r1, %r1, %rd1", "`%rd1` is declared B64"),
    ("shl.b64 %rd1, %rd1, %rd2", "`%rd2` is declared B64"),
    ("selp.u32 %r1, %r1, %r2, %r1", "needs a predicate"),
    ("add.f32 %f1, %f1, 1", "0fXXXXXXXX"),
    ("mov.u32 %r1, 0f3F800000", "f32 immediate"),
    ("ld.global.u32 %r1, [%rd1-4]", "expected `]`"),
    ("ld.global.f32 %f1, [%f2]", "cannot hold an address"),
    ("div.f32 %f1, %f1, %f2", "unsupported f32 form"),
    ("fma.f32 %f1, %f1, %f2, %f1", "expected `.rn`"),
    ("cvt.f32.u32 %f1, %r1", "expected `.rn`"),
    ("cvt.s32.f32 %r1, %f1", "needs .rzi"),
    ("@%r1 bra L", "not a .pred"),
    ("add.u32 %r9, %r1, %r2", "undeclared register `%r9`"),
    ("bra NOWHERE", "no label `NOWHERE`"),
    (
        "frobnicate.u32 %r1, %r1",
        "not in the simulator's PTX subset",
    ),
];

#[test]
fn sim_parser_rejects_what_ptxas_rejects_naming_the_line() {
    for (statement, why) in REJECTED {
        let text = format!(
            "{PTX_HEADER}.visible .entry k(.param .u64 a)\n{{\n    .reg .pred %p<2>;\n\
             \x20   .reg .b32 %r<3>;\n    .reg .f32 %f<3>;\n    .reg .b64 %rd<3>;\n\
             \x20   ld.param.u64 %rd1, [a];\n    {statement};\nL:\n    ret;\n}}\n"
        );
        let message = match tensor::cuda::sim::parse::parse_module(&text) {
            Err(message) => message,
            Ok(_) => panic!("`{statement}` was accepted"),
        };
        assert!(message.starts_with("line 12:"), "`{statement}`: {message}");
        assert!(message.contains(why), "`{statement}`: {message}");
    }
}

/// Every kernel module of the backend parses: a kernel no test launches yet still has to be
/// inside the subset the simulator runs.
#[test]
fn sim_every_kernel_module_parses() {
    for module in tensor::cuda::kernels::all_modules() {
        if let Err(message) = tensor::cuda::sim::parse::parse_module(module.ptx()) {
            panic!("module `{}`: {message}", module.name());
        }
    }
}

#[test]
fn sim_wrong_arguments_are_errors_naming_the_kernel() {
    let gpu = Gpu::sim();
    let a = scratch(&gpu, 4);
    let too_few = [ptr(&a), ptr(&a), ptr(&a)];
    let message = kernel_error(launch(&gpu, &ADD, "add", one_thread(), &too_few), "add");
    assert!(message.contains("4 parameters"), "{message}");
    let wrong_size = [ptr(&a), ptr(&a), KernelArg::U32(0), KernelArg::U32(1)];
    let message = kernel_error(launch(&gpu, &ADD, "add", one_thread(), &wrong_size), "add");
    assert!(message.contains("parameter `out`"), "{message}");
    let float_for_int = [ptr(&a), ptr(&a), ptr(&a), KernelArg::F32(1.0)];
    let message = kernel_error(
        launch(&gpu, &ADD, "add", one_thread(), &float_for_int),
        "add",
    );
    assert!(message.contains("parameter `n`"), "{message}");
    let args = [ptr(&a), ptr(&a), ptr(&a), KernelArg::U32(1)];
    let message = kernel_error(launch(&gpu, &ADD, "nope", one_thread(), &args), "nope");
    assert!(message.contains("no entry"), "{message}");
    let no_threads = LaunchConfig {
        block: (0, 1, 1),
        ..one_thread()
    };
    kernel_error(launch(&gpu, &ADD, "add", no_threads, &args), "add");
}

#[test]
fn sim_out_of_bounds_global_read_is_an_error() {
    let gpu = Gpu::sim();
    // 128 floats fill their 512-byte allocation exactly; thread 128 reads just past its end.
    let n = 128;
    let (a, b, out) = (scratch(&gpu, n), scratch(&gpu, n), scratch(&gpu, n + 1));
    let args = [ptr(&a), ptr(&b), ptr(&out), KernelArg::U32(n as u32 + 1)];
    let result = launch(&gpu, &ADD, "add", LaunchConfig::linear(n + 1, 64), &args);
    let message = kernel_error(result, "add");
    let past_end = format!("{:#x}", a.ptr() + 4 * n as u64);
    assert!(message.contains(&past_end), "{message}");
    assert!(message.contains("out-of-bounds global read"), "{message}");
    assert!(
        message.contains("block (2, 0, 0) thread (0, 0, 0)"),
        "{message}"
    );
    assert!(
        message.contains("ld.global.nc.f32 %f1, [%rd8]"),
        "{message}"
    );
    // The device still works after a fault.
    let args = [ptr(&a), ptr(&b), ptr(&out), KernelArg::U32(n as u32)];
    launch(&gpu, &ADD, "add", LaunchConfig::linear(n, 64), &args).unwrap();
}

static FAULTS: PtxModule = PtxModule::new("sim_test_faults", faults_ptx);

fn faults_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry early_exit(.param .u32 cut)
{
    .reg .pred %p<2>;
    .reg .b32 %r<3>;

    ld.param.u32 %r1, [cut];
    mov.u32 %r2, %tid.x;
    setp.ge.u32 %p1, %r2, %r1;
    @%p1 ret;
    bar.sync 0;
    ret;
}

.visible .entry split_barrier()
{
    .reg .pred %p<2>;
    .reg .b32 %r<2>;

    mov.u32 %r1, %tid.x;
    setp.lt.u32 %p1, %r1, 8;
    @%p1 bra $L_other;
    bar.sync 0;
    bra.uni $L_done;
$L_other:
    bar.sync 0;
$L_done:
    ret;
}

.visible .entry divide(.param .u64 out, .param .u32 d)
{
    .reg .b32 %r<4>;
    .reg .b64 %rd<2>;

    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    ld.param.u32 %r1, [d];
    mov.u32 %r2, 100;
    div.u32 %r3, %r2, %r1;
    st.global.u32 [%rd1], %r3;
    ret;
}

.visible .entry neighbour(.param .u64 out, .param .u32 sync)
{
    .shared .align 4 .u32 cells[64];
    .reg .pred %p<2>;
    .reg .b32 %r<8>;
    .reg .b64 %rd<4>;

    ld.param.u32 %r1, [sync];
    mov.u32 %r2, %tid.x;
    mov.u32 %r3, cells;
    mad.lo.s32 %r4, %r2, 4, %r3;
    st.shared.u32 [%r4], %r2;
    setp.ne.u32 %p1, %r1, 0;
    @%p1 bar.sync 0;
    add.u32 %r5, %r2, 63;
    and.b32 %r5, %r5, 63;
    mad.lo.s32 %r6, %r5, 4, %r3;
    ld.shared.u32 %r7, [%r6];
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    mul.wide.u32 %rd2, %r2, 4;
    add.s64 %rd3, %rd1, %rd2;
    st.global.u32 [%rd3], %r7;
    ret;
}

.visible .entry clash(.param .u64 out, .param .u32 mask)
{
    .reg .b32 %r<7>;
    .reg .b64 %rd<4>;

    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    ld.param.u32 %r1, [mask];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    and.b32 %r6, %r5, %r1;
    mul.wide.u32 %rd2, %r6, 4;
    add.s64 %rd3, %rd1, %rd2;
    st.global.u32 [%rd3], %r5;
    ret;
}

.visible .entry endless()
{
$L_again:
    bra.uni $L_again;
}

.visible .entry misaligned(.param .u64 out)
{
    .reg .b32 %r<2>;
    .reg .b64 %rd<2>;

    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    ld.global.u32 %r1, [%rd1+2];
    ret;
}
"#
}

#[test]
fn sim_barrier_after_some_threads_exited_is_an_error() {
    let gpu = Gpu::sim();
    // Every thread reaching the barrier is fine.
    launch(
        &gpu,
        &FAULTS,
        "early_exit",
        one_block(32),
        &[KernelArg::U32(32)],
    )
    .unwrap();
    let result = launch(
        &gpu,
        &FAULTS,
        "early_exit",
        one_block(32),
        &[KernelArg::U32(16)],
    );
    let message = kernel_error(result, "early_exit");
    assert!(message.contains("has exited"), "{message}");
    assert!(message.contains("bar.sync 0"), "{message}");
    let message = kernel_error(
        launch(&gpu, &FAULTS, "split_barrier", one_block(32), &[]),
        "split_barrier",
    );
    assert!(message.contains("same bar.sync"), "{message}");
}

#[test]
fn sim_division_by_zero_and_misaligned_access_are_errors() {
    let gpu = Gpu::sim();
    let out = scratch(&gpu, 1);
    launch(
        &gpu,
        &FAULTS,
        "divide",
        one_thread(),
        &[ptr(&out), KernelArg::U32(7)],
    )
    .unwrap();
    assert_eq!(download(&gpu, &out, 1), [14]);
    let result = launch(
        &gpu,
        &FAULTS,
        "divide",
        one_thread(),
        &[ptr(&out), KernelArg::U32(0)],
    );
    let message = kernel_error(result, "divide");
    assert!(message.contains("division by zero"), "{message}");
    assert!(message.contains("div.u32 %r3, %r2, %r1"), "{message}");
    let message = kernel_error(
        launch(&gpu, &FAULTS, "misaligned", one_thread(), &[ptr(&out)]),
        "misaligned",
    );
    assert!(message.contains("misaligned global read"), "{message}");
}

#[test]
fn sim_shared_memory_race_without_barrier_is_an_error() {
    let gpu = Gpu::sim();
    let out = scratch(&gpu, 64);
    // With the barrier each thread reads its neighbour's value.
    launch(
        &gpu,
        &FAULTS,
        "neighbour",
        one_block(64),
        &[ptr(&out), KernelArg::U32(1)],
    )
    .unwrap();
    let want: Vec<u32> = (0..64).map(|t| (t + 63) % 64).collect();
    assert_eq!(download(&gpu, &out, 64), want);
    // Without it, the read races with the neighbour's write (here thread 0's, read by thread 1).
    let result = launch(
        &gpu,
        &FAULTS,
        "neighbour",
        one_block(64),
        &[ptr(&out), KernelArg::U32(0)],
    );
    let message = kernel_error(result, "neighbour");
    assert!(message.contains("shared-memory race"), "{message}");
    assert!(message.contains("thread (1, 0, 0)"), "{message}");
    assert!(
        message.contains("which thread (0, 0, 0) wrote"),
        "{message}"
    );
}

#[test]
fn sim_global_memory_race_between_threads_is_an_error() {
    let gpu = Gpu::sim();
    let out = scratch(&gpu, 64);
    let config = LaunchConfig {
        grid: (2, 1, 1),
        block: (32, 1, 1),
        shared_bytes: 0,
    };
    // Each thread its own word: fine.
    launch(
        &gpu,
        &FAULTS,
        "clash",
        config,
        &[ptr(&out), KernelArg::U32(63)],
    )
    .unwrap();
    assert_eq!(download(&gpu, &out, 64), (0..64).collect::<Vec<u32>>());
    // Thread 0 of block 1 writes the word thread 0 of block 0 wrote: a race across blocks.
    let result = launch(
        &gpu,
        &FAULTS,
        "clash",
        config,
        &[ptr(&out), KernelArg::U32(31)],
    );
    let message = kernel_error(result, "clash");
    assert!(message.contains("global-memory race"), "{message}");
    assert!(
        message.starts_with("block (1, 0, 0) thread (0, 0, 0)"),
        "{message}"
    );
    assert!(
        message.contains("thread (0, 0, 0) of block (0, 0, 0) wrote"),
        "{message}"
    );
    assert!(message.contains(&format!("{:#x}", out.ptr())), "{message}");
}

#[test]
fn sim_endless_loop_is_an_error() {
    let gpu = Gpu::sim();
    let message = kernel_error(
        launch(&gpu, &FAULTS, "endless", one_thread(), &[]),
        "endless",
    );
    assert!(message.contains("endless loop"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Speed: not a pass/fail test (the machine may be shared); run with `--ignored --nocapture`.

static SPIN: PtxModule = PtxModule::new("sim_test_spin", spin_ptx);

/// Two loops of known length per thread: `arith` runs 4 register-only instructions per
/// iteration, `memory` 8 of which 3 touch shared or global memory; each has 13 or 14
/// instructions outside its loop.
fn spin_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry arith(.param .u64 out, .param .u32 iters)
{
    .reg .pred %p<2>;
    .reg .f32 %f<2>;
    .reg .b32 %r<6>;
    .reg .b64 %rd<4>;

    ld.param.u32 %r1, [iters];
    mov.u32 %r2, 0;
    mov.f32 %f1, 0f00000000;
$L_loop:
    fma.rn.f32 %f1, %f1, 0f3F7FF000, 0f3F800000;
    add.u32 %r2, %r2, 1;
    setp.lt.u32 %p1, %r2, %r1;
    @%p1 bra $L_loop;
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    mov.u32 %r3, %tid.x;
    mov.u32 %r4, %ctaid.x;
    mov.u32 %r5, %ntid.x;
    mad.lo.s32 %r3, %r4, %r5, %r3;
    mul.wide.u32 %rd2, %r3, 4;
    add.s64 %rd3, %rd1, %rd2;
    st.global.f32 [%rd3], %f1;
    ret;
}

.visible .entry memory(.param .u64 out, .param .u32 iters)
{
    .shared .align 4 .f32 cell[1024];
    .reg .pred %p<2>;
    .reg .f32 %f<4>;
    .reg .b32 %r<7>;
    .reg .b64 %rd<4>;

    ld.param.u32 %r1, [iters];
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    mov.u32 %r3, %tid.x;
    mov.u32 %r5, %ctaid.x;
    mov.u32 %r6, %ntid.x;
    mad.lo.s32 %r5, %r5, %r6, %r3;
    mul.wide.u32 %rd2, %r5, 4;
    add.s64 %rd3, %rd1, %rd2;
    mov.u32 %r4, cell;
    mad.lo.s32 %r4, %r3, 4, %r4;
    mov.u32 %r2, 0;
    mov.f32 %f1, 0f00000000;
$L_loop:
    ld.shared.f32 %f2, [%r4];
    fma.rn.f32 %f1, %f1, %f2, 0f3F800000;
    st.shared.f32 [%r4], %f1;
    ld.global.f32 %f3, [%rd3];
    add.f32 %f1, %f1, %f3;
    add.u32 %r2, %r2, 1;
    setp.lt.u32 %p1, %r2, %r1;
    @%p1 bra $L_loop;
    ret;
}
"#
}

#[test]
#[ignore = "a measurement, not a check: cargo test --release -- --ignored --nocapture sim_speed"]
fn sim_speed_instructions_per_second() {
    let gpu = Gpu::sim();
    let (blocks, threads, iters) = (64u32, 256u32, 1000u32);
    let out = upload(&gpu, &vec![0; (blocks * threads) as usize]);
    let config = LaunchConfig {
        grid: (blocks, 1, 1),
        block: (threads, 1, 1),
        shared_bytes: 0,
    };
    let args = [ptr(&out), KernelArg::U32(iters)];
    for (kernel, per_iter, outside) in [("arith", 4.0, 13.0), ("memory", 8.0, 14.0)] {
        launch(&gpu, &SPIN, kernel, config, &args).unwrap();
        let start = Instant::now();
        launch(&gpu, &SPIN, kernel, config, &args).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let instructions = (blocks * threads) as f64 * (per_iter * iters as f64 + outside);
        println!(
            "sim {kernel}: {instructions:.3e} instructions in {seconds:.3} s = {:.1} million/s",
            instructions / seconds / 1e6
        );
    }
}
