//! The mock driver's own behaviour, driven in-process through its Rust API (each test with a
//! driver of its own): arguments read through the `.param` layout, launches queued until a
//! synchronising call, faults reported late and sticky, a buffer freed under a queued launch
//! caught, devices with separate address ranges, the JIT log, and the broken installations.

mod common;

use common::FILL;
use mockcuda::codes::Code;
use mockcuda::config::Config;
use mockcuda::device::DEVICE_STRIDE;
use mockcuda::driver::Driver;
use tensor_gpu::LaunchConfig;
use tensor_gpu::module::PTX_HEADER;

/// An initialised driver with `config`, device 0's context retained, and `fill` loaded there.
fn open(config: Config) -> (Driver, usize) {
    let driver = Driver::new(config);
    driver.init(0).expect("cuInit");
    driver.retain(0).expect("primary context");
    let module = driver
        .load_module(0, &format!("{PTX_HEADER}{FILL}"))
        .expect("fill assembles");
    let fill = driver.function(module, "fill").expect("fill is there");
    (driver, fill)
}

fn grid(n: u32) -> LaunchConfig {
    LaunchConfig::linear(n as usize, 64)
}

/// Launches `fill` on device `d` over `n` elements of `out`.
fn fill(driver: &Driver, d: usize, f: usize, n: u32, out: u64, a: f32, k: u32) -> Result<(), Code> {
    let args = [
        &n.to_le_bytes()[..],
        &out.to_le_bytes(),
        &a.to_le_bytes(),
        &k.to_le_bytes(),
    ];
    driver.launch(d, f, grid(n), &args)
}

fn read_f32(driver: &Driver, d: usize, ptr: u64, n: usize) -> Result<Vec<f32>, Code> {
    let mut bytes = vec![0u8; n * 4];
    driver.on(d, |s| s.read(ptr, &mut bytes))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect())
}

#[test]
fn arguments_are_read_through_the_param_layout() {
    let (driver, f) = open(Config::default());
    let slots = driver.params(f).unwrap();
    let layout: Vec<(usize, usize)> = slots.iter().map(|s| (s.size, s.offset)).collect();
    assert_eq!(layout, [(4, 0), (8, 8), (4, 16), (4, 20)]);
    let out = driver.on(0, |s| s.alloc(100 * 4)).unwrap();
    fill(&driver, 0, f, 100, out, 0.5, 3).unwrap();
    let got = read_f32(&driver, 0, out, 100).unwrap();
    let want: Vec<f32> = (0..100).map(|i| 0.5 * (i + 3) as f32).collect();
    assert_eq!(got, want);
    // An argument of the wrong size is refused at the launch (not sticky).
    let short = [
        &5u32.to_le_bytes()[..],
        &(out as u32).to_le_bytes(),
        &1f32.to_le_bytes(),
        &0u32.to_le_bytes(),
    ];
    assert_eq!(
        driver.launch(0, f, grid(5), &short),
        Err(Code::CUDA_ERROR_INVALID_VALUE)
    );
    assert_eq!(driver.synchronize(0), Ok(()));
}

#[test]
fn launches_wait_in_the_queue_until_a_synchronising_call() {
    let (driver, f) = open(Config::default());
    let out = driver.on(0, |s| s.alloc(8 * 4)).unwrap();
    driver.on(0, |s| s.write(out, &[0u8; 32])).unwrap();
    fill(&driver, 0, f, 8, out, 1.0, 0).unwrap();
    fill(&driver, 0, f, 8, out, 2.0, 1).unwrap();
    assert_eq!(driver.state(0).queued(), 2, "launches only queue");
    driver.synchronize(0).unwrap();
    assert_eq!(driver.state(0).queued(), 0);
    // In issue order: the second launch's values are the ones left.
    let want: Vec<f32> = (0..8).map(|i| 2.0 * (i + 1) as f32).collect();
    assert_eq!(read_f32(&driver, 0, out, 8).unwrap(), want);
    // A copy synchronises too.
    fill(&driver, 0, f, 8, out, 3.0, 0).unwrap();
    let want: Vec<f32> = (0..8).map(|i| 3.0 * i as f32).collect();
    assert_eq!(read_f32(&driver, 0, out, 8).unwrap(), want);
}

#[test]
fn a_kernel_fault_is_reported_late_and_stays() {
    let (driver, f) = open(Config::default());
    let out = driver.on(0, |s| s.alloc(16 * 4)).unwrap();
    // 64 elements into a 16-element buffer: the launch itself succeeds.
    assert_eq!(fill(&driver, 0, f, 64, out, 1.0, 0), Ok(()));
    assert_eq!(driver.synchronize(0), Err(Code::CUDA_ERROR_ILLEGAL_ADDRESS));
    // Sticky: every later call fails with the same code, allocation and launches included.
    assert_eq!(
        driver.on(0, |s| s.alloc(4)),
        Err(Code::CUDA_ERROR_ILLEGAL_ADDRESS)
    );
    assert_eq!(
        fill(&driver, 0, f, 1, out, 1.0, 0),
        Err(Code::CUDA_ERROR_ILLEGAL_ADDRESS)
    );
    assert_eq!(driver.synchronize(0), Err(Code::CUDA_ERROR_ILLEGAL_ADDRESS));
    let text = driver
        .error_string(Code::CUDA_ERROR_ILLEGAL_ADDRESS)
        .to_string_lossy()
        .into_owned();
    assert!(
        text.contains("illegal memory access") && text.contains("`fill`"),
        "{text}"
    );
    assert!(text.contains("out-of-bounds global write"), "{text}");
    // The other device is untouched.
    driver.retain(1).unwrap();
    assert!(driver.on(1, |s| s.alloc(4)).is_ok());
}

#[test]
fn launch_blocking_reports_the_fault_at_the_launch() {
    let (driver, f) = open(Config {
        launch_blocking: true,
        ..Config::default()
    });
    let out = driver.on(0, |s| s.alloc(16 * 4)).unwrap();
    assert_eq!(fill(&driver, 0, f, 16, out, 1.0, 0), Ok(()));
    assert_eq!(
        fill(&driver, 0, f, 17, out, 1.0, 0),
        Err(Code::CUDA_ERROR_ILLEGAL_ADDRESS)
    );
}

#[test]
fn freeing_a_buffer_a_queued_launch_takes_is_a_fault() {
    let (driver, f) = open(Config::default());
    let a = driver.on(0, |s| s.alloc(8 * 4)).unwrap();
    let b = driver.on(0, |s| s.alloc(8 * 4)).unwrap();
    fill(&driver, 0, f, 8, a, 1.0, 0).unwrap();
    // `b` is not taken by the queued launch: freeing it is fine.
    assert_eq!(driver.on(0, |s| s.free(b)), Ok(()));
    // `a` is: the free itself returns, the next call reports the fault.
    assert_eq!(driver.on(0, |s| s.free(a)), Ok(()));
    assert_eq!(driver.synchronize(0), Err(Code::CUDA_ERROR_ILLEGAL_ADDRESS));
    let text = driver
        .error_string(Code::CUDA_ERROR_ILLEGAL_ADDRESS)
        .to_string_lossy()
        .into_owned();
    assert!(
        text.contains("synchronise before freeing") && text.contains("`fill`"),
        "{text}"
    );

    // After a synchronisation the same free is fine.
    let (driver, f) = open(Config::default());
    let a = driver.on(0, |s| s.alloc(8 * 4)).unwrap();
    fill(&driver, 0, f, 8, a, 1.0, 0).unwrap();
    driver.synchronize(0).unwrap();
    assert_eq!(driver.on(0, |s| s.free(a)), Ok(()));
    assert_eq!(driver.synchronize(0), Ok(()));
}

#[test]
fn devices_have_separate_address_ranges() {
    let (driver, f) = open(Config::default());
    driver.retain(1).unwrap();
    let on0 = driver.on(0, |s| s.alloc(64)).unwrap();
    let on1 = driver.on(1, |s| s.alloc(64)).unwrap();
    assert!(on1.abs_diff(on0) >= DEVICE_STRIDE, "{on0:#x} {on1:#x}");
    // A device-0 pointer means nothing on device 1: copies are refused, kernels fault.
    assert_eq!(
        driver.on(1, |s| s.write(on0, &[0; 4])),
        Err(Code::CUDA_ERROR_INVALID_VALUE)
    );
    assert_eq!(
        fill(&driver, 1, f, 4, on1, 1.0, 0),
        Err(Code::CUDA_ERROR_INVALID_HANDLE),
        "functions belong to a context"
    );
    let module = driver
        .load_module(1, &format!("{PTX_HEADER}{FILL}"))
        .unwrap();
    let f1 = driver.function(module, "fill").unwrap();
    fill(&driver, 1, f1, 4, on0, 1.0, 0).unwrap();
    assert_eq!(driver.synchronize(1), Err(Code::CUDA_ERROR_ILLEGAL_ADDRESS));
    assert_eq!(driver.synchronize(0), Ok(()));
}

#[test]
fn a_module_that_does_not_assemble_comes_with_its_log() {
    let driver = Driver::new(Config::default());
    driver.init(0).unwrap();
    driver.retain(0).unwrap();
    let broken = format!("{PTX_HEADER}{}", FILL.replace("mul.rn.f32", "mul.rn.f33"));
    let (code, log) = driver.load_module(0, &broken).unwrap_err();
    assert_eq!(code, Code::CUDA_ERROR_INVALID_PTX);
    assert!(log.contains("line") && log.contains("f33"), "{log}");
    let missing = driver
        .load_module(0, &format!("{PTX_HEADER}{FILL}"))
        .unwrap();
    assert_eq!(
        driver.function(missing, "nope"),
        Err(Code::CUDA_ERROR_NOT_FOUND)
    );
}

#[test]
fn broken_installations_fail_as_a_driver_does() {
    let cases = [
        ("stub", Code::CUDA_ERROR_STUB_LIBRARY),
        ("no-device", Code::CUDA_ERROR_NO_DEVICE),
        ("driver-mismatch", Code::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH),
        ("compat", Code::CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE),
    ];
    for (_, code) in cases {
        let driver = Driver::new(Config {
            init_error: Some(code),
            ..Config::default()
        });
        assert_eq!(driver.init(0), Err(code));
        assert_eq!(driver.device_count(), Err(code));
    }
    let none = Driver::new(Config {
        devices: 0,
        ..Config::default()
    });
    assert_eq!(none.init(0), Err(Code::CUDA_ERROR_NO_DEVICE));
    let uninitialised = Driver::new(Config::default());
    assert_eq!(
        uninitialised.device_count(),
        Err(Code::CUDA_ERROR_NOT_INITIALIZED)
    );
    uninitialised.init(0).unwrap();
    assert_eq!(
        uninitialised.device(2),
        Err(Code::CUDA_ERROR_INVALID_DEVICE)
    );
}

#[test]
fn memory_is_limited_and_the_last_release_resets_the_device() {
    let (driver, _) = open(Config {
        memory: 1000,
        ..Config::default()
    });
    let a = driver.on(0, |s| s.alloc(600)).unwrap();
    assert_eq!(
        driver.on(0, |s| s.alloc(600)),
        Err(Code::CUDA_ERROR_OUT_OF_MEMORY)
    );
    driver.on(0, |s| s.free(a)).unwrap();
    let b = driver.on(0, |s| s.alloc(600)).unwrap();
    driver.release(0).unwrap();
    assert_eq!(
        driver.context_device(0xC0_0000),
        Err(Code::CUDA_ERROR_INVALID_CONTEXT)
    );
    driver.retain(0).unwrap();
    // The context was destroyed: `b` is gone, all 1000 bytes are free again.
    assert_eq!(
        driver.on(0, |s| s.free(b)),
        Err(Code::CUDA_ERROR_INVALID_VALUE)
    );
    assert!(driver.on(0, |s| s.alloc(1000)).is_ok());
}
