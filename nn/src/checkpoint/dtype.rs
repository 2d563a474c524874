//! Between tensors and safetensors' little-endian bytes.

use safetensors::Dtype;
use tensor::{Element, Shape, Tensor};

/// The safetensors type of an element type: `F32` for f32, `F64` for f64.
pub(super) fn dtype_of<T: Element>() -> Dtype {
    if size_of::<T>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// The elements as little-endian bytes of [`dtype_of::<T>`] (a GPU tensor is downloaded).
pub(super) fn float_bytes<T: Element>(t: &Tensor<T>) -> Vec<u8> {
    let t = &t.to_cpu();
    match dtype_of::<T>() {
        Dtype::F32 => t
            .cast::<f32>()
            .data()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        _ => t
            .cast::<f64>()
            .data()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    }
}

/// True when a float entry of the model can be read from a tensor of this type.
pub(super) fn is_float(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F64)
}

/// A tensor from `F32` or `F64` bytes, converted to `T`; the caller checked the type (with
/// [`is_float`]) and safetensors checked that the byte count fits the shape.
pub(super) fn float_tensor<T: Element>(dtype: Dtype, shape: &[usize], bytes: &[u8]) -> Tensor<T> {
    let shape = Shape::new(shape);
    match dtype {
        Dtype::F32 => {
            let values = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            Tensor::from_vec(values.collect(), shape).cast()
        }
        Dtype::F64 => {
            let values = bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
            Tensor::from_vec(values.collect(), shape).cast()
        }
        other => panic!("float_tensor: {other:?} is not a float type (checked before)"),
    }
}

/// The value of an `I64` scalar; the caller checked type and shape.
pub(super) fn count_value(bytes: &[u8]) -> i64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    i64::from_le_bytes(word)
}
