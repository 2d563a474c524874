//! Elementwise kernels: fill, the unary ops, binary arithmetic and comparisons with numpy
//! broadcasting, and `where_`, each the GPU twin of the CPU op of the same name.
//!
//! Every kernel runs one thread per output element: thread `i = ctaid.x * ntid.x + tid.x` reads
//! its inputs, computes, and writes `out[i]`, so neighbouring threads touch neighbouring
//! addresses (coalesced). When all shapes are equal the inputs are read at `i` too (the fast
//! path, kernel `op`). Otherwise the host simplifies the broadcast
//! (`Shape::collapsed_broadcast`, which the CPU's broadcasting uses too) to at most `MAX_RANK`
//! axes and launches `op_bcastR`, which turns `i` into coordinates with `div`/`rem`
//! and each input's offset into a dot product with its strides (0 on a broadcast axis).
//!
//! `exp` and `log` are also used by the softmax kernels, through `exp_lines` and `log_lines`.
//!
//! `ptx.rs` writes the kernels' text, `math.rs` the exp and ln sequences (shared with softmax),
//! `launch.rs` checks the operands and launches them on [`GpuTensor`](crate::GpuTensor)s.

pub(crate) mod launch;
pub(crate) mod math;
mod ptx;

pub use ptx::MODULE;
