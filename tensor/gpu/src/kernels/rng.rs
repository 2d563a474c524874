//! Random tensors on the GPU: the same numbers as `tensor::Rng` for the same state.
//!
//! `tensor::Rng` is counter-based ([Philox4x32-10](tensor_spec::philox)): element `i` of a draw
//! is a function of the key (the seed) and the counter `start + i` alone. So a kernel in which
//! thread `i` runs the same ten Philox rounds (`mul.hi.u32` / `mul.lo.u32` give the 64-bit
//! products' halves) gets the same four 32-bit words as the CPU. The caller reserves the
//! counters (advancing its generator by the number of elements drawn, exactly as a CPU draw
//! does), so CPU and GPU draws can be interleaved.
//!
//! From the words to floats (the CPU computes in f64 and rounds to f32 once; PTX here is f32):
//! - `rademacher` and `bernoulli` compare integers, so they agree bit for bit. Bernoulli's
//!   `u < p` with `u = k / 2^24` is `k < ceil(p * 2^24)`, a threshold the host computes exactly.
//! - `uniform` is `low + (high - low) * u` with `u = k / 2^24` exact in f32. `low` and
//!   `high - low` are f64, so the kernel gets each as a pair of f32s (48 bits) and computes the
//!   sum in two-float arithmetic (an exact product via `fma`, Knuth's exact two-sum), rounding
//!   once at the end: the CPU's f64 value, rounded to f32, to 2^-47 relative. The results are
//!   bit-identical unless that value lies within 2^-47 of a midpoint between two f32s (about one
//!   element in 2^22 when the ends are not f32 values; never when they are, e.g. `[0, 1)`).
//! - `normal` (Box-Muller, `mean + std * sqrt(-2 ln u1) * cos(2 pi u2)`) needs `ln` and `cos`,
//!   which the PTX subset does not have, so they are written out: both arguments are integer
//!   multiples of 2^-24, which allows exact range reductions in integer arithmetic (the exponent
//!   of `u1`, the quadrant of `u2`) followed by short polynomials; the result is within a few
//!   f32 ulp of the CPU's (of `|mean| + |std * z|`).

use super::movement::launch::to_u32;
use super::movement::snippets::{element_addr, load_base, thread_index};
use crate::device_tensor::GpuTensor;
use crate::error::GpuError;
use crate::gpu::Gpu;
use crate::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use crate::module::{PTX_HEADER, PtxModule};
use std::f64::consts::{LN_2, SQRT_2, TAU};
use std::fmt::Write;
use tensor_spec::{Draw, Shape};

/// The module.
pub static MODULE: PtxModule = PtxModule::new("rng", ptx);

/// `v` rounded to f32, as a PTX immediate (`0fXXXXXXXX`, the IEEE bits).
fn f32_imm(v: f64) -> String {
    format!("0f{:08X}", (v as f32).to_bits())
}

/// `n!` as f64 (exact for the small `n` of the polynomials).
fn factorial(n: i32) -> f64 {
    (1..=n).map(f64::from).product()
}

/// The kernel parameters every draw shares; `extra` adds the op's own.
fn entry(name: &str, comment: &str, extra: &[&str]) -> String {
    let mut params = vec![
        "    .param .u64 dst",
        "    .param .u32 n",
        "    .param .u64 start",
        "    .param .u32 key0",
        "    .param .u32 key1",
    ];
    params.extend_from_slice(extra);
    format!(
        "{comment}\n.visible .entry {name}(\n{})\n",
        params.join(",\n")
    )
}

/// Declares `%w0..%w3` and sets them to Philox4x32-10 of counter `(start + i, 0)` (64-bit,
/// split in two words) under key `(key0, key1)`: [`tensor_spec::philox::philox4x32`] round by round.
fn philox() -> String {
    let mut s = String::from(
        "    .reg .u32 %w0, %w1, %w2, %w3, %k0, %k1, %hi0, %lo0, %hi1, %lo1;
    .reg .u64 %counter, %wide;
    // counter = (start + i) as (low word, high word, 0, 0)
    ld.param.u64 %counter, [start];
    cvt.u64.u32 %wide, %i;
    add.u64 %counter, %counter, %wide;
    cvt.u32.u64 %w0, %counter;
    shr.u64 %wide, %counter, 32;
    cvt.u32.u64 %w1, %wide;
    mov.u32 %w2, 0;
    mov.u32 %w3, 0;
    ld.param.u32 %k0, [key0];
    ld.param.u32 %k1, [key1];
",
    );
    for round in 0..10 {
        if round > 0 {
            s.push_str(
                "    add.u32 %k0, %k0, 0x9E3779B9;        // bump the key (Weyl sequence)
    add.u32 %k1, %k1, 0xBB67AE85;
",
            );
        }
        let _ = write!(
            s,
            "    // round {round}: (w0, w1, w2, w3) = (hi(M1 w2) ^ w1 ^ k0, lo(M1 w2), hi(M0 w0) ^ w3 ^ k1, lo(M0 w0))
    mul.hi.u32 %hi0, %w0, 0xD2511F53;
    mul.lo.u32 %lo0, %w0, 0xD2511F53;
    mul.hi.u32 %hi1, %w2, 0xCD9E8D57;
    mul.lo.u32 %lo1, %w2, 0xCD9E8D57;
    xor.b32 %w0, %hi1, %w1;
    xor.b32 %w0, %w0, %k0;
    mov.u32 %w1, %lo1;
    xor.b32 %w2, %hi0, %w3;
    xor.b32 %w2, %w2, %k1;
    mov.u32 %w3, %lo0;
"
        );
    }
    s
}

/// A whole draw kernel: the thread index, Philox, then `body`, which leaves the element in the
/// `.f32` register `%out`.
fn draw_kernel(name: &str, comment: &str, extra: &[&str], decls: &str, body: &str) -> String {
    format!(
        "{entry}{{
{index}    .reg .u64 %dst, %a;
    .reg .f32 %out;
{decls}{philox}{body}{dst}{a_dst}    st.global.f32 [%a], %out;
DONE:
    ret;
}}
",
        entry = entry(name, comment, extra),
        index = thread_index(),
        philox = philox(),
        dst = load_base("%dst", "dst"),
        a_dst = element_addr("%a", "%dst", "%i"),
    )
}

fn uniform_kernel() -> String {
    let body = format!(
        "    // u = (w0 >> 8) / 2^24, exact
    shr.u32 %k, %w0, 8;
    cvt.rn.f32.u32 %u, %k;
    mul.f32 %u, %u, {unit};
    ld.param.f32 %lh, [low_hi];
    ld.param.f32 %ll, [low_lo];
    ld.param.f32 %rh, [range_hi];
    ld.param.f32 %rl, [range_lo];
    // range_hi * u = p + p_err exactly (fma returns the product's rounding error)
    mul.rn.f32 %p, %rh, %u;
    neg.f32 %x, %p;
    fma.rn.f32 %p_err, %rh, %u, %x;
    // low_hi + p = s + s_err exactly (Knuth's two-sum)
    add.rn.f32 %s, %lh, %p;
    sub.rn.f32 %bb, %s, %lh;
    sub.rn.f32 %x, %s, %bb;
    sub.rn.f32 %x, %lh, %x;
    sub.rn.f32 %y, %p, %bb;
    add.rn.f32 %s_err, %x, %y;
    // the small rest: s_err + p_err + low_lo + range_lo * u; then one rounding of the sum
    fma.rn.f32 %tail, %rl, %u, %ll;
    add.rn.f32 %tail, %tail, %p_err;
    add.rn.f32 %tail, %tail, %s_err;
    add.rn.f32 %out, %s, %tail;
",
        unit = f32_imm(1.0 / 16_777_216.0)
    );
    draw_kernel(
        "uniform",
        "// Uniform on [low, low + range): word 0's top 24 bits as a fraction u; low + range * u
// in two-float arithmetic (each of low and range is given as an f32 pair hi + lo).",
        &[
            "    .param .f32 low_hi",
            "    .param .f32 low_lo",
            "    .param .f32 range_hi",
            "    .param .f32 range_lo",
        ],
        "    .reg .u32 %k;
    .reg .f32 %u, %lh, %ll, %rh, %rl, %p, %p_err, %s, %s_err, %bb, %x, %y, %tail;
",
        &body,
    )
}

fn bernoulli_kernel() -> String {
    draw_kernel(
        "bernoulli",
        "// Bernoulli: 1.0 where (w0 >> 8) < threshold = ceil(p * 2^24), else 0.0.",
        &["    .param .u32 threshold"],
        "    .reg .pred %hit;\n    .reg .u32 %k, %threshold;\n",
        "    shr.u32 %k, %w0, 8;
    ld.param.u32 %threshold, [threshold];
    setp.lo.u32 %hit, %k, %threshold;
    selp.f32 %out, 0f3F800000, 0f00000000, %hit;
",
    )
}

fn rademacher_kernel() -> String {
    draw_kernel(
        "rademacher",
        "// Rademacher: +1.0 where word 3 is odd, else -1.0.",
        &[],
        "    .reg .pred %odd;\n    .reg .u32 %bit;\n",
        "    and.b32 %bit, %w3, 1;
    setp.eq.u32 %odd, %bit, 1;
    selp.f32 %out, 0f3F800000, 0fBF800000, %odd;
",
    )
}

/// `%ln = ln(j / 2^24)` for the integer `%j` in `[1, 2^24]`: `j / 2^24 = 2^(e - 24) * m` with
/// `m` in `[sqrt(1/2), sqrt(2))` found in integer arithmetic (exact), then `ln m = 2 atanh(s)`
/// with `s = (m - 1) / (m + 1)`, `|s| < 0.172`, as an odd series to `s^11`, and
/// `(e - 24) ln 2` in two parts (the high part has few bits, so `n * hi` is exact).
fn ln_ptx() -> String {
    let mut s = String::from(
        "    // e = floor(log2 j) by binary search on the integer
    mov.u32 %e, 0;
    mov.u32 %t, %j;
",
    );
    for bits in [16, 8, 4, 2, 1] {
        let _ = writeln!(
            s,
            "    setp.hs.u32 %big, %t, {};\n    @%big shr.u32 %t, %t, {bits};\n    @%big add.u32 %e, %e, {bits};",
            1u32 << bits
        );
    }
    let series: Vec<String> = [11, 9, 7, 5, 3]
        .iter()
        .map(|&k| f32_imm(2.0 / f64::from(k)))
        .collect();
    let _ = write!(
        s,
        "    // m = j * 2^-e in [1, 2), exactly: j << (24 - e) has at most 24 significant bits
    mov.u32 %t, 24;
    sub.u32 %t, %t, %e;
    shl.b32 %t, %j, %t;
    cvt.rn.f32.u32 %m, %t;
    mul.f32 %m, %m, {unit};
    // fold m into [sqrt(1/2), sqrt(2)): m > sqrt(2) -> m / 2, e + 1
    setp.gt.f32 %big, %m, {sqrt2};
    @%big mul.f32 %m, %m, 0f3F000000;
    @%big add.u32 %e, %e, 1;
    // ln m = 2s + s^3 (2/3 + s^2 (2/5 + s^2 (2/7 + s^2 (2/9 + s^2 2/11))))
    sub.f32 %num, %m, 0f3F800000;         // m - 1, exact
    add.f32 %den, %m, 0f3F800000;
    div.rn.f32 %s, %num, %den;
    mul.f32 %z, %s, %s;
    mov.f32 %poly, {c11};
    fma.rn.f32 %poly, %poly, %z, {c9};
    fma.rn.f32 %poly, %poly, %z, {c7};
    fma.rn.f32 %poly, %poly, %z, {c5};
    fma.rn.f32 %poly, %poly, %z, {c3};
    mul.f32 %poly, %poly, %z;
    mul.f32 %poly, %poly, %s;
    fma.rn.f32 %ln, %s, 0f40000000, %poly;
    // + (e - 24) ln 2 = n ln2_hi + n ln2_lo
    cvt.rn.f32.u32 %nf, %e;
    sub.f32 %nf, %nf, 0f41C00000;          // n = e - 24 (exact)
    fma.rn.f32 %ln, %nf, {ln2_lo}, %ln;
    fma.rn.f32 %ln, %nf, {ln2_hi}, %ln;
",
        unit = f32_imm(1.0 / 16_777_216.0),
        sqrt2 = f32_imm(SQRT_2),
        c11 = series[0],
        c9 = series[1],
        c7 = series[2],
        c5 = series[3],
        c3 = series[4],
        ln2_hi = f32_imm(LN2_HI),
        ln2_lo = f32_imm(LN_2 - LN2_HI),
    );
    s
}

/// ln 2 to 16 bits: `n * LN2_HI` is exact for the `|n| <= 24` of [`ln_ptx`].
const LN2_HI: f64 = 0.693_145_751_953_125;

/// `%cos = cos(2 pi k / 2^24)` for the integer `%k` in `[0, 2^24)`: the quadrant `q` and the
/// remainder `r` in `[-2^21, 2^21)` come from integer arithmetic on `k + 2^21`, so the reduced
/// argument `t = r / 2^24` (`|2 pi t| <= pi/4`) is exact; `sin(2 pi t)` and `cos(2 pi t)` are
/// Taylor polynomials in `t` with the powers of `2 pi` folded into the coefficients, and
/// `cos(q pi/2 + x)` is one of `cos x, -sin x, -cos x, sin x`.
fn cos_ptx() -> String {
    // The Taylor coefficient of t^n: (-1)^(n / 2) (2 pi)^n / n!.
    let coef = |n: i32| f32_imm((-1f64).powi(n / 2) * TAU.powi(n) / factorial(n));
    format!(
        "    // k + 2^21 = q 2^22 + (r + 2^21): quadrant q, remainder r in [-2^21, 2^21)
    add.u32 %k, %k, 0x200000;
    shr.u32 %q, %k, 22;
    and.b32 %q, %q, 3;
    and.b32 %k, %k, 0x3FFFFF;
    sub.s32 %r, %k, 0x200000;
    cvt.rn.f32.s32 %frac, %r;
    mul.f32 %frac, %frac, {unit};        // t = r / 2^24, exact
    mul.f32 %z, %frac, %frac;
    // sin(2 pi t) = t (S1 + t^2 (S3 + t^2 (S5 + t^2 (S7 + t^2 S9))))
    mov.f32 %sin, {s9};
    fma.rn.f32 %sin, %sin, %z, {s7};
    fma.rn.f32 %sin, %sin, %z, {s5};
    fma.rn.f32 %sin, %sin, %z, {s3};
    fma.rn.f32 %sin, %sin, %z, {s1};
    mul.f32 %sin, %sin, %frac;
    // cos(2 pi t) = 1 + t^2 (C2 + t^2 (C4 + t^2 (C6 + t^2 (C8 + t^2 C10))))
    mov.f32 %cos, {c10};
    fma.rn.f32 %cos, %cos, %z, {c8};
    fma.rn.f32 %cos, %cos, %z, {c6};
    fma.rn.f32 %cos, %cos, %z, {c4};
    fma.rn.f32 %cos, %cos, %z, {c2};
    fma.rn.f32 %cos, %cos, %z, 0f3F800000;
    // by quadrant: q = 1 or 3 takes sin, q = 1 or 2 flips the sign
    and.b32 %bit, %q, 1;
    setp.eq.u32 %odd, %bit, 1;
    selp.f32 %cos, %sin, %cos, %odd;
    setp.eq.u32 %flip, %q, 1;
    setp.eq.u32 %also, %q, 2;
    or.pred %flip, %flip, %also;
    @%flip neg.f32 %cos, %cos;
",
        unit = f32_imm(1.0 / 16_777_216.0),
        s1 = coef(1),
        s3 = coef(3),
        s5 = coef(5),
        s7 = coef(7),
        s9 = coef(9),
        c2 = coef(2),
        c4 = coef(4),
        c6 = coef(6),
        c8 = coef(8),
        c10 = coef(10),
    )
}

fn normal_kernel() -> String {
    let body = format!(
        "    // u1 = ((w1 >> 8) + 1) / 2^24 in (0, 1]: j = (w1 >> 8) + 1
    shr.u32 %j, %w1, 8;
    add.u32 %j, %j, 1;
{ln}    // radius = sqrt(-2 ln u1)
    mul.f32 %ln, %ln, 0fC0000000;
    sqrt.rn.f32 %radius, %ln;
    // u2 = (w2 >> 8) / 2^24: k = w2 >> 8
    shr.u32 %k, %w2, 8;
{cos}    mul.f32 %radius, %radius, %cos;
    ld.param.f32 %mean, [mean];
    ld.param.f32 %std, [std];
    fma.rn.f32 %out, %std, %radius, %mean;
",
        ln = ln_ptx(),
        cos = cos_ptx()
    );
    draw_kernel(
        "normal",
        "// Normal (Box-Muller): mean + std * sqrt(-2 ln u1) * cos(2 pi u2) from words 1 and 2.",
        &["    .param .f32 mean", "    .param .f32 std"],
        "    .reg .pred %big, %odd, %flip, %also;
    .reg .u32 %j, %e, %t, %k, %q, %bit;
    .reg .s32 %r;
    .reg .f32 %m, %num, %den, %s, %z, %poly, %ln, %nf, %radius, %frac, %sin, %cos, %mean, %std;
",
        &body,
    )
}

fn ptx() -> String {
    [
        PTX_HEADER.to_string(),
        uniform_kernel(),
        normal_kernel(),
        rademacher_kernel(),
        bernoulli_kernel(),
    ]
    .join("\n")
}

/// `v` as `hi + lo` with `hi = v as f32` and `lo` the f32 nearest the rest: 48 bits of `v`.
fn two_floats(v: f64) -> (f32, f32) {
    let hi = v as f32;
    (hi, (v - f64::from(hi)) as f32)
}

/// Launches draw kernel `kernel` for `shape` on Philox counters `start..` under `key`.
fn launch_draw(
    gpu: &Gpu,
    key: [u32; 2],
    start: u64,
    shape: Shape,
    kernel: &str,
    extra: &[KernelArg],
) -> Result<GpuTensor<f32>, GpuError> {
    let out = GpuTensor::uninit(gpu, shape)?;
    if out.numel() == 0 {
        return Ok(out);
    }
    let mut args: Vec<KernelArg> = vec![
        out.ptr().into(),
        to_u32(out.numel(), kernel).into(),
        start.into(),
        key[0].into(),
        key[1].into(),
    ];
    args.extend_from_slice(extra);
    gpu.launch(
        &MODULE,
        kernel,
        LaunchConfig::linear(out.numel(), BLOCK_1D),
        &args,
    )?;
    Ok(out)
}

/// Bernoulli's threshold: `k / 2^24 < p  <=>  k < ceil(p 2^24)` for the integer `k` in
/// `[0, 2^24)`; NaN gives 0.
fn bernoulli_threshold(p: f64) -> u32 {
    let scaled = (p * 16_777_216.0).ceil();
    if scaled >= 16_777_216.0 {
        1 << 24
    } else if scaled > 0.0 {
        scaled as u32
    } else {
        0
    }
}

impl GpuTensor<f32> {
    /// A random tensor of `shape`: element `i` from the Philox words of counter `start + i`
    /// under `key`, the numbers `tensor::Rng` draws on the CPU from the same counters. The caller
    /// reserves the counters `start..start + shape.numel()`.
    pub fn draw(
        gpu: &Gpu,
        key: [u32; 2],
        start: u64,
        shape: Shape,
        draw: Draw,
    ) -> Result<Self, GpuError> {
        match draw {
            Draw::Uniform { low, high } => {
                let (low_hi, low_lo) = two_floats(low);
                let (range_hi, range_lo) = two_floats(high - low);
                let extra = [
                    low_hi.into(),
                    low_lo.into(),
                    range_hi.into(),
                    range_lo.into(),
                ];
                launch_draw(gpu, key, start, shape, "uniform", &extra)
            }
            Draw::Normal { mean, std } => {
                let extra = [(mean as f32).into(), (std as f32).into()];
                launch_draw(gpu, key, start, shape, "normal", &extra)
            }
            Draw::Rademacher => launch_draw(gpu, key, start, shape, "rademacher", &[]),
            Draw::Bernoulli { p } => {
                let extra = [bernoulli_threshold(p).into()];
                launch_draw(gpu, key, start, shape, "bernoulli", &extra)
            }
        }
    }
}
