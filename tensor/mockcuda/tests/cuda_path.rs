//! The real device path (`Gpu::cuda`: tensor's driver module through cudarc's dynamic loading)
//! over the mock driver, one child process per installation (see `common`): each fault class
//! ends in the clear error the error policy asks for, never a panic inside cudarc.

mod common;

use common::{FILL, Library, run_child};
use tensor_gpu::Device;
use tensor_gpu::module::PTX_HEADER;
use tensor_gpu::{Gpu, GpuError, GpuTensor, KernelArg, LaunchConfig, PtxModule};
use tensor_spec::op::BinaryOp;

static FILL_MODULE: PtxModule = PtxModule::new("mock_fill", || format!("{PTX_HEADER}{FILL}"));
static BROKEN_MODULE: PtxModule = PtxModule::new("mock_broken", || {
    format!("{PTX_HEADER}{}", FILL.replace("mul.rn.f32", "mul.rn.f33"))
});

/// The words `out[i] = a * (i + k)`, `i < n`, with `fill`'s arguments in declaration order.
fn fill(gpu: &Gpu, n: u32, out: u64, a: f32) -> Result<(), GpuError> {
    let args = [
        KernelArg::U32(n),
        KernelArg::U64(out),
        KernelArg::F32(a),
        KernelArg::U32(0),
    ];
    gpu.launch(
        &FILL_MODULE,
        "fill",
        LaunchConfig::linear(n as usize, 64),
        &args,
    )
}

/// A small round trip through an elementwise kernel, checked against the CPU.
fn healthy(gpu: &Gpu) {
    let up = GpuTensor::upload_slice(gpu, &[1.0f32, 2.0, 3.0], [3]).expect("upload");
    let sum = up
        .binary(BinaryOp::Add, &up)
        .expect("add")
        .download_vec()
        .expect("download");
    assert_eq!(sum, [2.0, 4.0, 6.0]);
}

const EARLIER: &str = "an earlier kernel faulted: the device is unusable; rerun with CUDA_LAUNCH_BLOCKING=1 to find it";

#[test]
fn a_kernel_fault_is_reported_at_the_next_call_and_poisons_the_device() {
    run_child("child_kernel_fault", Library::Mock, &[]);
}

#[test]
#[ignore = "run in a child process by the test above"]
fn child_kernel_fault() {
    let gpu = Gpu::cuda(0).expect("cuda:0 on the mock");
    let out = gpu.alloc(16 * 4).unwrap();
    // 1024 elements into 16 (the cache rounds the buffer up to 512 bytes): the launch returns
    // before the kernel runs.
    fill(&gpu, 1024, out.ptr(), 1.0).expect("the launch itself succeeds");
    let mut bytes = [0u8; 64];
    let err = gpu.read(&out, &mut bytes).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, GpuError::Faulted { .. }), "{err:?}");
    assert!(
        text.contains(EARLIER) && text.starts_with("cuda:0"),
        "{text}"
    );
    assert!(
        text.contains("CUDA_ERROR_ILLEGAL_ADDRESS") && text.contains("`fill`"),
        "{text}"
    );
    // Poisoned: every later call fails fast with the same error.
    for later in [
        gpu.alloc(4).err(),
        fill(&gpu, 1, out.ptr(), 1.0).err(),
        gpu.synchronize().err(),
    ] {
        let later = later.expect("a poisoned device fails").to_string();
        assert!(later.contains(EARLIER), "{later}");
    }
    // The other device is not affected.
    healthy(&Gpu::cuda(1).expect("cuda:1 on the mock"));
}

#[test]
fn with_launch_blocking_the_faulting_kernel_is_named() {
    run_child(
        "child_kernel_fault_blocking",
        Library::Mock,
        &[("CUDA_LAUNCH_BLOCKING", "1")],
    );
}

#[test]
#[ignore = "run in a child process by the test above"]
fn child_kernel_fault_blocking() {
    let gpu = Gpu::cuda(0).unwrap();
    let out = gpu.alloc(16 * 4).unwrap();
    fill(&gpu, 16, out.ptr(), 1.0).expect("in bounds");
    let err = fill(&gpu, 1024, out.ptr(), 1.0).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, GpuError::Kernel { kernel, .. } if kernel == "fill"),
        "{err:?}"
    );
    assert!(text.contains("CUDA_ERROR_ILLEGAL_ADDRESS"), "{text}");
    let later = gpu.alloc(4).err().expect("poisoned").to_string();
    assert!(
        later.contains(EARLIER) && later.contains("kernel `fill`"),
        "{later}"
    );
}

#[test]
fn a_module_the_driver_refuses_reports_the_jit_log() {
    run_child("child_bad_module", Library::Mock, &[]);
}

#[test]
#[ignore = "run in a child process by the test above"]
fn child_bad_module() {
    let gpu = Gpu::cuda(0).unwrap();
    let out = gpu.alloc(4).unwrap();
    let args = [
        KernelArg::U32(1),
        KernelArg::U64(out.ptr()),
        KernelArg::F32(1.0),
        KernelArg::U32(0),
    ];
    let err = gpu
        .launch(&BROKEN_MODULE, "fill", LaunchConfig::linear(1, 64), &args)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, GpuError::Ptx { ref module, .. } if module == "mock_broken"),
        "{err:?}"
    );
    assert!(
        text.contains("CUDA_ERROR_INVALID_PTX") && text.contains("JIT log"),
        "{text}"
    );
    assert!(text.contains("line") && text.contains("f33"), "{text}");
    // Not sticky: the device works on.
    healthy(&gpu);
}

#[test]
fn cached_buffers_are_freed_only_after_the_kernels_using_them() {
    run_child(
        "child_sync_before_free",
        Library::Mock,
        &[("MOCKCUDA_MEMORY", "1048576")],
    );
}

#[test]
#[ignore = "run in a child process by the test above"]
fn child_sync_before_free() {
    let gpu = Gpu::cuda(0).unwrap();
    // empty_cache: a buffer dropped into the cache while a queued kernel still writes it.
    let buffer = gpu.alloc(1024).unwrap();
    fill(&gpu, 256, buffer.ptr(), 1.0).unwrap();
    drop(buffer);
    gpu.empty_cache().expect("empty_cache waits, then frees");
    healthy(&gpu);
    // The out-of-memory retry: 600 KiB cached and queued, then 700 KiB of a 1 MiB device.
    let first = gpu.alloc(600 * 1024).unwrap();
    fill(&gpu, 1024, first.ptr(), 1.0).unwrap();
    drop(first);
    let second = gpu
        .alloc(700 * 1024)
        .expect("the retry after emptying the cache");
    fill(&gpu, 1024, second.ptr(), 2.0).unwrap();
    gpu.synchronize().expect("no fault");
    drop(second);
    gpu.empty_cache().unwrap();
    // Dropping a Gpu: another handle on the same device must stay healthy.
    let other = Gpu::cuda(0).unwrap();
    let buffer = other.alloc(1024).unwrap();
    fill(&other, 256, buffer.ptr(), 1.0).unwrap();
    drop(buffer);
    drop(other);
    gpu.synchronize()
        .expect("the dropped handle waited before freeing");
    healthy(&gpu);
}

#[test]
fn two_devices_work_side_by_side_with_blocking_synchronisation() {
    run_child("child_two_devices", Library::Mock, &[]);
}

#[test]
#[ignore = "run in a child process by the test above"]
fn child_two_devices() {
    let zero = Device::Cuda(0).gpu().unwrap().unwrap();
    let one = Device::Cuda(1).gpu().unwrap().unwrap();
    assert_eq!(
        (zero.name(), one.name()),
        ("cuda:0".to_string(), "cuda:1".to_string())
    );
    let x = [1.0f32, -2.0];
    let (a, b) = (
        GpuTensor::upload_slice(&zero, &x, [2]).unwrap(),
        GpuTensor::upload_slice(&one, &x, [2]).unwrap(),
    );
    assert!(
        a.ptr().abs_diff(b.ptr()) >= 1 << 40,
        "separate address ranges"
    );
    assert_eq!(
        a.binary(BinaryOp::Add, &a).unwrap().download_vec().unwrap(),
        [2.0, -4.0]
    );
    assert_eq!(
        b.binary(BinaryOp::Add, &b).unwrap().download_vec().unwrap(),
        [2.0, -4.0]
    );
    // The context waits by blocking, not spinning (CU_CTX_SCHED_BLOCKING_SYNC = 4).
    let mut flags = 0u32;
    // SAFETY: an out-pointer to a local; cuda:1's context is current on this thread.
    let code = unsafe { cudarc::driver::sys::cuCtxGetFlags(&mut flags) };
    assert_eq!(code, cudarc::driver::sys::cudaError_enum::CUDA_SUCCESS);
    assert_eq!(flags & 4, 4, "flags {flags:#x}");
    let err = Gpu::cuda(2).unwrap_err().to_string();
    assert!(
        err.contains("no CUDA device 2: the driver reports 2 device(s)"),
        "{err}"
    );
    assert!(err.contains("CUDA_VISIBLE_DEVICES"), "{err}");
}

#[test]
fn no_device_is_a_clear_error() {
    run_child(
        "child_no_device",
        Library::Mock,
        &[("MOCKCUDA_DEVICES", "0")],
    );
    run_child(
        "child_no_device",
        Library::Mock,
        &[("MOCKCUDA_INIT_ERROR", "no-device")],
    );
}

#[test]
#[ignore = "run in a child process by the test above"]
fn child_no_device() {
    let err = Gpu::cuda(0).unwrap_err();
    assert!(
        matches!(
            err,
            GpuError::NoDevice {
                ordinal: 0,
                count: 0
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("no CUDA device 0: the driver reports 0 device(s)")
    );
    assert_eq!(tensor_gpu::driver::device_count(), 0);
    assert_eq!(Device::auto(), Device::Cpu);
}

#[test]
fn broken_installations_are_no_driver_errors() {
    for kind in ["stub", "driver-mismatch", "compat"] {
        run_child(
            "child_broken_installation",
            Library::Mock,
            &[("MOCKCUDA_INIT_ERROR", kind)],
        );
    }
}

#[test]
#[ignore = "run in a child process by the test above"]
fn child_broken_installation() {
    let kind = std::env::var("MOCKCUDA_INIT_ERROR").unwrap();
    let (code, why) = match kind.as_str() {
        "stub" => ("CUDA_ERROR_STUB_LIBRARY", "stub library, not the driver"),
        "driver-mismatch" => ("CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", "different versions"),
        _ => (
            "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
            "forward-compatibility",
        ),
    };
    let err = Gpu::cuda(0).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, GpuError::NoDriver { .. }), "{err:?}");
    assert!(text.contains(code) && text.contains(why), "{text}");
    assert!(text.contains("--device cpu or --device sim"), "{text}");
}

#[test]
fn a_library_that_is_not_a_driver_is_no_driver() {
    run_child("child_foreign_library", Library::Foreign, &[]);
}

#[test]
#[ignore = "run in a child process by the test above"]
fn child_foreign_library() {
    let err = Gpu::cuda(0).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, GpuError::NoDriver { .. }), "{err:?}");
    assert!(text.contains("does not export cuInit"), "{text}");
    assert_eq!(tensor_gpu::driver::device_count(), 0);
}

#[test]
fn no_library_is_no_driver() {
    run_child("child_no_library", Library::Missing, &[]);
}

#[test]
#[ignore = "run in a child process by the test above"]
fn child_no_library() {
    if tensor_gpu::driver::driver_present() {
        eprintln!(
            "note: a CUDA driver is installed system-wide; the missing-driver case cannot run"
        );
        return;
    }
    let err = Gpu::cuda(0).unwrap_err();
    assert!(matches!(err, GpuError::NoDriver { .. }), "{err:?}");
    assert!(
        err.to_string().contains("libcuda.so was not found"),
        "{err}"
    );
}
