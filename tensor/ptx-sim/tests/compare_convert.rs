//! `setp` with every comparison, predicate logic, guards and `selp`; `cvt` with each rounding,
//! saturating and mapping NaN to zero.

mod common;

use common::*;

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
    let sim = SimDevice::new();
    let n = SETP.len() + 2;
    let out = scratch(&sim, n);
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
        launch(&sim, &SETP_MODULE, "setp", one_thread(), &args).unwrap();
        let got = download(&sim, &out, n);
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
    let sim = SimDevice::new();
    let out = scratch(&sim, CVT.len());
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
        launch(&sim, &CVT_MODULE, "cvt", one_thread(), &args).unwrap();
        let got = download(&sim, &out, CVT.len());
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
