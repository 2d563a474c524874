//! The `Tensor` type: shared immutable storage plus a shape.

use crate::element::Element;
use crate::shape::Shape;
use std::fmt;
use std::sync::Arc;

/// A contiguous row-major n-d array. Cloning is cheap (the storage is shared); ops return new
/// tensors; the only in-place mutation is [`Tensor::data_mut`], which copies on write if shared.
#[derive(Clone)]
pub struct Tensor<T> {
    data: Arc<Vec<T>>,
    shape: Shape,
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
            data: Arc::new(data),
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

    /// The elements in row-major order.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// The elements, copied into a Vec.
    pub fn to_vec(&self) -> Vec<T> {
        self.data.to_vec()
    }

    /// Mutable access to the elements, for in-place optimiser updates; copies if shared.
    pub fn data_mut(&mut self) -> &mut [T] {
        Arc::<Vec<T>>::make_mut(&mut self.data).as_mut_slice()
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
            data: self.data.clone(),
            shape,
        }
    }

    /// The single element of a one-element tensor.
    pub fn item(&self) -> T {
        assert_eq!(
            self.numel(),
            1,
            "item: tensor of shape {:?} has more than one element",
            self.shape
        );
        self.data[0]
    }

    /// How many tensors (and saved copies, e.g. on an autograd tape) share this storage.
    pub fn storage_ref_count(&self) -> usize {
        Arc::strong_count(&self.data)
    }

    /// True when both tensors share the same storage allocation.
    pub fn shares_storage(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
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
        self.data.iter().map(|v| v.to_f64().unwrap()).collect()
    }

    /// The same values in another element type.
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        Tensor::from_vec(
            self.data
                .iter()
                .map(|v| U::from_f64_lossy(v.to_f64().unwrap()))
                .collect(),
            self.shape.clone(),
        )
    }

    /// True when any element is NaN or infinite.
    pub fn has_non_finite(&self) -> bool {
        self.data.iter().any(|v| !v.is_finite())
    }
}

impl IndexTensor {
    /// Index values as usize.
    pub fn to_usizes(&self) -> Vec<usize> {
        self.data.iter().map(|&i| i as usize).collect()
    }
}

impl<T: fmt::Debug> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        write!(f, "Tensor{:?} ", self.shape)?;
        if self.data.len() <= SHOWN {
            write!(f, "{:?}", self.data)
        } else {
            write!(
                f,
                "{:?} ... ({} elements)",
                &self.data[..SHOWN],
                self.data.len()
            )
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
