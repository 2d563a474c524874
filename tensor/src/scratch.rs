//! Working buffers that outlive one op, kept per thread.
//!
//! A convolution's tasks each need a few hundred kilobytes of scratch (Winograd's transformed
//! inputs and products). Allocating them zeroed on every call spent 6-8% of a SmallCNN forward
//! pass in `memset` alone, for values the kernels overwrite before they read them. A task takes
//! a buffer from its thread's pool instead and gives it back when done, so after the first
//! step of training no buffer is allocated or cleared.
//!
//! A taken buffer holds whatever its last user left in it: only kernels that write every
//! element before reading it may use one.

use std::ops::{Deref, DerefMut};

pub use crate::buffer_pool::Pool;
use crate::element::Element;

/// A buffer of `len` values taken from this thread's pool (or allocated when the pool has
/// none), returned to the pool of the thread that drops it.
pub struct Scratch<T: Element> {
    /// The whole buffer, kept at its largest length so that reuse never clears it again.
    values: Vec<T>,
    /// The values handed out: the first `len`.
    len: usize,
}

impl<T: Element> Scratch<T> {
    /// `len` values of unspecified content: the caller writes each before reading it. Takes
    /// the pool's largest idle buffer, growing it (with zeros) when it is short.
    pub fn take(len: usize) -> Self {
        let idle = T::scratch_pool().with(Pool::take_largest);
        let mut values = idle.unwrap_or_default();
        if values.len() < len {
            values.resize(len, T::zero());
        }
        Scratch { values, len }
    }
}

impl<T: Element> Drop for Scratch<T> {
    fn drop(&mut self) {
        let values = std::mem::take(&mut self.values);
        // During thread shutdown the pool may be gone; the buffer is then simply freed.
        let _ = T::scratch_pool().try_with(|pool| pool.keep(values));
    }
}

impl<T: Element> Deref for Scratch<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.values[..self.len]
    }
}

impl<T: Element> DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.values[..self.len]
    }
}
