//! Integer and f32 arithmetic, instruction by instruction: each table row is one instruction
//! (or a short sequence) checked against the value computed here, with PTX's wrapping, clamping,
//! NaN-aware min/max and exact IEEE rounding.

mod common;

use common::*;

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
    let sim = SimDevice::new();
    let out = scratch(&sim, INT32.len());
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
        launch(&sim, &INT32_MODULE, "int32", one_thread(), &args).unwrap();
        let got = download(&sim, &out, INT32.len());
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
    let sim = SimDevice::new();
    let out = alloc(&sim, INT64.len() * 8);
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
        launch(&sim, &INT64_MODULE, "int64", one_thread(), &args).unwrap();
        let got = download64(&sim, &out, INT64.len());
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
    let sim = SimDevice::new();
    let out = scratch(&sim, F32.len());
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
        launch(&sim, &F32_MODULE, "f32ops", one_thread(), &args).unwrap();
        let got = floats(&download(&sim, &out, F32.len()));
        for ((text, want), got) in F32.iter().zip(got) {
            let want = want(x, y, z);
            assert!(
                same_f32(got, want),
                "`{text}` with {x}, {y}, {z}: got {got}, want {want}"
            );
        }
    }
}
