//! Which devices the GPU tests run on, one rule for every test file: the simulator always, and
//! `cuda:0` when it opens, or, in CI's step over the mock driver, `cuda:0` required.

use crate::device::Device;

/// The environment variable that makes the GPU tests require CUDA: set to 1, a `cuda:0` that
/// does not open fails the test instead of being skipped (so a CI step over the mock driver
/// cannot pass by skipping), and the simulator is left out (the normal test step ran it).
pub const REQUIRE_CUDA: &str = "MART_REQUIRE_CUDA";

/// True when [`REQUIRE_CUDA`] is set to 1.
pub fn cuda_required() -> bool {
    std::env::var(REQUIRE_CUDA).is_ok_and(|v| v == "1")
}

/// The devices a test of the GPU path runs on: the simulator, plus `cuda:0` when a driver and a
/// device answer (said on stderr when skipped, naming `what`); with `MART_REQUIRE_CUDA=1`,
/// `cuda:0` only.
///
/// # Panics
/// With `MART_REQUIRE_CUDA=1`, when `cuda:0` does not open: the test fails with the reason.
pub fn gpu_test_devices(what: &str) -> Vec<Device> {
    let required = cuda_required();
    let mut devices = if required { vec![] } else { vec![Device::Sim] };
    match Device::Cuda(0).gpu() {
        Ok(_) => devices.push(Device::Cuda(0)),
        Err(why) if required => panic!("{REQUIRE_CUDA}=1 but cuda:0 does not open: {why}"),
        Err(why) => eprintln!("note: {what} ran on the simulator only; cuda:0 skipped ({why})"),
    }
    devices
}
