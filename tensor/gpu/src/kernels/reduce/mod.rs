//! Reductions along one axis or over all elements: sum, mean, max, min, argmax, top-2, and
//! `sum_to` (the gradient of broadcasting), each the GPU twin of the CPU op of the same name.
//!
//! As on the CPU, a tensor reduced along `axis` is viewed as `[outer, len, inner]`: it has
//! `outer * inner` *lines* of `len` elements, line `(o, i)` holding `x[o, l, i]` for `l < len`,
//! `inner` apart in memory. A block of 256 threads is a `ntid.x x ntid.y` grid (see
//! `line_block`): `ntid.x` neighbouring lines, each walked by a column of `ntid.y` threads that
//! start at `l = tid.y` and step by `ntid.y`. Neighbouring lines are neighbouring in memory when
//! `inner > 1`, and for `inner = 1` a column walks a contiguous row, so loads are coalesced
//! either way. Each thread folds its elements into one value, then the column combines its
//! `ntid.y` values in shared memory, halving the active rows at each step (a tree, with a
//! `bar.sync` that every thread reaches between steps) until row 0 holds the line's result.
//!
//! Few long lines (`sum_all` of a large tensor is one line) would leave most of the GPU idle, so
//! sums, maxima and minima split each line into up to `TARGET_BLOCKS` slices, one block each,
//! and reduce the partial results in a second launch.
//!
//! `lines.rs` is the line layout (block shape, launch, and the PTX that walks a line and runs
//! the tree), shared with softmax; `ptx.rs` writes the kernels' text; `launch.rs` splits long
//! lines and holds the [`GpuTensor`](crate::GpuTensor) methods.

mod launch;
pub(crate) mod lines;
mod ptx;

pub use ptx::MODULE;
