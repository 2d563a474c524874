//! `GpuTensor<T>`: a shape plus a device buffer, the GPU backend's tensor.
//!
//! Like the CPU tensor it is contiguous, row-major and immutable: ops (in `cuda::kernels`) return
//! new tensors and reshape shares the buffer. Elements are `f32` (values) or `u32` (indices,
//! labels), the two types the GPU kernels read and write.

use super::error::GpuError;
use super::gpu::{Gpu, GpuBuffer};
use std::marker::PhantomData;
use std::sync::Arc;
use tensor_spec::Shape;

/// An element type a GPU buffer can hold: 4 bytes, little-endian.
pub trait GpuScalar: Copy + Send + Sync + 'static {
    /// The PTX type name (`f32`, `u32`).
    const PTX: &'static str;
    /// The little-endian bytes of one element.
    fn to_le(self) -> [u8; 4];
    /// One element from its little-endian bytes.
    fn from_le(bytes: [u8; 4]) -> Self;
}

impl GpuScalar for f32 {
    const PTX: &'static str = "f32";
    fn to_le(self) -> [u8; 4] {
        self.to_le_bytes()
    }
    fn from_le(bytes: [u8; 4]) -> Self {
        f32::from_le_bytes(bytes)
    }
}

impl GpuScalar for u32 {
    const PTX: &'static str = "u32";
    fn to_le(self) -> [u8; 4] {
        self.to_le_bytes()
    }
    fn from_le(bytes: [u8; 4]) -> Self {
        u32::from_le_bytes(bytes)
    }
}

/// A contiguous row-major tensor in device memory.
pub struct GpuTensor<T> {
    buffer: Arc<GpuBuffer>,
    shape: Shape,
    element: PhantomData<T>,
}

impl<T> Clone for GpuTensor<T> {
    fn clone(&self) -> Self {
        GpuTensor {
            buffer: self.buffer.clone(),
            shape: self.shape.clone(),
            element: PhantomData,
        }
    }
}

impl<T: GpuScalar> GpuTensor<T> {
    /// A tensor of `shape` whose elements a kernel is about to write (contents unspecified).
    pub fn uninit(gpu: &Gpu, shape: impl Into<Shape>) -> Result<Self, GpuError> {
        let shape = shape.into();
        let buffer = gpu.alloc(shape.numel() * 4)?;
        Ok(GpuTensor {
            buffer: Arc::new(buffer),
            shape,
            element: PhantomData,
        })
    }

    /// Copies host values of `shape` to the device.
    pub fn upload_slice(
        gpu: &Gpu,
        values: &[T],
        shape: impl Into<Shape>,
    ) -> Result<Self, GpuError> {
        let out = GpuTensor::uninit(gpu, shape)?;
        assert_eq!(
            values.len(),
            out.numel(),
            "upload: {} values cannot fill shape {:?}",
            values.len(),
            out.shape
        );
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le()).collect();
        gpu.write(&out.buffer, &bytes)?;
        Ok(out)
    }

    /// Copies the elements back to the host (waits for the kernels that write them).
    pub fn download_vec(&self) -> Result<Vec<T>, GpuError> {
        let mut bytes = vec![0u8; self.numel() * 4];
        self.gpu().read(&self.buffer, &mut bytes)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| T::from_le([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// The device.
    pub fn gpu(&self) -> &Gpu {
        self.buffer.gpu()
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// The device address of the first element, as kernels take it.
    pub fn ptr(&self) -> u64 {
        self.buffer.ptr()
    }

    /// The same buffer under a new shape with the same element count (free).
    pub fn reshape(&self, shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        assert_eq!(
            shape.numel(),
            self.numel(),
            "reshape: cannot view shape {:?} as {shape:?}",
            self.shape
        );
        GpuTensor {
            buffer: self.buffer.clone(),
            shape,
            element: PhantomData,
        }
    }

    /// A tensor over an existing buffer (a cached constant's).
    pub(super) fn from_buffer(buffer: Arc<GpuBuffer>, shape: Shape) -> Self {
        assert!(
            buffer.len() >= shape.numel() * 4,
            "GpuTensor::from_buffer: {} bytes cannot hold shape {shape:?}",
            buffer.len()
        );
        GpuTensor {
            buffer,
            shape,
            element: PhantomData,
        }
    }

    /// The buffer (to cache it).
    pub(super) fn buffer(&self) -> &Arc<GpuBuffer> {
        &self.buffer
    }

    /// How many tensors share this buffer.
    pub fn buffer_ref_count(&self) -> usize {
        Arc::strong_count(&self.buffer)
    }

    /// True when another tensor shares this buffer (in-place updates must copy first).
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.buffer) > 1
    }

    /// True when both tensors share one buffer.
    pub fn shares_buffer(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.buffer, &other.buffer)
    }
}
