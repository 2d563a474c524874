//! One test body on every device, as candle's `test_device!` or burn's backend test suite.
//!
//! A test body is a plain function `fn name(device: Device)`; [`device_test!`]`(name)` beside it
//! makes a module `name` holding one `#[test]` per device kind: `name::cpu`, `name::sim` (the PTX
//! simulator) and `name::cuda`, so that a failure names its device and a filter picks a kind
//! (`cargo test -- ::sim`). `device_test!(name: cpu, sim)` picks the kinds, e.g. for a
//! `#[should_panic]` test, which cannot be skipped (see below), or a GPU-only one.
//!
//! `name::cuda` runs on `cuda:0` when a CUDA driver and a device answer. When they do not, the
//! test cannot run, and libtest cannot mark a test skipped at run time: it passes without running,
//! and the test binary says so once on stderr, uncaptured, so that it shows in every run. With
//! `MART_REQUIRE_CUDA=1` (`.ci/mock-cuda`, `.ci/gpu-check`) a `cuda:0` that does not open fails
//! the test instead: the rule of [`tensor::gpu::test_devices::gpu_test_devices`], which the GPU
//! tests of the other crates follow too.
//!
//! The helpers take results back to the host, checking that they stayed on the device (an op
//! that silently fell back to the CPU fails there), and compare f32 results with references in
//! f64 rounded to f32.

use std::io::Write;
use std::sync::Once;
use tensor::gpu::test_devices::gpu_test_devices;
use tensor::{Device, Stored, Tensor};

/// One `#[test]` per device kind for the test body `fn name(device: Device)` defined beside it:
/// `device_test!(name)` makes `name::cpu`, `name::sim` and `name::cuda`; `device_test!(name: cpu,
/// sim)` the kinds listed; a leading `#[should_panic(expected = "...")]` goes on each (so such a
/// test lists its kinds without `cuda`, whose test returns without panicking where `cuda:0` does
/// not open). Allowed unused: test files without device tests compile this module too.
#[allow(unused_macros)]
macro_rules! device_test {
    ($(#[should_panic(expected = $panic:literal)])? $name:ident) => {
        $crate::common::device::device_test!(
            $(#[should_panic(expected = $panic)])? $name: cpu, sim, cuda
        );
    };
    ($(#[should_panic(expected = $panic:literal)])? $name:ident: $($kind:ident),+) => {
        mod $name {
            $crate::common::device::device_test!(@each $name [$($panic)?] $($kind)+);
        }
    };
    (@each $name:ident [$($panic:literal)?] $kind:ident $($rest:ident)*) => {
        #[test]
        $(#[should_panic(expected = $panic)])?
        fn $kind() {
            if let Some(device) = $crate::common::device::device_test!(@device $kind) {
                super::$name(device);
            }
        }
        $crate::common::device::device_test!(@each $name [$($panic)?] $($rest)*);
    };
    (@each $name:ident [$($panic:literal)?]) => {};
    (@device cpu) => { Some(tensor::Device::Cpu) };
    (@device sim) => { Some(tensor::Device::Sim) };
    (@device cuda) => { $crate::common::device::cuda() };
}
#[allow(unused_imports)]
pub(crate) use device_test;

/// `cuda:0` when it opens; `None` (said once per test binary on the real stderr) when it does
/// not. With `MART_REQUIRE_CUDA=1`, a `cuda:0` that does not open panics: the test fails.
pub fn cuda() -> Option<Device> {
    static SKIPPED: Once = Once::new();
    if gpu_test_devices("a device test").contains(&Device::Cuda(0)) {
        return Some(Device::Cuda(0));
    }
    SKIPPED.call_once(|| {
        let why = Device::Cuda(0).gpu().err().map(|e| e.to_string());
        let _ = writeln!(
            std::io::stderr(),
            "\nnote: cuda:0 does not open ({}): the `::cuda` tests of this binary pass without \
             running; MART_REQUIRE_CUDA=1 makes them fail instead",
            why.as_deref().unwrap_or("unknown reason")
        );
    });
    None
}

/// `t` moved to `device` (a no-op on the CPU), panicking with the device's error.
pub fn on<T: Stored>(device: Device, t: &Tensor<T>) -> Tensor<T> {
    t.to_device(device)
        .unwrap_or_else(|e| panic!("moving a tensor of shape {:?} to {device}: {e}", t.dims()))
}

/// The host copy of `t`, a result that must still live on `device`.
#[track_caller]
pub fn back<T: Stored>(device: Device, t: &Tensor<T>) -> Tensor<T> {
    assert_eq!(
        t.device(),
        device,
        "the result of shape {:?} left {device}",
        t.dims()
    );
    t.to_cpu()
}

/// `x` with every element rounded to f32 and back, the value an exact f32 op must give.
pub fn rounded(x: f64) -> f64 {
    f64::from(x as f32)
}

/// Asserts that `got` (on the host) has dimensions `dims` and that each element is within
/// `atol + rtol |w|` of `w`, the reference rounded to f32; equal values (infinities included)
/// and NaN against NaN pass.
#[track_caller]
pub fn assert_f32(
    what: &str,
    got: &Tensor<f32>,
    dims: &[usize],
    want: &[f64],
    atol: f64,
    rtol: f64,
) {
    assert_eq!(got.dims(), dims, "{what}: dimensions differ");
    assert_eq!(
        got.numel(),
        want.len(),
        "{what}: reference of another length"
    );
    for (i, (&g, &w)) in got.data().iter().zip(want).enumerate() {
        let (g, w) = (f64::from(g), rounded(w));
        let ok = g == w || (g.is_nan() && w.is_nan()) || (g - w).abs() <= atol + rtol * w.abs();
        assert!(ok, "{what}: element {i} of {dims:?}: got {g:e}, want {w:e}");
    }
}

/// Asserts that `got` (on the host) has dimensions `dims` and the bits of `want` rounded to f32,
/// signed zeros included; any NaN matches any NaN.
#[track_caller]
pub fn assert_bits(what: &str, got: &Tensor<f32>, dims: &[usize], want: &[f64]) {
    assert_eq!(got.dims(), dims, "{what}: dimensions differ");
    assert_eq!(
        got.numel(),
        want.len(),
        "{what}: reference of another length"
    );
    for (i, (&g, &w)) in got.data().iter().zip(want).enumerate() {
        let w = w as f32;
        let ok = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
        assert!(ok, "{what}: element {i} of {dims:?}: got {g:e}, want {w:e}");
    }
}
