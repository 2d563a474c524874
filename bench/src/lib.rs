//! `bench`: criterion benchmarks of the kernels, and the side-by-side PyTorch comparison.
