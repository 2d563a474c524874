//! softmax, log_softmax and logsumexp along an axis, stabilised by subtracting the maximum: the
//! GPU twins of the CPU ops of the same names.
//!
//! The lines along the axis are laid out on blocks as in the reductions (see
//! [`reduce`](super::reduce)): a column of threads per line, neighbouring lines side by side.
//! Each kernel makes up to three passes over its lines: the maximum (a tree in shared memory,
//! whose result every thread of the column then reads), the sum of `e^(x - max)` (a second
//! tree), and, for softmax and log_softmax, writing every element.

use super::elementwise::launch::count;
use super::elementwise::math::{MATH_REGS, exp_lines, imm, log_lines};
use super::reduce::lines::{
    BLOCK, LINE_REGS, line_address_lines, line_block, line_launch, line_setup_lines, tree_lines,
};
use crate::device_tensor::GpuTensor;
use crate::error::GpuError;
use crate::launch::KernelArg;
use crate::module::{PTX_HEADER, PtxModule};
use tensor_spec::Shape;
use tensor_spec::op::SoftmaxOp;

/// The module.
pub static MODULE: PtxModule = PtxModule::new("softmax", ptx);

/// Which of the three related results a kernel produces.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// `e^(x - max) / sum`, every element.
    Softmax,
    /// `(x - max) - ln(sum)`, every element.
    LogSoftmax,
    /// `ln(sum) + max`, one value per line; the shift is 0 when the max is infinite (a line of
    /// -inf gives -inf, not NaN), as on the CPU.
    LogSumExp,
}

impl Form {
    /// The kernel's name.
    fn name(self) -> &'static str {
        match self {
            Form::Softmax => "softmax",
            Form::LogSoftmax => "log_softmax",
            Form::LogSumExp => "logsumexp",
        }
    }
}

/// `<form>(out, x, lines, len, inner)` over the lines of `x` viewed as `[outer, len, inner]`;
/// `out` is shaped like `x`, or `[outer, inner]` for logsumexp.
fn kernel(form: Form) -> String {
    let mut s = format!(
        ".visible .entry {name}(
    .param .u64 out,
    .param .u64 x,
    .param .u32 lines,
    .param .u32 len,
    .param .u32 inner
)
{{
{LINE_REGS}{MATH_REGS}    .reg .u32 %l;
    .reg .u64 %offset;
    .reg .u64 %first;
    .reg .f32 %v;
    .reg .f32 %w;
    .reg .f32 %acc;
    .reg .f32 %shift;
    .reg .f32 %sum;
    .shared .align 4 .f32 line_max[{BLOCK}];
    .shared .align 4 .f32 line_sum[{BLOCK}];

    mov.u32 %group, %ctaid.x;
{setup}    mov.u32 %r0, %ty;
{address}    mov.u64 %offset, %rd0;           // bytes from x to x[o, tid.y, i] (out alike)
    mov.u64 %first, %addr;
    mad.lo.u32 %r2, %ty, %ntx, %tx;
    shl.b32 %r2, %r2, 2;                // r2 = byte offset of this thread's shared cell

    // pass 1: max of the line (NaN skipped, -inf for none)
    mov.f32 %acc, {minus_inf};
    @!%p_active bra MAX_FOLDED;
    mov.u32 %l, %ty;
MAX_LOOP:
    setp.hs.u32 %p0, %l, %len;
    @%p0 bra MAX_FOLDED;
    ld.global.nc.f32 %v, [%addr];
    max.f32 %acc, %acc, %v;
    add.u64 %addr, %addr, %step;
    add.u32 %l, %l, %nty;
    bra.uni MAX_LOOP;
MAX_FOLDED:
    mov.u32 %slot, line_max;
    add.u32 %slot, %slot, %r2;
    st.shared.f32 [%slot], %acc;
{max_tree}    // every thread reads its line's max from row 0
    shl.b32 %r0, %tx, 2;
    mov.u32 %r1, line_max;
    add.u32 %r1, %r1, %r0;
    ld.shared.f32 %shift, [%r1];
",
        name = form.name(),
        minus_inf = imm(f32::NEG_INFINITY),
        setup = line_setup_lines(),
        address = line_address_lines(),
        max_tree = tree_lines(
            "MAX",
            "    @%p1 ld.shared.f32 %v, [%slot];
    @%p1 ld.shared.f32 %w, [%other];
    @%p1 max.f32 %v, %v, %w;
    @%p1 st.shared.f32 [%slot], %v;
"
        ),
    );
    if form == Form::LogSumExp {
        s += &format!(
            "    // shift by 0 instead when the max is infinite
    abs.f32 %v, %shift;
    setp.eq.f32 %p0, %v, {inf};
    @%p0 mov.f32 %shift, {zero};
",
            inf = imm(f32::INFINITY),
            zero = imm(0.0)
        );
    }
    s += &format!(
        "
    // pass 2: sum of e^(x - shift)
    mov.f32 %acc, {zero};
    @!%p_active bra SUM_FOLDED;
    mov.u64 %addr, %first;
    mov.u32 %l, %ty;
SUM_LOOP:
    setp.hs.u32 %p0, %l, %len;
    @%p0 bra SUM_FOLDED;
    ld.global.nc.f32 %v, [%addr];
    sub.rn.f32 %v, %v, %shift;
{exp}    add.rn.f32 %acc, %acc, %v;
    add.u64 %addr, %addr, %step;
    add.u32 %l, %l, %nty;
    bra.uni SUM_LOOP;
SUM_FOLDED:
    mov.u32 %slot, line_sum;
    add.u32 %slot, %slot, %r2;
    st.shared.f32 [%slot], %acc;
{sum_tree}    shl.b32 %r0, %tx, 2;
    mov.u32 %r1, line_sum;
    add.u32 %r1, %r1, %r0;
    ld.shared.f32 %sum, [%r1];
    @!%p_active bra DONE;
",
        zero = imm(0.0),
        exp = exp_lines("%v", "%v"),
        sum_tree = tree_lines(
            "SUM",
            "    @%p1 ld.shared.f32 %v, [%slot];
    @%p1 ld.shared.f32 %w, [%other];
    @%p1 add.rn.f32 %v, %v, %w;
    @%p1 st.shared.f32 [%slot], %v;
"
        ),
    );
    match form {
        Form::LogSumExp => {
            s += "
    // row 0 writes out[line] = ln(sum) + shift
    setp.ne.u32 %p0, %ty, 0;
    @%p0 bra DONE;
";
            s += &log_lines("%v", "%sum");
            s += "    add.rn.f32 %v, %v, %shift;
    mul.wide.u32 %rd0, %line, 4;
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %rd0;
    st.global.f32 [%rd1], %v;
";
        }
        Form::Softmax | Form::LogSoftmax => {
            let (prepare, finish) = if form == Form::Softmax {
                (
                    String::new(),
                    exp_lines("%v", "%v") + "    div.rn.f32 %v, %v, %sum;\n",
                )
            } else {
                (
                    log_lines("%sum", "%sum"),
                    "    sub.rn.f32 %v, %v, %sum;\n".to_string(),
                )
            };
            s += &format!(
                "
    // pass 3: every element of the line, written where it was read
{prepare}    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %offset;
    mov.u64 %addr, %first;
    mov.u32 %l, %ty;
WRITE_LOOP:
    setp.hs.u32 %p0, %l, %len;
    @%p0 bra DONE;
    ld.global.nc.f32 %v, [%addr];
    sub.rn.f32 %v, %v, %shift;
{finish}    st.global.f32 [%rd1], %v;
    add.u64 %addr, %addr, %step;
    add.u64 %rd1, %rd1, %step;
    add.u32 %l, %l, %nty;
    bra.uni WRITE_LOOP;
"
            );
        }
    }
    s += "DONE:
    ret;
}

";
    s
}

/// The module's text: `softmax`, `log_softmax` and `logsumexp`.
fn ptx() -> String {
    let mut s = PTX_HEADER.to_string();
    for form in [Form::Softmax, Form::LogSoftmax, Form::LogSumExp] {
        s += &kernel(form);
    }
    s
}

/// Runs `form` along `axis` of `x` (checked, naming the op), giving `x`'s shape, or for
/// logsumexp `[outer, inner]`.
fn run(x: &GpuTensor<f32>, axis: usize, form: Form) -> Result<GpuTensor<f32>, GpuError> {
    let op = form.name();
    x.shape().check_axis(axis, op);
    let (outer, len, inner) = x.shape().split_at_axis(axis);
    let shape = if form == Form::LogSumExp {
        Shape::new(&[outer, inner])
    } else {
        x.shape().clone()
    };
    let out = GpuTensor::uninit(x.gpu(), shape)?;
    if out.numel() > 0 {
        let lines = outer * inner;
        let args = [
            KernelArg::U64(out.ptr()),
            KernelArg::U64(x.ptr()),
            count(lines, op).into(),
            count(len, op).into(),
            count(inner, op).into(),
        ];
        let config = line_launch(lines, line_block(len, inner), 1);
        x.gpu().launch(&MODULE, op, config, &args)?;
    }
    Ok(out)
}

impl GpuTensor<f32> {
    /// Along `axis`: `exp(x) / sum(exp(x))` (softmax), or `x - logsumexp(x)` (log-softmax,
    /// exact even for very negative probabilities).
    pub fn softmax(&self, op: SoftmaxOp, axis: usize) -> Result<GpuTensor<f32>, GpuError> {
        let form = match op {
            SoftmaxOp::Softmax => Form::Softmax,
            SoftmaxOp::LogSoftmax => Form::LogSoftmax,
        };
        run(self, axis, form)
    }

    /// `log(sum(exp(x)))` along `axis`, with `axis` removed or (`keepdim`) kept as 1.
    pub fn logsumexp(&self, axis: usize, keepdim: bool) -> Result<GpuTensor<f32>, GpuError> {
        let out = run(self, axis, Form::LogSumExp)?;
        let mut dims = self.dims().to_vec();
        if keepdim {
            dims[axis] = 1;
        } else {
            dims.remove(axis);
        }
        Ok(out.reshape(dims))
    }
}
