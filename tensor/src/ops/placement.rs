//! Where an op runs: the one device its operands agree on.
//!
//! Every op on [`Tensor`] picks its backend in one `match`: on its operand's storage, or, for
//! several operands, on the device [`agree`] finds for them, taking each operand's GPU storage
//! with [`Tensor::gpu_operand`]. Operands on different devices are a programmer error and panic
//! with both device names, as PyTorch does; like PyTorch, a rank-0 CPU tensor (a constant)
//! combines with a tensor on any device, uploaded once per device and value. The calls that
//! fail for reasons outside the program (opening a device, moving data to it) return `Result`s
//! instead; see [`Tensor::to_device`].

use crate::device::Device;
use crate::stored::{GpuStorage, Stored};
use crate::tensor::{Storage, Tensor};

/// The one device of several operands (dims, device), or a panic naming `op`, the shapes and
/// both devices; rank-0 CPU operands go with any device.
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

impl<T: Stored> Tensor<T> {
    /// This operand as [`agree`] takes it.
    pub(crate) fn placed(&self) -> (&[usize], Device) {
        (self.dims(), self.device())
    }

    /// This operand's storage on the GPU `device` that [`agree`] chose: its own, or, for a
    /// rank-0 CPU constant, an uploaded copy (cached per device and value).
    pub(crate) fn gpu_operand(&self, op: &str, device: Device) -> T::GpuTensor {
        match self.storage() {
            Storage::Gpu(gpu) => gpu.clone(),
            Storage::Cpu(data) => {
                assert!(
                    self.rank() == 0,
                    "{op}: operands on different devices: {:?} on cpu and another on {device}",
                    self.dims()
                );
                let gpu = match device.gpu() {
                    Ok(Some(gpu)) => gpu,
                    Ok(None) => panic!("{op}: {device} is not a GPU"),
                    Err(e) => panic!("{op}: moving a constant to {device}: {e}"),
                };
                T::GpuTensor::constant(&gpu, data[0])
                    .unwrap_or_else(|e| panic!("{op}: moving a constant to {device}: {e}"))
            }
        }
    }
}
