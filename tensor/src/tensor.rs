//! The `Tensor` type: shared immutable storage, on the CPU or a GPU, plus a shape.

use crate::device::Device;
use crate::shape::Shape;
use crate::stored::{GpuStorage, Stored};
use std::fmt;
use std::sync::Arc;
use tensor_gpu::{GpuError, GpuScalar, GpuTensor};

/// A contiguous row-major n-d array on one [`Device`]. Cloning is cheap (the storage is shared);
/// ops return new tensors on the device of their inputs; the only in-place mutation is
/// [`Tensor::data_mut`] (CPU) and the optimiser updates, which copy on write if shared.
#[derive(Clone)]
pub struct Tensor<T: Stored> {
    storage: Storage<T>,
    shape: Shape,
}

/// The elements: a host vector, or the GPU backend's tensor of `T` (whose shape is always the
/// tensor's own; for `f64`, a type with no values).
#[derive(Clone)]
pub(crate) enum Storage<T: Stored> {
    /// In host memory.
    Cpu(Arc<Vec<T>>),
    /// On a GPU.
    Gpu(T::GpuTensor),
}

/// Integer indices (argmax, max-pool positions, gather/scatter indices, labels).
pub type IndexTensor = Tensor<u32>;

impl<T: Stored> Tensor<T> {
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
            Storage::Gpu(gpu) => gpu.device(),
        }
    }

    /// Where the elements are: what each op matches on to pick its backend.
    pub(crate) fn storage(&self) -> &Storage<T> {
        &self.storage
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
            Storage::Gpu(gpu) => panic!(
                "data: the tensor of shape {:?} lives on {}; copy it to the host with to_cpu() first",
                self.shape,
                gpu.device()
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
    /// `ops::weight_cache`): storage is copy-on-write, so while a handle on it is held the
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
        let storage = match &self.storage {
            Storage::Cpu(data) => Storage::Cpu(data.clone()),
            Storage::Gpu(gpu) => Storage::Gpu(gpu.reshape(shape.clone())),
        };
        Tensor { storage, shape }
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
            Storage::Gpu(gpu) => gpu.ref_count(),
        }
    }

    /// True when both tensors share the same storage allocation.
    pub fn shares_storage(&self, other: &Self) -> bool {
        match (&self.storage, &other.storage) {
            (Storage::Cpu(a), Storage::Cpu(b)) => Arc::ptr_eq(a, b),
            (Storage::Gpu(a), Storage::Gpu(b)) => a.same_buffer(b),
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
        let values = T::GpuTensor::upload(&gpu, host.data(), self.shape.clone())?;
        Ok(Tensor::from_gpu_storage(values))
    }

    /// The tensor in host memory (downloaded from a GPU, after the kernels that write it).
    pub fn try_to_cpu(&self) -> Result<Tensor<T>, GpuError> {
        match &self.storage {
            Storage::Cpu(_) => Ok(self.clone()),
            Storage::Gpu(gpu) => Ok(Tensor::from_vec(gpu.download()?, self.shape.clone())),
        }
    }

    /// [`Tensor::try_to_cpu`], panicking with the device's error (a lost GPU, a failed kernel).
    pub fn to_cpu(&self) -> Tensor<T> {
        self.try_to_cpu()
            .unwrap_or_else(|e| panic!("to_cpu: tensor of shape {:?}: {e}", self.shape))
    }

    /// Wraps the GPU backend's tensor (an op's result) as a `Tensor`.
    pub(crate) fn from_gpu_storage(gpu: T::GpuTensor) -> Tensor<T> {
        Tensor {
            shape: gpu.shape().clone(),
            storage: Storage::Gpu(gpu),
        }
    }
}

impl<T: GpuScalar + Stored<GpuTensor = GpuTensor<T>>> Tensor<T> {
    /// Wraps a device tensor (f32 or u32) as a `Tensor` on its GPU.
    pub fn from_gpu(gpu: GpuTensor<T>) -> Tensor<T> {
        Tensor::from_gpu_storage(gpu)
    }

    /// The device tensor of a GPU tensor; `None` on the CPU.
    pub fn as_gpu(&self) -> Option<GpuTensor<T>> {
        match &self.storage {
            Storage::Cpu(_) => None,
            Storage::Gpu(gpu) => Some(gpu.clone()),
        }
    }
}

impl IndexTensor {
    /// Index values as usize.
    pub fn to_usizes(&self) -> Vec<usize> {
        self.to_cpu().data().iter().map(|&i| i as usize).collect()
    }
}

impl<T: Stored + fmt::Debug> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        write!(f, "Tensor{:?} ", self.shape)?;
        let data = match &self.storage {
            Storage::Cpu(data) => data,
            Storage::Gpu(gpu) => return write!(f, "on {}", gpu.device()),
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
