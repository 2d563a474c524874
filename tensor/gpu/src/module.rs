//! A PTX module: a name and the PTX text of its kernels, built once on first use. The type lives
//! in `ptx-sim`, which loads modules too, so that its tests and this crate's kernels share it.

pub use ptx_sim::module::{PTX_HEADER, PtxModule};
