//! The kernels: one file per op family, each holding its PTX generator (a `static PtxModule`)
//! next to the host functions that launch it on [`GpuTensor`](super::GpuTensor)s.

pub mod conv;
pub mod elementwise;
pub mod gemm;
pub mod index;
pub mod movement;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod rng;
pub mod scan;
pub mod softmax;
pub mod stats;

use super::module::PtxModule;

/// Every module, for `dump_ptx`, the ptxas check in CI and the simulator tests.
pub fn all_modules() -> Vec<&'static PtxModule> {
    vec![
        &elementwise::MODULE,
        &reduce::MODULE,
        &softmax::MODULE,
        &gemm::MODULE,
        &conv::MODULE,
        &pool::MODULE,
        &movement::MODULE,
        &index::MODULE,
        &stats::MODULE,
        &rng::MODULE,
        &optim::MODULE,
        &scan::MODULE,
    ]
}

#[cfg(test)]
mod tests {
    /// Every kernel module of the backend parses: a kernel no test launches yet still has to be
    /// inside the subset the simulator runs.
    #[test]
    fn sim_every_kernel_module_parses() {
        for module in super::all_modules() {
            if let Err(message) = ptx_sim::parse::parse_module(module.ptx()) {
                panic!("module `{}`: {message}", module.name());
            }
        }
    }
}
