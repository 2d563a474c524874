//! Launching the elementwise kernels: device and broadcast checks, the broadcast simplified to
//! at most `MAX_RANK` axes (one launch per index of any leading axes beyond), and the
//! [`GpuTensor`] methods `full`, `zeros`, `unary`, `scalar`, `clamp`, `binary` and `where_`,
//! which take the op kind of `tensor_spec::op`.

use super::ptx::{BINARY, Indexing, MAX_RANK, MODULE, kernel_name};
use crate::device_tensor::{GpuScalar, GpuTensor};
use crate::error::GpuError;
use crate::gpu::Gpu;
use crate::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use tensor_spec::Shape;
use tensor_spec::op::{BinaryOp, ScalarOp, UnaryOp};

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
    let (dims, strides) = shape.collapsed_broadcast(&shapes);
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
    /// The unary op `op` on every element, with the CPU op's semantics (NaN, signed zero; `exp`
    /// and `log` within a few ulp, `sqrt` correctly rounded, `relu` 0 at NaN).
    pub fn unary(&self, op: UnaryOp) -> Result<GpuTensor<f32>, GpuError> {
        elementwise(op.name(), op.name(), &[self], &[])
    }

    /// `self + s`, `self * s` or `self^s` (with C `pow`'s special cases) for a scalar `s`.
    pub fn scalar(&self, op: ScalarOp, s: f32) -> Result<GpuTensor<f32>, GpuError> {
        elementwise(op.name(), op.name(), &[self], &[s])
    }

    /// Clamps into `[min, max]` (NaN stays NaN).
    pub fn clamp(&self, min: f32, max: f32) -> Result<GpuTensor<f32>, GpuError> {
        assert!(min <= max, "clamp: min {min} is above max {max}");
        elementwise("clamp", "clamp", &[self], &[min, max])
    }

    /// The binary op `op` on `self` and `other` broadcast together: arithmetic (IEEE), the
    /// NaN-propagating maximum and minimum (`self` wins ties), or a comparison giving 1 or 0.
    pub fn binary(&self, op: BinaryOp, other: &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError> {
        let kernel = BINARY
            .iter()
            .find(|b| b.name == op.name())
            .expect("every BinaryOp has a kernel (tested)");
        elementwise(kernel.name, kernel.op, &[self, other], &[])
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

#[cfg(test)]
mod tests {
    use super::MODULE;
    use tensor_spec::op::{BinaryOp, ScalarOp, UnaryOp};

    /// Every op kind the launchers take by name has its kernel in the module (the match makes
    /// this list grow with the enums).
    #[test]
    fn every_op_kind_has_a_kernel() {
        use BinaryOp::*;
        use UnaryOp::*;
        let binary = [
            Add, AddRelu, Sub, Mul, Div, Maximum, Minimum, Gt, Ge, Lt, Le, Eq,
        ];
        let unary = [Neg, Exp, Log, Sqrt, Abs, Sign, Relu, Square];
        let scalar = [ScalarOp::Add, ScalarOp::Mul, ScalarOp::Pow];
        for op in binary {
            match op {
                Add | AddRelu | Sub | Mul | Div | Maximum | Minimum | Gt | Ge | Lt | Le | Eq => {}
            }
        }
        for op in unary {
            match op {
                Neg | Exp | Log | Sqrt | Abs | Sign | Relu | Square => {}
            }
        }
        for op in scalar {
            match op {
                ScalarOp::Add | ScalarOp::Mul | ScalarOp::Pow => {}
            }
        }
        let ptx = MODULE.ptx();
        let has = |kernel: &str| ptx.contains(&format!(".entry {kernel}("));
        for op in binary {
            let name = op.name();
            assert!(
                has(name) && has(&format!("{name}_bcast2")),
                "no kernel `{name}`"
            );
        }
        let names = unary.iter().map(|op| op.name());
        for name in names.chain(scalar.iter().map(|op| op.name())) {
            assert!(has(name), "no kernel `{name}`");
        }
    }
}
