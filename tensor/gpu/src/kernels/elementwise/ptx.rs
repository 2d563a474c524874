//! The elementwise module's PTX text: `fill`, the unary kernels, and every binary op and
//! `where_` in a same-shape and a broadcast form (see the family's documentation in
//! [`super`]).

use super::math::{MATH_REGS, exp_lines, imm, log_lines};
use crate::module::{PTX_HEADER, PtxModule};
use std::fmt::Write;

/// The module.
pub static MODULE: PtxModule = PtxModule::new("elementwise", ptx);

/// The most output axes a broadcast kernel indexes; simplified broadcasts of higher rank run as
/// one launch per index of the leading axes.
pub(super) const MAX_RANK: usize = 4;

/// A unary op: its kernel name, how many f32 scalar parameters (`%s0`, `%s1`) it takes, and the
/// PTX computing `%y` from `%x` (scratch: `%t0..%t3`, `%q0..%q3`, and the math registers).
struct Unary {
    name: &'static str,
    scalars: usize,
    body: fn() -> String,
}

/// The start of every kernel here: `%r0` = this thread's element (`ctaid.x * ntid.x + tid.x`),
/// and threads past `n` jump to `DONE`. Needs `.pred %p0` and `.u32 %r0..%r2`.
const THREAD_INDEX: &str = "
    // i = this thread's element; threads past the end have nothing to do
    mov.u32 %r0, %ctaid.x;
    mov.u32 %r1, %ntid.x;
    mov.u32 %r2, %tid.x;
    mad.lo.u32 %r0, %r0, %r1, %r2;
    ld.param.u32 %r1, [n];
    setp.hs.u32 %p0, %r0, %r1;
    @%p0 bra DONE;
";

/// Every unary op, with semantics (NaN, signed zero) as the CPU op of the same name.
const UNARY: [Unary; 12] = [
    Unary {
        name: "neg",
        scalars: 0,
        body: || "    neg.f32 %y, %x;\n".into(),
    },
    Unary {
        name: "exp",
        scalars: 0,
        body: || exp_lines("%y", "%x"),
    },
    Unary {
        name: "log",
        scalars: 0,
        body: || log_lines("%y", "%x"),
    },
    Unary {
        name: "sqrt",
        scalars: 0,
        body: || "    sqrt.rn.f32 %y, %x;\n".into(),
    },
    Unary {
        name: "abs",
        scalars: 0,
        body: || "    abs.f32 %y, %x;\n".into(),
    },
    Unary {
        name: "sign",
        scalars: 0,
        body: sign_body,
    },
    Unary {
        name: "relu",
        scalars: 0,
        body: || {
            format!(
                "    setp.gt.f32 %q0, %x, {zero};     // NaN and -0 give 0, as on the CPU
    selp.f32 %y, %x, {zero}, %q0;
",
                zero = imm(0.0)
            )
        },
    },
    Unary {
        name: "square",
        scalars: 0,
        body: || "    mul.rn.f32 %y, %x, %x;\n".into(),
    },
    Unary {
        name: "powf",
        scalars: 1,
        body: powf_body,
    },
    Unary {
        name: "clamp",
        scalars: 2,
        body: || {
            "    setp.lt.f32 %q0, %x, %s0;          // below min: min (NaN compares false: stays NaN)
    selp.f32 %y, %s0, %x, %q0;
    setp.gt.f32 %q0, %x, %s1;          // above max: max
    selp.f32 %y, %s1, %y, %q0;
"
            .into()
        },
    },
    Unary {
        name: "add_scalar",
        scalars: 1,
        body: || "    add.rn.f32 %y, %x, %s0;\n".into(),
    },
    Unary {
        name: "mul_scalar",
        scalars: 1,
        body: || "    mul.rn.f32 %y, %x, %s0;\n".into(),
    },
];

/// `sign`: 1 above 0, -1 below, and `x * 0` otherwise (keeps -0 and NaN, as the CPU).
fn sign_body() -> String {
    format!(
        "    mul.rn.f32 %y, %x, {zero};
    setp.gt.f32 %q0, %x, {zero};
    @%q0 mov.f32 %y, {one};
    setp.lt.f32 %q0, %x, {zero};
    @%q0 mov.f32 %y, {minus_one};
",
        zero = imm(0.0),
        one = imm(1.0),
        minus_one = imm(-1.0),
    )
}

/// `powf`: `|x|^p = e^(p ln|x|)`, then C's `pow` special cases on top: `x^0 = 1` and `1^p = 1`
/// (even for NaN), a negative x gives NaN for a non-integer p and a negated result for an odd
/// integer p (also for -0 and -inf, which keep their sign).
fn powf_body() -> String {
    let zero = imm(0.0);
    let mut s = "    abs.f32 %t0, %x;\n".to_string();
    s += &log_lines("%t0", "%t0");
    write!(
        s,
        "    setp.eq.f32 %q0, %t0, {zero};       // |x| = 1
    setp.eq.f32 %q1, %s0, {zero};       // p = 0
    or.pred %q0, %q0, %q1;
    mul.rn.f32 %t0, %s0, %t0;
    selp.f32 %t0, {zero}, %t0, %q0;     // the exponent is exactly 0 there: result 1
"
    )
    .unwrap();
    s += &exp_lines("%y", "%t0");
    write!(
        s,
        "    // sign of x: q0 = x has its sign bit (x < 0, -0 or -inf: 1/x < 0 catches -0)
    setp.lt.f32 %q0, %x, {zero};
    rcp.rn.f32 %t1, %x;
    setp.lt.f32 %q1, %t1, {zero};
    or.pred %q0, %q0, %q1;
    // q1 = p is not an integer; q2 = p is an odd integer
    cvt.rzi.f32.f32 %t1, %s0;
    setp.neu.f32 %q1, %t1, %s0;
    mul.rn.f32 %t2, %s0, {half};
    cvt.rzi.f32.f32 %t3, %t2;
    setp.neu.f32 %q2, %t3, %t2;
    not.pred %q3, %q1;
    and.pred %q2, %q2, %q3;
    and.pred %q2, %q2, %q0;
    @%q2 neg.f32 %y, %y;
    // a finite negative x to a non-integer power is NaN
    setp.lt.f32 %q0, %x, {zero};
    setp.gt.f32 %q3, %x, {minus_inf};
    and.pred %q0, %q0, %q3;
    and.pred %q0, %q0, %q1;
    @%q0 mov.f32 %y, {nan};
",
        half = imm(0.5),
        minus_inf = imm(f32::NEG_INFINITY),
        nan = imm(f32::NAN),
    )
    .unwrap();
    s
}

/// A binary op: its kernel name, the name the CPU op uses in panics, and the PTX computing `%y`
/// from `%a` and `%b`.
pub(super) struct Binary {
    pub(super) name: &'static str,
    pub(super) op: &'static str,
    body: fn() -> String,
}

/// A comparison's body: 1.0 where `setp.<cmp>` holds (false on NaN, as Rust's operators), else 0.
fn compare_body(cmp: &str) -> String {
    format!(
        "    setp.{cmp}.f32 %q0, %a, %b;\n    selp.f32 %y, {}, {}, %q0;\n",
        imm(1.0),
        imm(0.0)
    )
}

/// Every binary op.
pub(super) const BINARY: [Binary; 12] = [
    Binary {
        name: "add",
        op: "add",
        body: || "    add.rn.f32 %y, %a, %b;\n".into(),
    },
    Binary {
        name: "add_relu",
        op: "add_relu",
        body: || {
            // The sum where it is above 0, else 0 (NaN included), as `relu_of`.
            let zero = imm(0.0);
            format!(
                "    add.rn.f32 %y, %a, %b;\n    setp.gt.f32 %q0, %y, {zero};\n    \
                 selp.f32 %y, %y, {zero}, %q0;\n"
            )
        },
    },
    Binary {
        name: "sub",
        op: "sub",
        body: || "    sub.rn.f32 %y, %a, %b;\n".into(),
    },
    Binary {
        name: "mul",
        op: "mul",
        body: || "    mul.rn.f32 %y, %a, %b;\n".into(),
    },
    Binary {
        name: "div",
        op: "div",
        body: || "    div.rn.f32 %y, %a, %b;\n".into(),
    },
    Binary {
        name: "maximum",
        op: "maximum",
        body: || {
            "    setp.ge.f32 %q0, %a, %b;           // a if a is NaN or a >= b, else b (NaN b: b)
    setp.nan.f32 %q1, %a, %a;
    or.pred %q0, %q0, %q1;
    selp.f32 %y, %a, %b, %q0;
"
            .into()
        },
    },
    Binary {
        name: "minimum",
        op: "minimum",
        body: || {
            "    setp.le.f32 %q0, %a, %b;           // a if a is NaN or a <= b, else b (NaN b: b)
    setp.nan.f32 %q1, %a, %a;
    or.pred %q0, %q0, %q1;
    selp.f32 %y, %a, %b, %q0;
"
            .into()
        },
    },
    Binary {
        name: "gt",
        op: "gt",
        body: || compare_body("gt"),
    },
    Binary {
        name: "ge",
        op: "ge",
        body: || compare_body("ge"),
    },
    Binary {
        name: "lt",
        op: "lt",
        body: || compare_body("lt"),
    },
    Binary {
        name: "le",
        op: "le",
        body: || compare_body("le"),
    },
    Binary {
        name: "eq_mask",
        op: "eq",
        body: || compare_body("eq"),
    },
];

/// `where_`: `on_true` where `cond` is non-zero (`neu`: NaN counts as non-zero, as `!=` on the
/// CPU), else `on_false`.
fn where_body() -> String {
    format!(
        "    setp.neu.f32 %q0, %cond, {};\n    selp.f32 %y, %on_true, %on_false, %q0;\n",
        imm(0.0)
    )
}

/// The names of `where_`'s three inputs, as kernel parameters and registers.
const WHERE_INPUTS: [&str; 3] = ["cond", "on_true", "on_false"];

/// How a kernel finds its inputs' elements.
#[derive(Clone, Copy)]
pub(super) enum Indexing {
    /// At the output's own index: every input has the output's shape.
    Same,
    /// Through per-input strides over this many output axes.
    Broadcast(usize),
}

/// The name of the kernel for `op` with `indexing`: `op` or `op_bcastR`.
pub(super) fn kernel_name(op: &str, indexing: Indexing) -> String {
    match indexing {
        Indexing::Same => op.to_string(),
        Indexing::Broadcast(rank) => format!("{op}_bcast{rank}"),
    }
}

/// One elementwise kernel: `out[i] = body(inputs at i)` for `i < n`.
///
/// Parameters, in order: `out`, one pointer per input, `n`; with broadcasting the output's
/// dimensions 1..rank (`dim1`, ...; axis 0 needs none), then each input's `rank` strides;
/// finally the f32 scalars `s0`, `s1`, ... Each input is loaded into a register named after it.
fn kernel(name: &str, inputs: &[&str], scalars: usize, indexing: Indexing, body: &str) -> String {
    let mut params = vec!["    .param .u64 out".to_string()];
    params.extend(inputs.iter().map(|x| format!("    .param .u64 {x}")));
    params.push("    .param .u32 n".into());
    if let Indexing::Broadcast(rank) = indexing {
        params.extend((1..rank).map(|k| format!("    .param .u32 dim{k}")));
        for x in inputs {
            params.extend((0..rank).map(|k| format!("    .param .u32 {x}_stride{k}")));
        }
    }
    params.extend((0..scalars).map(|k| format!("    .param .f32 s{k}")));

    let mut s = format!(
        ".visible .entry {}(\n{}\n)\n{{\n",
        kernel_name(name, indexing),
        params.join(",\n")
    );
    s += "    .reg .pred %p0;
    .reg .pred %q<4>;
    .reg .u32 %r<5>;
    .reg .u64 %rd<3>;
    .reg .f32 %y;
    .reg .f32 %t<4>;
    .reg .f32 %s<2>;
";
    s += MATH_REGS;
    for x in inputs {
        writeln!(s, "    .reg .f32 %{x};").unwrap();
        if let Indexing::Broadcast(_) = indexing {
            writeln!(s, "    .reg .u32 %{x}_at;").unwrap();
        }
    }
    s += THREAD_INDEX;
    if let Indexing::Broadcast(rank) = indexing {
        s += "
    // coordinates of i, innermost axis first (r3 = c_k, r2 = what is left of i), and each
    // input's element offset: the sum of c_k times its stride k
    mov.u32 %r2, %r0;
";
        for x in inputs {
            writeln!(s, "    mov.u32 %{x}_at, 0;").unwrap();
        }
        for k in (1..rank).rev() {
            writeln!(s, "    ld.param.u32 %r4, [dim{k}];").unwrap();
            s += "    rem.u32 %r3, %r2, %r4;\n    div.u32 %r2, %r2, %r4;\n";
            for x in inputs {
                writeln!(
                    s,
                    "    ld.param.u32 %r4, [{x}_stride{k}];\n    mad.lo.u32 %{x}_at, %r3, %r4, %{x}_at;"
                )
                .unwrap();
            }
        }
        for x in inputs {
            writeln!(
                s,
                "    ld.param.u32 %r4, [{x}_stride0];\n    mad.lo.u32 %{x}_at, %r2, %r4, %{x}_at;"
            )
            .unwrap();
        }
    }
    s += "\n    // load the inputs (64-bit addresses: base + 4 * offset)\n";
    if let Indexing::Same = indexing {
        s += "    mul.wide.u32 %rd0, %r0, 4;\n";
    }
    for x in inputs {
        if let Indexing::Broadcast(_) = indexing {
            writeln!(s, "    mul.wide.u32 %rd0, %{x}_at, 4;").unwrap();
        }
        writeln!(
            s,
            "    ld.param.u64 %rd1, [{x}];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %rd0;
    ld.global.nc.f32 %{x}, [%rd1];"
        )
        .unwrap();
    }
    for k in 0..scalars {
        writeln!(s, "    ld.param.f32 %s{k}, [s{k}];").unwrap();
    }
    s += "\n    // the op\n";
    s += body;
    s += "
    // store out[i]
    mul.wide.u32 %rd0, %r0, 4;
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %rd0;
    st.global.f32 [%rd1], %y;
DONE:
    ret;
}

";
    s
}

/// `fill`: every one of the `n` 32-bit words of `out` set to the bits `value`.
fn fill_kernel() -> String {
    format!(
        ".visible .entry fill(
    .param .u64 out,
    .param .u32 n,
    .param .u32 value
)
{{
    .reg .pred %p0;
    .reg .u32 %r<4>;
    .reg .u64 %rd<2>;
{THREAD_INDEX}
    // out[i] = value
    ld.param.u32 %r3, [value];
    mul.wide.u32 %rd0, %r0, 4;
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %rd0;
    st.global.u32 [%rd1], %r3;
DONE:
    ret;
}}

"
    )
}

/// The module's text: fill, the unary kernels, and every binary op and `where_` in its
/// same-shape and broadcast (rank 1 to [`MAX_RANK`]) forms.
fn ptx() -> String {
    let mut s = PTX_HEADER.to_string();
    s += &fill_kernel();
    for op in &UNARY {
        s += &kernel(op.name, &["x"], op.scalars, Indexing::Same, &(op.body)());
    }
    let variants =
        || std::iter::once(Indexing::Same).chain((1..=MAX_RANK).map(Indexing::Broadcast));
    for op in &BINARY {
        for indexing in variants() {
            s += &kernel(op.name, &["a", "b"], 0, indexing, &(op.body)());
        }
    }
    for indexing in variants() {
        s += &kernel("where_", &WHERE_INPUTS, 0, indexing, &where_body());
    }
    s
}
