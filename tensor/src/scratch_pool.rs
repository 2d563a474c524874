//! The per-thread store behind [`crate::scratch`], apart from it so that [`crate::element`] can
//! name it without depending on the code that uses it.

use std::cell::RefCell;

/// One thread's idle buffers of one element type (see [`crate::Element::scratch_pool`]).
#[derive(Default)]
pub struct Pool<T> {
    /// Buffers given back and not yet taken again.
    pub(crate) idle: RefCell<Vec<Vec<T>>>,
}
