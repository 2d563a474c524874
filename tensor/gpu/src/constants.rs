//! Rank-0 constants on a GPU, uploaded once per device and value: an upload waits for the GPU,
//! and the same few constants (the 0 of relu's backward, a loss's 1e-12) recur every step.

use super::device_tensor::{GpuScalar, GpuTensor};
use super::error::GpuError;
use super::gpu::{Gpu, GpuBuffer};
use crate::device::Device;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tensor_spec::Shape;

/// Beyond this many distinct constants the cache starts over (a bound, never reached by the
/// training loop, against a program that streams fresh constants).
const MAX_CONSTANTS: usize = 4096;

/// Uploaded constants by device, PTX type and bit pattern.
type Uploaded = HashMap<(Device, &'static str, [u8; 4]), Arc<GpuBuffer>>;

impl<T: GpuScalar> GpuTensor<T> {
    /// A rank-0 tensor holding `value` on `gpu`, shared with every earlier request for the same
    /// device, type and bits (tensors are immutable, so sharing is safe).
    pub fn constant(gpu: &Gpu, value: T) -> Result<Self, GpuError> {
        static UPLOADED: OnceLock<Mutex<Uploaded>> = OnceLock::new();
        let key = (gpu.device(), T::PTX, value.to_le());
        let mut uploaded = UPLOADED.get_or_init(Default::default).lock().unwrap();
        if uploaded.len() >= MAX_CONSTANTS {
            uploaded.clear();
        }
        if let Some(buffer) = uploaded.get(&key) {
            return Ok(GpuTensor::from_buffer(buffer.clone(), Shape::scalar()));
        }
        let constant = GpuTensor::upload_slice(gpu, &[value], Shape::scalar())?;
        uploaded.insert(key, constant.buffer().clone());
        Ok(constant)
    }
}
