//! Routing an op to the GPU kernels when its operands live on a GPU.
//!
//! Every op method on [`Tensor`] starts by asking whether its operands are on a GPU; if so it runs
//! the kernel of the same name on the device tensors (`crate::cuda::kernels`) and wraps the result,
//! otherwise it falls through to the CPU code below it. Operands on different devices are a
//! programmer error and panic with both device names, as PyTorch does; like PyTorch, a rank-0 CPU
//! tensor (a constant) combines with a tensor on any device. A GPU failure inside an op (out of
//! memory, a faulted kernel) panics with the device's message: ops return tensors, not `Result`s;
//! the calls that fail for reasons outside the program (opening a device, moving data to it)
//! return `Result`s instead.

use crate::cuda::{GpuError, GpuScalar, GpuTensor};
use crate::device::Device;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

type Gpu32 = GpuTensor<f32>;

/// The device tensor of `x` when it lives on a GPU.
pub(crate) fn view<T: Copy + Send + Sync + 'static, U: GpuScalar>(
    x: &Tensor<T>,
) -> Option<GpuTensor<U>> {
    x.gpu_view::<U>()
}

/// The device both operands share, or a panic naming `op`, the shapes and both devices. A rank-0
/// CPU tensor goes with any device.
pub(crate) fn common_device<T, U>(op: &str, a: &Tensor<T>, b: &Tensor<U>) -> Device
where
    T: Copy + Send + Sync + 'static,
    U: Copy + Send + Sync + 'static,
{
    agree(op, &[(a.dims(), a.device()), (b.dims(), b.device())])
}

/// The one device of several operands (dims, device); rank-0 CPU operands go with any device.
pub(crate) fn agree(op: &str, operands: &[(&[usize], Device)]) -> Device {
    let mut common: Option<(&[usize], Device)> = None;
    for &(dims, device) in operands {
        if device == Device::Cpu && dims.is_empty() {
            continue;
        }
        match common {
            None => common = Some((dims, device)),
            Some((first, d)) if d != device => panic!(
                "{op}: operands on different devices: {first:?} on {d} and {dims:?} on {device}"
            ),
            Some(_) => {}
        }
    }
    common.map_or(Device::Cpu, |(_, device)| device)
}

/// `x` as a device tensor on `device` (uploading a rank-0 CPU constant when needed).
pub(crate) fn on<T: Copy + Send + Sync + 'static, U: GpuScalar>(
    op: &str,
    x: &Tensor<T>,
    device: Device,
) -> GpuTensor<U> {
    if let Some(g) = x.gpu_view() {
        return g;
    }
    match constant_bits(x) {
        Some(bits) => uploaded_constant(op, device, bits).gpu_view(),
        None => x
            .to_device(device)
            .unwrap_or_else(|e| panic!("{op}: moving a constant to {device}: {e}"))
            .gpu_view(),
    }
    .expect("just moved to a GPU")
}

/// The bits of a rank-0 f32 CPU tensor (the constants that ops take from the host).
fn constant_bits<T: Copy + Send + Sync + 'static>(x: &Tensor<T>) -> Option<u32> {
    let value = x.downcast_ref::<f32>()?;
    (value.rank() == 0).then(|| value.data()[0].to_bits())
}

/// A rank-0 constant on `device`, uploaded once per device and value: an upload waits for the
/// GPU, and the same few constants (the 0 of relu's backward, a loss's 1e-12) recur every step.
fn uploaded_constant(op: &str, device: Device, bits: u32) -> Tensor<f32> {
    /// Beyond this many distinct constants the cache starts over (a bound, never reached by the
    /// training loop, against a program that streams fresh constants).
    const MAX_CONSTANTS: usize = 4096;
    /// Uploaded constants by device and bit pattern.
    type Uploaded = HashMap<(Device, u32), Tensor<f32>>;
    static UPLOADED: OnceLock<Mutex<Uploaded>> = OnceLock::new();
    let mut uploaded = UPLOADED.get_or_init(Default::default).lock().unwrap();
    if uploaded.len() >= MAX_CONSTANTS {
        uploaded.clear();
    }
    match uploaded.get(&(device, bits)) {
        Some(constant) => constant.clone(),
        None => {
            let constant = Tensor::scalar(f32::from_bits(bits))
                .to_device(device)
                .unwrap_or_else(|e| panic!("{op}: moving a constant to {device}: {e}"));
            uploaded.insert((device, bits), constant.clone());
            constant
        }
    }
}

/// Wraps a kernel's result as a tensor, panicking with `op` and the device's error on failure.
pub(crate) fn done<T: Copy + Send + Sync + 'static, U: GpuScalar>(
    op: &str,
    result: Result<GpuTensor<U>, GpuError>,
) -> Tensor<T> {
    match result {
        Ok(out) => Tensor::from_gpu_parts(out),
        Err(e) => panic!("{op} on the GPU: {e}"),
    }
}

/// Runs a one-input f32 kernel when `x` lives on a GPU.
pub(crate) fn unary<T: Copy + Send + Sync + 'static>(
    op: &str,
    x: &Tensor<T>,
    kernel: impl FnOnce(&Gpu32) -> Result<Gpu32, GpuError>,
) -> Option<Tensor<T>> {
    let g = view(x)?;
    Some(done(op, kernel(&g)))
}

/// Runs a two-input f32 kernel when the operands live on a GPU (see [`common_device`]).
pub(crate) fn binary<T: Copy + Send + Sync + 'static>(
    op: &str,
    a: &Tensor<T>,
    b: &Tensor<T>,
    kernel: impl FnOnce(&Gpu32, &Gpu32) -> Result<Gpu32, GpuError>,
) -> Option<Tensor<T>> {
    let device = common_device(op, a, b);
    if !device.is_gpu() {
        return None;
    }
    let (ga, gb) = (on(op, a, device), on(op, b, device));
    Some(done(op, kernel(&ga, &gb)))
}

/// `v` as type `U`, which must be its own type (the element type of a GPU tensor, checked by
/// `gpu_view` before this is reached).
pub(crate) fn same_type<T: Copy + 'static, U: Copy + 'static>(v: T) -> U {
    *(&v as &dyn std::any::Any)
        .downcast_ref::<U>()
        .expect("same_type: element types differ")
}

/// Concatenation on a GPU when the parts' element type is `U`; `None` for another type.
pub(crate) fn concat<T: Copy + Send + Sync + 'static, U: GpuScalar>(
    parts: &[&Tensor<T>],
    axis: usize,
    device: Device,
) -> Option<Tensor<T>> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<U>() {
        return None;
    }
    let gpu: Vec<GpuTensor<U>> = parts.iter().map(|p| on("concat", p, device)).collect();
    let refs: Vec<&GpuTensor<U>> = gpu.iter().collect();
    Some(done("concat", GpuTensor::concat(&refs, axis)))
}

/// Runs a kernel that exists for both GPU element types (f32 values, u32 indices) when `$x`
/// lives on a GPU, returning its result from the enclosing function.
macro_rules! on_gpu_any {
    ($op:expr, $x:expr, |$g:ident| $body:expr) => {
        if $x.device().is_gpu() {
            if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
                let $g = on_gpu::view::<T, f32>($x).expect("on a GPU");
                return on_gpu::done($op, $body);
            }
            let $g = on_gpu::view::<T, u32>($x).expect("on a GPU");
            return on_gpu::done($op, $body);
        }
    };
}
pub(crate) use on_gpu_any;
