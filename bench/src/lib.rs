//! `bench`: criterion benchmarks of the kernels, and the side-by-side PyTorch comparison.
//!
//! [`cases`] is the one list of benchmark cases; the criterion bench (`benches/kernels.rs`) times it.

pub mod cases;
