//! One thread's idle working buffers of one element type: what [`crate::scratch::Scratch`] takes
//! its buffers from and gives them back to. Each element type keeps one per thread (see
//! [`crate::Element::scratch_pool`]).

use std::cell::RefCell;

/// Buffers a thread keeps for reuse; more are freed rather than kept.
const KEPT_PER_THREAD: usize = 8;

/// One thread's idle buffers of one element type (see [`crate::Element::scratch_pool`]).
#[derive(Default)]
pub struct Pool<T> {
    idle: RefCell<Vec<Vec<T>>>,
}

impl<T> Pool<T> {
    /// The largest idle buffer, taken out of the pool; `None` when it holds none.
    pub(crate) fn take_largest(&self) -> Option<Vec<T>> {
        let mut idle = self.idle.borrow_mut();
        let largest = (0..idle.len()).max_by_key(|&i| idle[i].len());
        largest.map(|i| idle.swap_remove(i))
    }

    /// Keeps `values` for reuse, unless the pool is full: then they are freed.
    pub(crate) fn keep(&self, values: Vec<T>) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < KEPT_PER_THREAD {
            idle.push(values);
        }
    }
}
