//! Elementwise kernels: fill, the unary ops, binary arithmetic and comparisons with numpy
//! broadcasting, and `where_`, each the GPU twin of the CPU op of the same name.
//!
//! Every kernel runs one thread per output element: thread `i = ctaid.x * ntid.x + tid.x` reads
//! its inputs, computes, and writes `out[i]`, so neighbouring threads touch neighbouring
//! addresses (coalesced). When all shapes are equal the inputs are read at `i` too (the fast
//! path, kernel `op`). Otherwise the host simplifies the broadcast (see `collapse`) to at most
//! `MAX_RANK` axes and launches `op_bcastR`, which turns `i` into coordinates with `div`/`rem`
//! and each input's offset into a dot product with its strides (0 on a broadcast axis).
//!
//! `exp` and `log` are also used by the softmax kernels, through `exp_lines` and `log_lines`.

use crate::cuda::device_tensor::{GpuScalar, GpuTensor};
use crate::cuda::error::GpuError;
use crate::cuda::gpu::Gpu;
use crate::cuda::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use crate::cuda::module::{PTX_HEADER, PtxModule};
use crate::shape::Shape;
use std::fmt::Write;

/// The module.
pub static MODULE: PtxModule = PtxModule::new("elementwise", ptx);

/// The most output axes a broadcast kernel indexes; simplified broadcasts of higher rank run as
/// one launch per index of the leading axes.
const MAX_RANK: usize = 4;

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
struct Binary {
    name: &'static str,
    op: &'static str,
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
const BINARY: [Binary; 11] = [
    Binary {
        name: "add",
        op: "add",
        body: || "    add.rn.f32 %y, %a, %b;\n".into(),
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
enum Indexing {
    /// At the output's own index: every input has the output's shape.
    Same,
    /// Through per-input strides over this many output axes.
    Broadcast(usize),
}

/// The name of the kernel for `op` with `indexing`: `op` or `op_bcastR`.
fn kernel_name(op: &str, indexing: Indexing) -> String {
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

/// `n` as a kernel's `u32` element count; the kernels index with 32-bit integers, so tensors
/// stay below 2^31 elements (8 GiB of f32).
pub(crate) fn count(n: usize, op: &str) -> u32 {
    assert!(
        n <= i32::MAX as usize,
        "{op}: {n} elements is more than the GPU kernels index (2^31 - 1)"
    );
    n as u32
}

/// Panics naming `op` unless every tensor lives on `gpu`.
fn check_device<T: GpuScalar>(gpu: &Gpu, tensors: &[&GpuTensor<T>], op: &str) {
    for t in tensors {
        assert!(
            t.gpu().same_device(gpu),
            "{op}: tensors on different devices ({} and {})",
            gpu.name(),
            t.gpu().name()
        );
    }
}

/// A broadcast, simplified: the output's dimensions and each input's strides along them.
///
/// Size-1 output axes are dropped, and neighbouring axes merge when every input reads them as
/// one (its stride on the outer axis is the inner stride times the inner size: both contiguous,
/// or both broadcast). So `[8, 3, 4, 4] * [3, 1, 1]` becomes dims `[8, 3, 16]` with strides
/// `[0, 1, 0]`, and a scalar operand becomes stride 0 on a single axis.
fn collapse(out: &Shape, inputs: &[&Shape]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let full: Vec<Vec<usize>> = inputs.iter().map(|s| s.broadcast_strides(out)).collect();
    let mut dims: Vec<usize> = Vec::new();
    let mut strides: Vec<Vec<usize>> = vec![Vec::new(); inputs.len()];
    for (axis, &d) in out.dims().iter().enumerate() {
        if d == 1 {
            continue;
        }
        let merges = !dims.is_empty()
            && full
                .iter()
                .zip(&strides)
                .all(|(s, kept)| kept.last() == Some(&(s[axis] * d)));
        if merges {
            *dims.last_mut().unwrap() *= d;
            for (kept, s) in strides.iter_mut().zip(&full) {
                *kept.last_mut().unwrap() = s[axis];
            }
        } else {
            dims.push(d);
            for (kept, s) in strides.iter_mut().zip(&full) {
                kept.push(s[axis]);
            }
        }
    }
    if dims.is_empty() {
        dims.push(1);
        for kept in &mut strides {
            kept.push(0);
        }
    }
    (dims, strides)
}

/// Runs the elementwise kernel `name` over `inputs` broadcast together (panicking with `op`'s
/// name when they cannot be), with f32 `scalars` as its last parameters.
fn elementwise(
    name: &str,
    op: &str,
    inputs: &[&GpuTensor<f32>],
    scalars: &[f32],
) -> Result<GpuTensor<f32>, GpuError> {
    let gpu = inputs[0].gpu();
    check_device(gpu, inputs, op);
    let shape = inputs[1..].iter().fold(inputs[0].shape().clone(), |s, x| {
        s.broadcast_or_panic(x.shape(), op)
    });
    let out = GpuTensor::uninit(gpu, shape.clone())?;
    let n = count(out.numel(), op);
    if n == 0 {
        return Ok(out);
    }
    let scalars = scalars.iter().map(|&v| KernelArg::F32(v));
    if inputs.iter().all(|x| *x.shape() == shape) {
        let mut args = vec![KernelArg::U64(out.ptr())];
        args.extend(inputs.iter().map(|x| KernelArg::U64(x.ptr())));
        args.push(KernelArg::U32(n));
        args.extend(scalars);
        let config = LaunchConfig::linear(n as usize, BLOCK_1D);
        gpu.launch(&MODULE, name, config, &args)?;
        return Ok(out);
    }
    let shapes: Vec<&Shape> = inputs.iter().map(|x| x.shape()).collect();
    let (dims, strides) = collapse(&shape, &shapes);
    // Above MAX_RANK axes: one launch per index of the leading axes, at offset pointers.
    let lead = dims.len().saturating_sub(MAX_RANK);
    let (lead_dims, dims) = dims.split_at(lead);
    let inner_n: usize = dims.iter().product();
    let name = kernel_name(name, Indexing::Broadcast(dims.len()));
    for index in 0..lead_dims.iter().product() {
        let (mut rest, mut offsets) = (index, vec![0usize; inputs.len()]);
        for axis in (0..lead).rev() {
            let c = rest % lead_dims[axis];
            rest /= lead_dims[axis];
            for (o, s) in offsets.iter_mut().zip(&strides) {
                *o += c * s[axis];
            }
        }
        let mut args = vec![KernelArg::U64(out.ptr() + 4 * (index * inner_n) as u64)];
        args.extend(
            inputs
                .iter()
                .zip(&offsets)
                .map(|(x, &o)| KernelArg::U64(x.ptr() + 4 * o as u64)),
        );
        args.push(KernelArg::U32(inner_n as u32));
        args.extend(dims[1..].iter().map(|&d| KernelArg::U32(d as u32)));
        for s in &strides {
            args.extend(s[lead..].iter().map(|&v| KernelArg::U32(v as u32)));
        }
        args.extend(scalars.clone());
        gpu.launch(
            &MODULE,
            &name,
            LaunchConfig::linear(inner_n, BLOCK_1D),
            &args,
        )?;
    }
    Ok(out)
}

impl<T: GpuScalar> GpuTensor<T> {
    /// A tensor of `shape` with every element `value`.
    pub fn full(gpu: &Gpu, shape: impl Into<Shape>, value: T) -> Result<Self, GpuError> {
        Self::fill(gpu, shape.into(), u32::from_le_bytes(value.to_le()))
    }

    /// A tensor of `shape` filled with zeros (all bits 0: 0.0 as f32, 0 as u32).
    pub fn zeros(gpu: &Gpu, shape: impl Into<Shape>) -> Result<Self, GpuError> {
        Self::fill(gpu, shape.into(), 0)
    }

    /// A tensor of `shape` whose every element has the bits `bits`.
    fn fill(gpu: &Gpu, shape: Shape, bits: u32) -> Result<Self, GpuError> {
        let out = GpuTensor::uninit(gpu, shape)?;
        let n = count(out.numel(), "full");
        if n > 0 {
            let args = [KernelArg::U64(out.ptr()), n.into(), bits.into()];
            let config = LaunchConfig::linear(n as usize, BLOCK_1D);
            gpu.launch(&MODULE, "fill", config, &args)?;
        }
        Ok(out)
    }
}

impl GpuTensor<f32> {
    /// `-self`.
    pub fn neg(&self) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("neg", "neg", &[self], &[])
    }

    /// `e^self` (within a few ulp).
    pub fn exp(&self) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("exp", "exp", &[self], &[])
    }

    /// Natural logarithm (within a few ulp).
    pub fn log(&self) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("log", "log", &[self], &[])
    }

    /// Square root (correctly rounded).
    pub fn sqrt(&self) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("sqrt", "sqrt", &[self], &[])
    }

    /// Absolute value.
    pub fn abs(&self) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("abs", "abs", &[self], &[])
    }

    /// -1, 0 or 1 by the sign of each element (0 at 0, NaN at NaN).
    pub fn sign(&self) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("sign", "sign", &[self], &[])
    }

    /// `max(x, 0)` (0 at NaN, as the CPU op).
    pub fn relu(&self) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("relu", "relu", &[self], &[])
    }

    /// `x * x`.
    pub fn square(&self) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("square", "square", &[self], &[])
    }

    /// `x^p` for a scalar exponent, with C `pow`'s special cases.
    pub fn powf(&self, p: f32) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("powf", "powf", &[self], &[p])
    }

    /// Clamps into `[min, max]` (NaN stays NaN).
    pub fn clamp(&self, min: f32, max: f32) -> Result<GpuTensor<f32>, GpuError> {
        assert!(min <= max, "clamp: min {min} is above max {max}");
        elementwise("clamp", "clamp", &[self], &[min, max])
    }

    /// `self + s` for a scalar `s`.
    pub fn add_scalar(&self, s: f32) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("add_scalar", "add_scalar", &[self], &[s])
    }

    /// `self * s` for a scalar `s`.
    pub fn mul_scalar(&self, s: f32) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("mul_scalar", "mul_scalar", &[self], &[s])
    }

    /// Runs the binary op named `name` (a [`BINARY`] entry) on `self` and `other`.
    fn binary(&self, other: &GpuTensor<f32>, name: &str) -> Result<GpuTensor<f32>, GpuError> {
        let op = BINARY.iter().find(|b| b.name == name).unwrap().op;
        elementwise(name, op, &[self, other], &[])
    }

    /// Elementwise sum with broadcasting.
    pub fn add(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "add")
    }

    /// Elementwise difference with broadcasting.
    pub fn sub(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "sub")
    }

    /// Elementwise product with broadcasting.
    pub fn mul(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "mul")
    }

    /// Elementwise quotient with broadcasting (IEEE division).
    pub fn div(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "div")
    }

    /// Elementwise maximum with broadcasting (NaN-propagating; `self` wins ties).
    pub fn maximum(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "maximum")
    }

    /// Elementwise minimum with broadcasting (NaN-propagating; `self` wins ties).
    pub fn minimum(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "minimum")
    }

    /// 1 where `self > other` (broadcast), else 0.
    pub fn gt(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "gt")
    }

    /// 1 where `self >= other` (broadcast), else 0.
    pub fn ge(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "ge")
    }

    /// 1 where `self < other` (broadcast), else 0.
    pub fn lt(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "lt")
    }

    /// 1 where `self <= other` (broadcast), else 0.
    pub fn le(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "le")
    }

    /// 1 where `self == other` (broadcast), else 0.
    pub fn eq_mask(&self, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        self.binary(other, "eq_mask")
    }

    /// `on_true` where `self` is non-zero (NaN included), else `on_false`; all three broadcast
    /// together.
    pub fn where_(
        &self,
        on_true: &GpuTensor<f32>,
        on_false: &GpuTensor<f32>,
    ) -> Result<GpuTensor<f32>, GpuError> {
        elementwise("where_", "where", &[self, on_true, on_false], &[])
    }
}
