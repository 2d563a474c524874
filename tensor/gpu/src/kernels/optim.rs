//! Fused optimiser updates on the GPU: one kernel per step of SGD (momentum, dampening, weight
//! decay, Nesterov) or Adam, with the formulas, operation order and f32 roundings of nn's `Sgd`
//! and `Adam` (`torch.optim.SGD` / `torch.optim.Adam`), so a step agrees with the CPU bit for
//! bit. Every multiply and add carries `.rn`: PTX never fuses an instruction with an explicit
//! rounding into an `fma`, which would round once where the CPU rounds twice.
//!
//! # In place, and shared buffers
//! The parameter and the state buffers are taken as `&mut GpuTensor<f32>` and hold the updated
//! values afterwards. A `GpuTensor` shares its buffer with its clones, so writing into the old
//! buffer could change another tensor too. Instead each kernel reads the old buffers and writes
//! fresh ones, which then replace `*param` and the state: copy-on-write without the copy. The
//! update rewrites every element anyway, so this moves exactly the bytes an in-place update
//! moves (read old, write new); the old buffers go back to the device's cache (or live on in
//! the clones that shared them), and the next parameter of that size reuses them.

use super::movement::launch::to_u32;
use super::movement::snippets::{element_addr, load_base, thread_index};
use crate::device_tensor::GpuTensor;
use crate::error::GpuError;
use crate::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use crate::module::{PTX_HEADER, PtxModule};
pub use tensor_spec::optim::{AdamStep, SgdStep};

/// The module.
pub static MODULE: PtxModule = PtxModule::new("optim", ptx);

/// Loads element `%i` of pointer parameter `param` into the `.f32` register `reg`.
fn load(reg: &str, param: &str) -> String {
    format!(
        "{}{}    ld.global.nc.f32 {reg}, [%a];\n",
        load_base("%a", param),
        element_addr("%a", "%a", "%i")
    )
}

/// Stores the `.f32` register `reg` into element `%i` of pointer parameter `param`.
fn store(param: &str, reg: &str) -> String {
    format!(
        "{}{}    st.global.f32 [%a], {reg};\n",
        load_base("%a", param),
        element_addr("%a", "%a", "%i")
    )
}

/// Coupled weight decay, `grad = grad + weight_decay * p` on the `.f32` registers `grad` and
/// `%p`, when the `decay` parameter is non-zero; else a jump to `next`, the label that follows.
/// Uses `%flag`, `%flag_u` and `%x`.
fn weight_decay(grad: &str, next: &str) -> String {
    format!(
        "    // {g} = {g} + weight_decay * p, when weight decay is on
    ld.param.u32 %flag_u, [decay];
    setp.ne.u32 %flag, %flag_u, 0;
    @!%flag bra {next};
    ld.param.f32 %x, [weight_decay];
    mul.rn.f32 %x, %x, %p;
    add.rn.f32 {grad}, {grad}, %x;
",
        g = grad.trim_start_matches('%'),
    )
}

fn sgd_kernel() -> String {
    format!(
        "// SGD: d = g (+ wd p); with momentum buf = d (first step) or buf m + keep d, then
// d = d + m buf (Nesterov) or buf; p = p - lr d. mode: 0 no momentum, 1 first step, 2 later.
.visible .entry sgd(
    .param .u64 p_in,
    .param .u64 grad,
    .param .u64 buf_in,
    .param .u64 p_out,
    .param .u64 buf_out,
    .param .u32 n,
    .param .u32 mode,
    .param .u32 decay,
    .param .u32 nesterov,
    .param .f32 lr,
    .param .f32 weight_decay,
    .param .f32 momentum,
    .param .f32 keep)
{{
{index}    .reg .pred %flag;
    .reg .u32 %mode, %flag_u;
    .reg .u64 %a;
    .reg .f32 %p, %d, %b, %x, %y, %m;
{load_p}{load_g}{decay}MOMENTUM:
    ld.param.u32 %mode, [mode];
    setp.eq.u32 %flag, %mode, 0;
    @%flag bra STEP;
    ld.param.f32 %m, [momentum];
    mov.f32 %b, %d;                        // first step: buf = d
    setp.eq.u32 %flag, %mode, 1;
    @%flag bra KEEP_BUF;
{load_b}    mul.rn.f32 %b, %b, %m;                 // buf = buf * momentum + keep * d
    ld.param.f32 %x, [keep];
    mul.rn.f32 %x, %x, %d;
    add.rn.f32 %b, %b, %x;
KEEP_BUF:
{store_b}    ld.param.u32 %flag_u, [nesterov];
    setp.ne.u32 %flag, %flag_u, 0;
    mul.rn.f32 %y, %m, %b;                 // Nesterov: d = d + momentum * buf
    add.rn.f32 %y, %d, %y;
    selp.f32 %d, %y, %b, %flag;            // else d = buf
STEP:
    ld.param.f32 %x, [lr];                 // p = p - lr * d
    mul.rn.f32 %x, %x, %d;
    sub.rn.f32 %p, %p, %x;
{store_p}DONE:
    ret;
}}
",
        index = thread_index(),
        load_p = load("%p", "p_in"),
        load_g = load("%d", "grad"),
        decay = weight_decay("%d", "MOMENTUM"),
        load_b = load("%b", "buf_in"),
        store_b = store("buf_out", "%b"),
        store_p = store("p_out", "%p"),
    )
}

fn adam_kernel() -> String {
    format!(
        "// Adam: g = g (+ wd p); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g;
// p = p - step_size m / (sqrt(v) / root_correction + eps). first != 0: m and v start at 0.
.visible .entry adam(
    .param .u64 p_in,
    .param .u64 grad,
    .param .u64 m_in,
    .param .u64 v_in,
    .param .u64 p_out,
    .param .u64 m_out,
    .param .u64 v_out,
    .param .u32 n,
    .param .u32 first,
    .param .u32 decay,
    .param .f32 weight_decay,
    .param .f32 beta1,
    .param .f32 beta2,
    .param .f32 take1,
    .param .f32 take2,
    .param .f32 step_size,
    .param .f32 root_correction,
    .param .f32 eps)
{{
{index}    .reg .pred %flag;
    .reg .u32 %flag_u;
    .reg .u64 %a;
    .reg .f32 %p, %g, %m, %v, %x, %y;
{load_p}{load_g}{decay}MOMENTS:
    mov.f32 %m, 0f00000000;                // the first step's moments are zeros
    mov.f32 %v, 0f00000000;
    ld.param.u32 %flag_u, [first];
    setp.ne.u32 %flag, %flag_u, 0;
    @%flag bra UPDATE;
{load_m}{load_v}UPDATE:
    ld.param.f32 %x, [beta1];              // m = beta1 * m + take1 * g
    mul.rn.f32 %m, %x, %m;
    ld.param.f32 %x, [take1];
    mul.rn.f32 %x, %x, %g;
    add.rn.f32 %m, %m, %x;
    ld.param.f32 %x, [beta2];              // v = beta2 * v + take2 * g * g
    mul.rn.f32 %v, %x, %v;
    ld.param.f32 %x, [take2];
    mul.rn.f32 %x, %x, %g;
    mul.rn.f32 %x, %x, %g;
    add.rn.f32 %v, %v, %x;
{store_m}{store_v}    sqrt.rn.f32 %y, %v;                    // denominator = sqrt(v) / root_correction + eps
    ld.param.f32 %x, [root_correction];
    div.rn.f32 %y, %y, %x;
    ld.param.f32 %x, [eps];
    add.rn.f32 %y, %y, %x;
    ld.param.f32 %x, [step_size];          // p = p - step_size * m / denominator
    mul.rn.f32 %x, %x, %m;
    div.rn.f32 %x, %x, %y;
    sub.rn.f32 %p, %p, %x;
{store_p}DONE:
    ret;
}}
",
        index = thread_index(),
        load_p = load("%p", "p_in"),
        load_g = load("%g", "grad"),
        decay = weight_decay("%g", "MOMENTS"),
        load_m = load("%m", "m_in"),
        load_v = load("%v", "v_in"),
        store_m = store("m_out", "%m"),
        store_v = store("v_out", "%v"),
        store_p = store("p_out", "%p"),
    )
}

fn ptx() -> String {
    [PTX_HEADER.to_string(), sgd_kernel(), adam_kernel()].join("\n")
}

/// Panics naming `op` unless `other` has the parameter's shape and device.
fn check_like(op: &str, what: &str, param: &GpuTensor<f32>, other: &GpuTensor<f32>) {
    assert_eq!(
        other.shape(),
        param.shape(),
        "{op}: the {what} has shape {:?}, the parameter {:?}",
        other.shape(),
        param.shape()
    );
    assert!(
        other.gpu().same_device(param.gpu()),
        "{op}: the {what} lives on {}, the parameter on {}",
        other.gpu().name(),
        param.gpu().name()
    );
}

/// One SGD step of one parameter, as nn's `Sgd::step`: `momentum` is the parameter's momentum
/// buffer, `None` before its first step with momentum (it is then created as `buf = d`, as
/// PyTorch does); it stays `None` when `config.momentum == 0`.
pub fn sgd_step(
    param: &mut GpuTensor<f32>,
    grad: &GpuTensor<f32>,
    momentum: &mut Option<GpuTensor<f32>>,
    config: &SgdStep,
) -> Result<(), GpuError> {
    let op = "sgd_step";
    check_like(op, "gradient", param, grad);
    if let Some(buf) = momentum.as_ref() {
        check_like(op, "momentum buffer", param, buf);
    }
    let gpu = param.gpu().clone();
    let p_out = GpuTensor::uninit(&gpu, param.shape().clone())?;
    let with_momentum = config.momentum != 0.0;
    let mode: u32 = match (with_momentum, momentum.is_some()) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    };
    let buf_out = if with_momentum {
        Some(GpuTensor::uninit(&gpu, param.shape().clone())?)
    } else {
        None
    };
    // Unused pointers (no buffer yet, or no momentum) are never dereferenced: pass the param's.
    let buf_in = momentum.as_ref().map_or(param.ptr(), GpuTensor::ptr);
    let args: Vec<KernelArg> = vec![
        param.ptr().into(),
        grad.ptr().into(),
        buf_in.into(),
        p_out.ptr().into(),
        buf_out.as_ref().map_or(p_out.ptr(), GpuTensor::ptr).into(),
        to_u32(param.numel(), op).into(),
        mode.into(),
        u32::from(config.weight_decay != 0.0).into(),
        u32::from(config.nesterov).into(),
        (config.lr as f32).into(),
        (config.weight_decay as f32).into(),
        (config.momentum as f32).into(),
        ((1.0 - config.dampening) as f32).into(),
    ];
    if param.numel() > 0 {
        gpu.launch(
            &MODULE,
            "sgd",
            LaunchConfig::linear(param.numel(), BLOCK_1D),
            &args,
        )?;
    }
    *param = p_out;
    if buf_out.is_some() {
        *momentum = buf_out;
    }
    Ok(())
}

/// One Adam step of one parameter, as nn's `Adam::step`; `step` counts steps from 1 (this one
/// included). `moments` holds the parameter's `(exp_avg, exp_avg_sq)`, `None` before its first
/// step (zeros, as PyTorch starts them). The bias corrections are computed here in f64, as nn
/// does, and passed to the kernel rounded to f32.
pub fn adam_step(
    param: &mut GpuTensor<f32>,
    grad: &GpuTensor<f32>,
    moments: &mut Option<(GpuTensor<f32>, GpuTensor<f32>)>,
    step: u64,
    config: &AdamStep,
) -> Result<(), GpuError> {
    let op = "adam_step";
    assert!(step >= 1, "{op}: steps count from 1, got {step}");
    check_like(op, "gradient", param, grad);
    if let Some((m, v)) = moments.as_ref() {
        check_like(op, "first moment", param, m);
        check_like(op, "second moment", param, v);
    }
    let gpu = param.gpu().clone();
    let shape = param.shape().clone();
    let (p_out, m_out, v_out) = (
        GpuTensor::uninit(&gpu, shape.clone())?,
        GpuTensor::uninit(&gpu, shape.clone())?,
        GpuTensor::uninit(&gpu, shape)?,
    );
    let c = config;
    let t = i32::try_from(step).unwrap_or(i32::MAX);
    let step_size = c.lr / (1.0 - c.beta1.powi(t));
    let root_correction = (1.0 - c.beta2.powi(t)).sqrt();
    // Without moments yet the kernel reads none: any pointer will do.
    let (m_in, v_in) = moments
        .as_ref()
        .map_or((param.ptr(), param.ptr()), |(m, v)| (m.ptr(), v.ptr()));
    let args: Vec<KernelArg> = vec![
        param.ptr().into(),
        grad.ptr().into(),
        m_in.into(),
        v_in.into(),
        p_out.ptr().into(),
        m_out.ptr().into(),
        v_out.ptr().into(),
        to_u32(param.numel(), op).into(),
        u32::from(moments.is_none()).into(),
        u32::from(c.weight_decay != 0.0).into(),
        (c.weight_decay as f32).into(),
        (c.beta1 as f32).into(),
        (c.beta2 as f32).into(),
        // 1 - beta in f64, as nn and PyTorch: in f32, 1 - 0.999f32 is 1.3e-5 off 0.001.
        ((1.0 - c.beta1) as f32).into(),
        ((1.0 - c.beta2) as f32).into(),
        (step_size as f32).into(),
        (root_correction as f32).into(),
        (c.eps as f32).into(),
    ];
    if param.numel() > 0 {
        gpu.launch(
            &MODULE,
            "adam",
            LaunchConfig::linear(param.numel(), BLOCK_1D),
            &args,
        )?;
    }
    *param = p_out;
    *moments = Some((m_out, v_out));
    Ok(())
}
