//! The `Tensor` type: shared immutable storage, on the CPU or a GPU, plus a shape.

use crate::cuda::{GpuBuffer, GpuError, GpuScalar, GpuTensor};
use crate::device::Device;
use crate::element::Element;
use crate::shape::Shape;
use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

/// A contiguous row-major n-d array on one [`Device`]. Cloning is cheap (the storage is shared);
/// ops return new tensors on the device of their inputs; the only in-place mutation is
/// [`Tensor::data_mut`] (CPU) and the optimiser updates, which copy on write if shared.
#[derive(Clone)]
pub struct Tensor<T> {
    storage: Storage<T>,
    shape: Shape,
}

/// The elements: a host vector, or a device buffer (f32 values or u32 indices, 4 bytes each).
#[derive(Clone)]
enum Storage<T> {
    Cpu(Arc<Vec<T>>),
    Gpu(Arc<GpuBuffer>),
}

/// Integer indices (argmax, max-pool positions, gather/scatter indices, labels).
pub type IndexTensor = Tensor<u32>;

impl<T: Copy + Send + Sync + 'static> Tensor<T> {
    /// A tensor from row-major data; panics if the length does not match the shape.
    pub fn from_vec(data: Vec<T>, shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        assert_eq!(
            data.len(),
            shape.numel(),
            "from_vec: {} elements cannot fill shape {shape:?}",
            data.len()
        );
        Tensor {
            storage: Storage::Cpu(Arc::new(data)),
            shape,
        }
    }

    /// A tensor with every element `value`.
    pub fn full(shape: impl Into<Shape>, value: T) -> Self {
        let shape = shape.into();
        Tensor::from_vec(vec![value; shape.numel()], shape)
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions (shorthand for `shape().dims()`).
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

    /// The device the elements live on.
    pub fn device(&self) -> Device {
        match &self.storage {
            Storage::Cpu(_) => Device::Cpu,
            Storage::Gpu(buffer) => buffer.gpu().device(),
        }
    }

    /// True when the elements are in host memory.
    pub fn is_cpu(&self) -> bool {
        matches!(self.storage, Storage::Cpu(_))
    }

    /// The elements in row-major order. CPU tensors only: a GPU tensor panics, naming its device
    /// (copy it with [`Tensor::to_cpu`] or [`Tensor::to_vec`] first).
    pub fn data(&self) -> &[T] {
        match &self.storage {
            Storage::Cpu(data) => data,
            Storage::Gpu(buffer) => panic!(
                "data: the tensor of shape {:?} lives on {}; copy it to the host with to_cpu() first",
                self.shape,
                buffer.gpu().device()
            ),
        }
    }

    /// The elements, copied into a Vec (from any device; a GPU tensor is downloaded).
    pub fn to_vec(&self) -> Vec<T> {
        match &self.storage {
            Storage::Cpu(data) => data.to_vec(),
            Storage::Gpu(_) => self.to_cpu().to_vec(),
        }
    }

    /// The host storage, for caches of values derived from a tensor's elements (see
    /// `ops::winograd_cache`): storage is copy-on-write, so while a handle on it is held the
    /// elements behind it never change. `None` on a GPU.
    pub(crate) fn host_storage(&self) -> Option<&Arc<Vec<T>>> {
        match &self.storage {
            Storage::Cpu(data) => Some(data),
            Storage::Gpu(_) => None,
        }
    }

    /// Mutable access to the elements, for in-place updates; copies if shared. CPU only.
    pub fn data_mut(&mut self) -> &mut [T] {
        let device = self.device();
        match &mut self.storage {
            Storage::Cpu(data) => Arc::<Vec<T>>::make_mut(data).as_mut_slice(),
            Storage::Gpu(_) => panic!(
                "data_mut: the tensor of shape {:?} lives on {device}; GPU tensors change only through ops",
                self.shape
            ),
        }
    }

    /// The same elements under a new shape with the same element count (free: shares storage).
    pub fn reshape(&self, shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        assert_eq!(
            shape.numel(),
            self.numel(),
            "reshape: cannot view shape {:?} as {shape:?}",
            self.shape
        );
        Tensor {
            storage: self.storage.clone(),
            shape,
        }
    }

    /// The single element of a one-element tensor (downloaded if on a GPU: a synchronisation).
    pub fn item(&self) -> T {
        assert_eq!(
            self.numel(),
            1,
            "item: tensor of shape {:?} has more than one element",
            self.shape
        );
        self.to_vec()[0]
    }

    /// How many tensors (and saved copies, e.g. on an autograd tape) share this storage.
    pub fn storage_ref_count(&self) -> usize {
        match &self.storage {
            Storage::Cpu(data) => Arc::strong_count(data),
            Storage::Gpu(buffer) => Arc::strong_count(buffer),
        }
    }

    /// True when both tensors share the same storage allocation.
    pub fn shares_storage(&self, other: &Self) -> bool {
        match (&self.storage, &other.storage) {
            (Storage::Cpu(a), Storage::Cpu(b)) => Arc::ptr_eq(a, b),
            (Storage::Gpu(a), Storage::Gpu(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// A copy on `device` (shares storage when already there). Only f32 values and u32 indices
    /// go to a GPU: f64 comes back as an error, as do a missing driver or device and a full GPU.
    pub fn to_device(&self, device: Device) -> Result<Tensor<T>, GpuError> {
        if self.device() == device {
            return Ok(self.clone());
        }
        let host = self.try_to_cpu()?;
        let Some(gpu) = device.gpu()? else {
            return Ok(host);
        };
        if let Some(values) = host.downcast_ref::<f32>() {
            Ok(Tensor::from_gpu_parts(GpuTensor::upload(&gpu, values)?))
        } else if let Some(indices) = host.downcast_ref::<u32>() {
            Ok(Tensor::from_gpu_parts(GpuTensor::upload(&gpu, indices)?))
        } else {
            Err(GpuError::UnsupportedType {
                what: format!("moving a tensor to {device}"),
            })
        }
    }

    /// The tensor in host memory (downloaded from a GPU, after the kernels that write it).
    pub fn try_to_cpu(&self) -> Result<Tensor<T>, GpuError> {
        match &self.storage {
            Storage::Cpu(_) => Ok(self.clone()),
            Storage::Gpu(buffer) => {
                let shape = self.shape.clone();
                let host: Box<dyn Any> = if self.downcast_ref::<f32>().is_some() {
                    Box::new(GpuTensor::<f32>::from_buffer(buffer.clone(), shape).download()?)
                } else {
                    Box::new(GpuTensor::<u32>::from_buffer(buffer.clone(), shape).download()?)
                };
                Ok(*host
                    .downcast::<Tensor<T>>()
                    .expect("a GPU tensor holds f32 or u32"))
            }
        }
    }

    /// [`Tensor::try_to_cpu`], panicking with the device's error (a lost GPU, a failed kernel).
    pub fn to_cpu(&self) -> Tensor<T> {
        self.try_to_cpu()
            .unwrap_or_else(|e| panic!("to_cpu: tensor of shape {:?}: {e}", self.shape))
    }

    /// This tensor as a `Tensor<U>` when `U` is its element type.
    pub(crate) fn downcast_ref<U: 'static>(&self) -> Option<&Tensor<U>> {
        (self as &dyn Any).downcast_ref::<Tensor<U>>()
    }

    /// The device tensor behind a GPU tensor, viewed with element type `U` (which must be the
    /// tensor's own: f32 or u32); `None` on the CPU. The GPU side of every op starts here.
    pub(crate) fn gpu_view<U: GpuScalar>(&self) -> Option<GpuTensor<U>> {
        match &self.storage {
            Storage::Cpu(_) => None,
            Storage::Gpu(buffer) => {
                assert!(
                    TypeId::of::<T>() == TypeId::of::<U>(),
                    "gpu_view: element type mismatch"
                );
                Some(GpuTensor::from_buffer(buffer.clone(), self.shape.clone()))
            }
        }
    }

    /// Wraps a kernel's output (element type `U`, which must be `T`) as a tensor.
    pub(crate) fn from_gpu_parts<U: GpuScalar>(gpu: GpuTensor<U>) -> Tensor<T> {
        assert!(
            TypeId::of::<T>() == TypeId::of::<U>(),
            "from_gpu_parts: element type mismatch"
        );
        let shape = gpu.shape().clone();
        Tensor {
            storage: Storage::Gpu(gpu.into_buffer()),
            shape,
        }
    }
}

impl<T: GpuScalar> Tensor<T> {
    /// Wraps a device tensor (f32 or u32) as a `Tensor` on its GPU.
    pub fn from_gpu(gpu: GpuTensor<T>) -> Tensor<T> {
        Tensor::from_gpu_parts(gpu)
    }

    /// The device tensor of a GPU tensor; `None` on the CPU.
    pub fn as_gpu(&self) -> Option<GpuTensor<T>> {
        self.gpu_view()
    }
}

impl<T: Element> Tensor<T> {
    /// All zeros.
    pub fn zeros(shape: impl Into<Shape>) -> Self {
        Tensor::full(shape, T::zero())
    }

    /// All ones.
    pub fn ones(shape: impl Into<Shape>) -> Self {
        Tensor::full(shape, T::one())
    }

    /// A rank-0 tensor holding `value`.
    pub fn scalar(value: T) -> Self {
        Tensor::from_vec(vec![value], Shape::scalar())
    }

    /// `[0, 1, ..., n-1]` as a 1-D tensor.
    pub fn arange(n: usize) -> Self {
        Tensor::from_vec((0..n).map(|i| T::from_usize(i).unwrap()).collect(), [n])
    }

    /// A tensor from f64 values (converted with rounding), handy in tests.
    pub fn from_f64s(values: &[f64], shape: impl Into<Shape>) -> Self {
        Tensor::from_vec(
            values.iter().map(|&v| T::from_f64_lossy(v)).collect(),
            shape,
        )
    }

    /// The elements as f64.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.to_cpu()
            .data()
            .iter()
            .map(|v| v.to_f64().unwrap())
            .collect()
    }

    /// The same values in another element type.
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        Tensor::from_vec(
            self.data()
                .iter()
                .map(|v| U::from_f64_lossy(v.to_f64().unwrap()))
                .collect(),
            self.shape.clone(),
        )
    }

    /// True when any element is NaN or infinite.
    pub fn has_non_finite(&self) -> bool {
        self.data().iter().any(|v| !v.is_finite())
    }
}

impl IndexTensor {
    /// Index values as usize.
    pub fn to_usizes(&self) -> Vec<usize> {
        self.to_cpu().data().iter().map(|&i| i as usize).collect()
    }
}

impl<T: fmt::Debug> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        write!(f, "Tensor{:?} ", self.shape)?;
        let data = match &self.storage {
            Storage::Cpu(data) => data,
            Storage::Gpu(buffer) => return write!(f, "on {}", buffer.gpu().device()),
        };
        if data.len() <= SHOWN {
            write!(f, "{data:?}")
        } else {
            write!(f, "{:?} ... ({} elements)", &data[..SHOWN], data.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "from_vec: 5 elements cannot fill shape [2, 3]")]
    fn from_vec_checks_length() {
        let _ = Tensor::from_vec(vec![0.0f32; 5], [2, 3]);
    }

    #[test]
    fn reshape_shares_storage() {
        let a = Tensor::<f32>::arange(6);
        let b = a.reshape([2, 3]);
        assert!(a.shares_storage(&b));
        assert_eq!(b.dims(), &[2, 3]);
    }

    #[test]
    fn data_mut_copies_on_write() {
        let a = Tensor::<f64>::zeros([3]);
        let mut b = a.clone();
        b.data_mut()[0] = 1.0;
        assert_eq!(a.data()[0], 0.0);
        assert_eq!(b.data()[0], 1.0);
    }
}
