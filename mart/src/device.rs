//! Keeping a run's tensors on its model's device.

use tensor::{Device, Stored, Tensor};

/// `t` moved to `device`. A GPU that fails here has failed mid-step: that panics with its
/// reason, as a failing GPU op does.
pub fn moved<T: Stored>(t: &Tensor<T>, device: Device) -> Tensor<T> {
    t.to_device(device)
        .unwrap_or_else(|e| panic!("moving a {:?} tensor to {device}: {e}", t.dims()))
}

/// `t` (built on the host, e.g. a mask or labels picked in Rust) moved to the device of `like`.
pub fn beside<T: Stored, U: Stored>(t: Tensor<T>, like: &Tensor<U>) -> Tensor<T> {
    moved(&t, like.device())
}
