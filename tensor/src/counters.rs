//! Per-thread call counters for the expensive gradient kernels.
//!
//! They let a test prove that a backward pass skipped work (an attack's input-only backward must
//! run no weight-gradient op). Counting is one thread-local increment per call, so it is always on.

use std::cell::Cell;

/// The kernels that are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountedOp {
    /// [`crate::Tensor::conv2d_grad_input`].
    Conv2dGradInput,
    /// [`crate::Tensor::conv2d_grad_weight`].
    Conv2dGradWeight,
}

thread_local! {
    static COUNTS: [Cell<usize>; 2] = const { [Cell::new(0), Cell::new(0)] };
}

/// Records one call of `op` on the calling thread.
pub fn record(op: CountedOp) {
    COUNTS.with(|c| c[op as usize].set(c[op as usize].get() + 1));
}

/// Calls of `op` made from the calling thread so far.
pub fn count(op: CountedOp) -> usize {
    COUNTS.with(|c| c[op as usize].get())
}
