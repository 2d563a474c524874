//! SKELETON: replaced by the kernel helper that owns this file.

use crate::cuda::module::{PTX_HEADER, PtxModule};

/// The module.
pub static MODULE: PtxModule = PtxModule::new("rng", ptx);

fn ptx() -> String {
    PTX_HEADER.to_string()
}
