//! Shared by the `sim_*` test files: the devices every GPU kernel test runs on, and comparisons
//! against the CPU backend.

#![allow(dead_code)]

use tensor::cuda::test_devices::gpu_test_devices;
use tensor::cuda::{Gpu, GpuTensor};
use tensor::{Device, Tensor};

/// The simulator, plus CUDA device 0 when this machine has a driver and a GPU (or, with
/// `MART_REQUIRE_CUDA=1`, CUDA device 0 only, required): the rule of
/// [`tensor::cuda::test_devices::gpu_test_devices`], which says on stderr when the real device is
/// skipped.
pub fn devices() -> Vec<Gpu> {
    gpu_test_devices("GPU tests")
        .into_iter()
        .map(|device| match device {
            Device::Cuda(ordinal) => {
                Gpu::cuda(ordinal).unwrap_or_else(|e| panic!("cuda:{ordinal} opened once: {e}"))
            }
            _ => Gpu::sim(),
        })
        .collect()
}

/// Runs `f` on the simulator: for tests of panics, which happen on the host before any launch.
pub fn on_sim(f: impl FnOnce(&Gpu)) {
    f(&Gpu::sim());
}

/// Uploads a host tensor, panicking with the device's name on failure (tests only).
pub fn up<T: tensor::cuda::GpuScalar>(gpu: &Gpu, t: &Tensor<T>) -> GpuTensor<T> {
    GpuTensor::upload(gpu, t).unwrap_or_else(|e| panic!("upload to {}: {e}", gpu.name()))
}

/// Downloads a device tensor (tests only).
pub fn down<T: tensor::cuda::GpuScalar>(t: &GpuTensor<T>) -> Tensor<T> {
    t.download()
        .unwrap_or_else(|e| panic!("download from {}: {e}", t.gpu().name()))
}

/// Asserts same shape and |a - b| <= atol + rtol |b| elementwise, naming the first mismatch.
pub fn assert_close(what: &str, got: &Tensor<f32>, want: &Tensor<f32>, atol: f32, rtol: f32) {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes differ");
    for (i, (&g, &w)) in got.data().iter().zip(want.data()).enumerate() {
        let ok = (g - w).abs() <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan()) || g == w;
        assert!(
            ok,
            "{what}: element {i} of {:?}: got {g}, want {w}",
            got.dims()
        );
    }
}

/// Asserts the device result equals the CPU one exactly, shape included.
pub fn assert_same<T: tensor::cuda::GpuScalar + PartialEq + std::fmt::Debug>(
    what: &str,
    got: &GpuTensor<T>,
    want: &Tensor<T>,
) {
    let got = down(got);
    assert_eq!(got.dims(), want.dims(), "{what}: shapes differ");
    assert!(got.data() == want.data(), "{what}: values differ");
}
