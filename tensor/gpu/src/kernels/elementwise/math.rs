//! PTX sequences for `e^x` and `ln x` to within a few ulp, and f32 immediates: used by the
//! elementwise kernels and the softmax kernels.

use std::fmt::Write;

/// An f32 immediate as PTX spells it: `0f` and the IEEE bits in hex.
pub(crate) fn imm(v: f32) -> String {
    format!("0f{:08X}", v.to_bits())
}

/// The scratch registers that [`exp_lines`] and [`log_lines`] use; a kernel that calls them
/// declares these once.
pub(crate) const MATH_REGS: &str = "    .reg .f32 %m<5>;\n    .reg .pred %mp<2>;\n";

/// PTX computing `dst = e^src` (f32 registers; `dst` may be `src`) to within a few ulp.
///
/// A plain `ex2.approx(x * log2 e)` loses up to ~30 ulp for large |x|, because the rounding
/// error of the product is magnified by the exponential. Instead split
/// `x log2 e = j + f` with `j` an integer and |f| <= 1/2 (up to 1.4 where `j` is capped at
/// 127), computing `f` with `fma` and log2(e) in two parts so that it carries no rounding error;
/// then `2^f` (by `ex2.approx`, ~2 ulp) times `2^j` (exact).
pub(crate) fn exp_lines(dst: &str, src: &str) -> String {
    let l2e = std::f32::consts::LOG2_E;
    let l2e_lo = (std::f64::consts::LOG2_E - f64::from(l2e)) as f32;
    format!(
        "    // {dst} = e^{src}: clamp x to [-110, 89] (e^x is 0 or inf beyond) so j stays finite;
    // at -110, 2^j = 2^-159 is 0 however ex2.approx rounds (so e^-inf is exactly 0)
    setp.nan.f32 %mp0, {src}, {src};
    max.f32 %m0, {src}, {lo};
    min.f32 %m0, %m0, {hi};
    mul.rn.f32 %m1, %m0, {l2e};
    cvt.rni.f32.f32 %m1, %m1;            // j = round(x log2 e), at most 127 so that 2^j is
    min.f32 %m1, %m1, {j_max};          // finite: e^x just below f32's max has j = 128
    neg.f32 %m2, %m1;
    fma.rn.f32 %m2, %m0, {l2e}, %m2;     // f = x log2 e - j, one rounding
    fma.rn.f32 %m2, %m0, {l2e_lo}, %m2;  //   + x (log2 e - {l2e}), the rest of log2 e
    ex2.approx.f32 %m2, %m2;             // 2^f
    ex2.approx.f32 %m1, %m1;             // 2^j, exact
    mul.rn.f32 %m2, %m2, %m1;
    selp.f32 {dst}, {src}, %m2, %mp0;    // NaN stays NaN (the clamp would have lost it)
",
        lo = imm(-110.0),
        hi = imm(89.0),
        j_max = imm(127.0),
        l2e = imm(l2e),
        l2e_lo = imm(l2e_lo),
    )
}

/// PTX computing `dst = ln(src)` (f32 registers; `dst` may be `src`) to within a few ulp.
///
/// `lg2.approx` has an absolute error of about 2^-22, which is a few ulp where |ln x| >= ln 2
/// but a large relative error near x = 1, where ln x is small. There the series
/// `ln x = 2 atanh(s) = 2s + 2s^3/3 + 2s^5/5 + ...` with `s = (x-1)/(x+1)` is used instead: on
/// [1/2, 2], |s| <= 1/3 and terms up to s^17 leave an error below 1e-9 relative.
pub(crate) fn log_lines(dst: &str, src: &str) -> String {
    let mut s = format!(
        "    // {dst} = ln {src}: far from 1, lg2.approx * ln 2 (also right for 0, <0, inf, NaN)
    lg2.approx.f32 %m0, {src};
    mul.rn.f32 %m0, %m0, {ln2};
    // on [1/2, 2]: 2s + s * (2/3 s^2 + 2/5 s^4 + ... + 2/17 s^16), s = (x-1)/(x+1)
    sub.rn.f32 %m1, {src}, {one};          // exact on [1/2, 2]
    add.rn.f32 %m2, {src}, {one};
    div.rn.f32 %m1, %m1, %m2;              // s
    mul.rn.f32 %m2, %m1, %m1;              // s^2
    mov.f32 %m3, {c8};
",
        ln2 = imm(std::f32::consts::LN_2),
        one = imm(1.0),
        c8 = imm(2.0 / 17.0),
    );
    for k in (1..8).rev() {
        let c = 2.0 / (2 * k + 1) as f32;
        writeln!(s, "    fma.rn.f32 %m3, %m3, %m2, {};", imm(c)).unwrap();
    }
    write!(
        s,
        "    mul.rn.f32 %m3, %m3, %m2;
    add.rn.f32 %m4, %m1, %m1;              // 2s
    fma.rn.f32 %m3, %m1, %m3, %m4;
    setp.ge.f32 %mp0, {src}, {half};
    setp.le.f32 %mp1, {src}, {two};
    and.pred %mp0, %mp0, %mp1;
    selp.f32 {dst}, %m3, %m0, %mp0;
",
        half = imm(0.5),
        two = imm(2.0),
    )
    .unwrap();
    s
}
