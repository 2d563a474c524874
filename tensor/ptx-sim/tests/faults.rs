//! Faults at launch and run time are errors naming the kernel, the thread and the instruction,
//! never panics: wrong arguments, bad addresses, division by zero, barriers not every thread
//! reaches, memory races, endless loops.

mod common;

use common::*;

#[test]
fn sim_wrong_arguments_are_errors_naming_the_kernel() {
    let sim = SimDevice::new();
    let a = scratch(&sim, 4);
    let too_few = [ptr(&a), ptr(&a), ptr(&a)];
    let message = kernel_error(launch(&sim, &ADD, "add", one_thread(), &too_few), "add");
    assert!(message.contains("4 parameters"), "{message}");
    let wrong_size = [ptr(&a), ptr(&a), KernelArg::U32(0), KernelArg::U32(1)];
    let message = kernel_error(launch(&sim, &ADD, "add", one_thread(), &wrong_size), "add");
    assert!(message.contains("parameter `out`"), "{message}");
    let float_for_int = [ptr(&a), ptr(&a), ptr(&a), KernelArg::F32(1.0)];
    let message = kernel_error(
        launch(&sim, &ADD, "add", one_thread(), &float_for_int),
        "add",
    );
    assert!(message.contains("parameter `n`"), "{message}");
    let args = [ptr(&a), ptr(&a), ptr(&a), KernelArg::U32(1)];
    let message = kernel_error(launch(&sim, &ADD, "nope", one_thread(), &args), "nope");
    assert!(message.contains("no entry"), "{message}");
    let no_threads = LaunchConfig {
        block: (0, 1, 1),
        ..one_thread()
    };
    kernel_error(launch(&sim, &ADD, "add", no_threads, &args), "add");
}

#[test]
fn sim_out_of_bounds_global_read_is_an_error() {
    let sim = SimDevice::new();
    // 128 floats fill their 512-byte allocation exactly; thread 128 reads just past its end.
    let n = 128;
    let (a, b, out) = (scratch(&sim, n), scratch(&sim, n), scratch(&sim, n + 1));
    let args = [ptr(&a), ptr(&b), ptr(&out), KernelArg::U32(n as u32 + 1)];
    let result = launch(&sim, &ADD, "add", LaunchConfig::linear(n + 1, 64), &args);
    let message = kernel_error(result, "add");
    let past_end = format!("{:#x}", a.ptr() + 4 * n as u64);
    assert!(message.contains(&past_end), "{message}");
    assert!(message.contains("out-of-bounds global read"), "{message}");
    assert!(
        message.contains("block (2, 0, 0) thread (0, 0, 0)"),
        "{message}"
    );
    assert!(
        message.contains("ld.global.nc.f32 %f1, [%rd8]"),
        "{message}"
    );
    // The device still works after a fault.
    let args = [ptr(&a), ptr(&b), ptr(&out), KernelArg::U32(n as u32)];
    launch(&sim, &ADD, "add", LaunchConfig::linear(n, 64), &args).unwrap();
}

static FAULTS: PtxModule = PtxModule::new("sim_test_faults", faults_ptx);

fn faults_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry early_exit(.param .u32 cut)
{
    .reg .pred %p<2>;
    .reg .b32 %r<3>;

    ld.param.u32 %r1, [cut];
    mov.u32 %r2, %tid.x;
    setp.ge.u32 %p1, %r2, %r1;
    @%p1 ret;
    bar.sync 0;
    ret;
}

.visible .entry split_barrier()
{
    .reg .pred %p<2>;
    .reg .b32 %r<2>;

    mov.u32 %r1, %tid.x;
    setp.lt.u32 %p1, %r1, 8;
    @%p1 bra $L_other;
    bar.sync 0;
    bra.uni $L_done;
$L_other:
    bar.sync 0;
$L_done:
    ret;
}

.visible .entry divide(.param .u64 out, .param .u32 d)
{
    .reg .b32 %r<4>;
    .reg .b64 %rd<2>;

    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    ld.param.u32 %r1, [d];
    mov.u32 %r2, 100;
    div.u32 %r3, %r2, %r1;
    st.global.u32 [%rd1], %r3;
    ret;
}

.visible .entry neighbour(.param .u64 out, .param .u32 sync)
{
    .shared .align 4 .u32 cells[64];
    .reg .pred %p<2>;
    .reg .b32 %r<8>;
    .reg .b64 %rd<4>;

    ld.param.u32 %r1, [sync];
    mov.u32 %r2, %tid.x;
    mov.u32 %r3, cells;
    mad.lo.s32 %r4, %r2, 4, %r3;
    st.shared.u32 [%r4], %r2;
    setp.ne.u32 %p1, %r1, 0;
    @%p1 bar.sync 0;
    add.u32 %r5, %r2, 63;
    and.b32 %r5, %r5, 63;
    mad.lo.s32 %r6, %r5, 4, %r3;
    ld.shared.u32 %r7, [%r6];
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    mul.wide.u32 %rd2, %r2, 4;
    add.s64 %rd3, %rd1, %rd2;
    st.global.u32 [%rd3], %r7;
    ret;
}

.visible .entry clash(.param .u64 out, .param .u32 mask)
{
    .reg .b32 %r<7>;
    .reg .b64 %rd<4>;

    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    ld.param.u32 %r1, [mask];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    and.b32 %r6, %r5, %r1;
    mul.wide.u32 %rd2, %r6, 4;
    add.s64 %rd3, %rd1, %rd2;
    st.global.u32 [%rd3], %r5;
    ret;
}

.visible .entry endless()
{
$L_again:
    bra.uni $L_again;
}

.visible .entry misaligned(.param .u64 out)
{
    .reg .b32 %r<2>;
    .reg .b64 %rd<2>;

    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    ld.global.u32 %r1, [%rd1+2];
    ret;
}
"#
}

#[test]
fn sim_barrier_after_some_threads_exited_is_an_error() {
    let sim = SimDevice::new();
    // Every thread reaching the barrier is fine.
    launch(
        &sim,
        &FAULTS,
        "early_exit",
        one_block(32),
        &[KernelArg::U32(32)],
    )
    .unwrap();
    let result = launch(
        &sim,
        &FAULTS,
        "early_exit",
        one_block(32),
        &[KernelArg::U32(16)],
    );
    let message = kernel_error(result, "early_exit");
    assert!(message.contains("has exited"), "{message}");
    assert!(message.contains("bar.sync 0"), "{message}");
    let message = kernel_error(
        launch(&sim, &FAULTS, "split_barrier", one_block(32), &[]),
        "split_barrier",
    );
    assert!(message.contains("same bar.sync"), "{message}");
}

#[test]
fn sim_division_by_zero_and_misaligned_access_are_errors() {
    let sim = SimDevice::new();
    let out = scratch(&sim, 1);
    launch(
        &sim,
        &FAULTS,
        "divide",
        one_thread(),
        &[ptr(&out), KernelArg::U32(7)],
    )
    .unwrap();
    assert_eq!(download(&sim, &out, 1), [14]);
    let result = launch(
        &sim,
        &FAULTS,
        "divide",
        one_thread(),
        &[ptr(&out), KernelArg::U32(0)],
    );
    let message = kernel_error(result, "divide");
    assert!(message.contains("division by zero"), "{message}");
    assert!(message.contains("div.u32 %r3, %r2, %r1"), "{message}");
    let message = kernel_error(
        launch(&sim, &FAULTS, "misaligned", one_thread(), &[ptr(&out)]),
        "misaligned",
    );
    assert!(message.contains("misaligned global read"), "{message}");
}

#[test]
fn sim_shared_memory_race_without_barrier_is_an_error() {
    let sim = SimDevice::new();
    let out = scratch(&sim, 64);
    // With the barrier each thread reads its neighbour's value.
    launch(
        &sim,
        &FAULTS,
        "neighbour",
        one_block(64),
        &[ptr(&out), KernelArg::U32(1)],
    )
    .unwrap();
    let want: Vec<u32> = (0..64).map(|t| (t + 63) % 64).collect();
    assert_eq!(download(&sim, &out, 64), want);
    // Without it, the read races with the neighbour's write (here thread 0's, read by thread 1).
    let result = launch(
        &sim,
        &FAULTS,
        "neighbour",
        one_block(64),
        &[ptr(&out), KernelArg::U32(0)],
    );
    let message = kernel_error(result, "neighbour");
    assert!(message.contains("shared-memory race"), "{message}");
    assert!(message.contains("thread (1, 0, 0)"), "{message}");
    assert!(
        message.contains("which thread (0, 0, 0) wrote"),
        "{message}"
    );
}

#[test]
fn sim_global_memory_race_between_threads_is_an_error() {
    let sim = SimDevice::new();
    let out = scratch(&sim, 64);
    let config = LaunchConfig {
        grid: (2, 1, 1),
        block: (32, 1, 1),
        shared_bytes: 0,
    };
    // Each thread its own word: fine.
    launch(
        &sim,
        &FAULTS,
        "clash",
        config,
        &[ptr(&out), KernelArg::U32(63)],
    )
    .unwrap();
    assert_eq!(download(&sim, &out, 64), (0..64).collect::<Vec<u32>>());
    // Thread 0 of block 1 writes the word thread 0 of block 0 wrote: a race across blocks.
    let result = launch(
        &sim,
        &FAULTS,
        "clash",
        config,
        &[ptr(&out), KernelArg::U32(31)],
    );
    let message = kernel_error(result, "clash");
    assert!(message.contains("global-memory race"), "{message}");
    assert!(
        message.starts_with("block (1, 0, 0) thread (0, 0, 0)"),
        "{message}"
    );
    assert!(
        message.contains("thread (0, 0, 0) of block (0, 0, 0) wrote"),
        "{message}"
    );
    assert!(message.contains(&format!("{:#x}", out.ptr())), "{message}");
}

#[test]
fn sim_endless_loop_is_an_error() {
    let sim = SimDevice::new();
    let message = kernel_error(
        launch(&sim, &FAULTS, "endless", one_thread(), &[]),
        "endless",
    );
    assert!(message.contains("endless loop"), "{message}");
}
