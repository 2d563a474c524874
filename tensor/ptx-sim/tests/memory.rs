//! Loads and stores: a guarded elementwise kernel, vector and 64-bit accesses to global and
//! shared memory, dynamic shared memory after the static arrays, and atomics from many threads.

mod common;

use common::*;

#[test]
fn sim_guarded_elementwise_add() {
    let sim = SimDevice::new();
    let n = 1000;
    let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32).collect();
    let (da, db) = (upload(&sim, &bits(&a)), upload(&sim, &bits(&b)));
    // One element more than the kernel writes: it must stay untouched (0xFF bytes).
    let out = scratch(&sim, n + 1);
    let args = [ptr(&da), ptr(&db), ptr(&out), KernelArg::U32(n as u32)];
    launch(&sim, &ADD, "add", LaunchConfig::linear(n, 256), &args).unwrap();
    let got = download(&sim, &out, n + 1);
    for i in 0..n {
        assert_eq!(f32::from_bits(got[i]), a[i] + b[i], "element {i}");
    }
    assert_eq!(got[n], u32::MAX, "the guard let a thread past n write");
}

// ---------------------------------------------------------------------------------------------
// Vector and 64-bit loads and stores, global and shared.

static VECTOR: PtxModule = PtxModule::new("sim_test_vector", vector_ptx);

fn vector_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry vector(.param .u64 input, .param .u64 out)
{
    .shared .align 16 .f32 buf[8];
    .reg .f32 %f<9>;
    .reg .b32 %r<3>;
    .reg .b64 %rd<6>;

    ld.param.u64 %rd1, [input];
    ld.param.u64 %rd2, [out];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    ld.global.v4.f32 {%f1, %f2, %f3, %f4}, [%rd1];
    ld.global.nc.v2.u32 {%r1, %r2}, [%rd1+16];
    ld.global.u64 %rd3, [%rd1+24];
    st.global.v4.f32 [%rd2], {%f4, %f3, %f2, %f1};
    st.global.v2.u32 [%rd2+16], {%r2, %r1};
    st.global.u64 [%rd2+24], %rd3;
    mov.u64 %rd4, buf;
    st.shared.v4.f32 [%rd4], {%f1, %f2, %f3, %f4};
    st.shared.v4.f32 [buf+16], {%f4, %f4, %f4, %f4};
    ld.shared.v2.f32 {%f5, %f6}, [%rd4+8];
    ld.shared.f32 %f7, [buf+28];
    ld.shared.v4.f32 {%f1, %f2, %f3, %f8}, [buf];
    st.global.v2.f32 [%rd2+32], {%f5, %f6};
    st.global.f32 [%rd2+40], %f7;
    st.global.f32 [%rd2+44], %f8;
    ret;
}
"#
}

#[test]
fn sim_vector_and_64_bit_loads_and_stores() {
    let sim = SimDevice::new();
    let input = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    let din = upload(&sim, &bits(&input));
    let out = scratch(&sim, 12);
    launch(
        &sim,
        &VECTOR,
        "vector",
        one_thread(),
        &[ptr(&din), ptr(&out)],
    )
    .unwrap();
    let got = floats(&download(&sim, &out, 12));
    let want = [4.0, 3.0, 2.0, 1.0, 6.0, 5.0, 7.0, 8.0, 3.0, 4.0, 4.0, 4.0];
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------------
// Dynamic shared memory: placed after the static arrays, sized by the launch.

static DYNAMIC: PtxModule = PtxModule::new("sim_test_dynamic", dynamic_ptx);

fn dynamic_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.extern .shared .align 16 .b8 dyn[];

.visible .entry reverse(.param .u64 input, .param .u64 out, .param .u64 gap)
{
    .shared .align 4 .u32 flags[3];
    .reg .pred %p<3>;
    .reg .b32 %r<10>;
    .reg .b64 %rd<10>;

    ld.param.u64 %rd1, [input];
    ld.param.u64 %rd2, [out];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r1, %tid.x;
    mov.u32 %r2, %ntid.x;
    mov.u32 %r3, %ctaid.x;
    mad.lo.s32 %r4, %r3, %r2, %r1;
    mul.wide.u32 %rd3, %r4, 4;
    add.s64 %rd4, %rd1, %rd3;
    ld.global.u32 %r5, [%rd4];
    mov.u64 %rd5, dyn;
    mul.wide.u32 %rd6, %r1, 4;
    add.s64 %rd7, %rd5, %rd6;
    st.shared.u32 [%rd7], %r5;
    setp.eq.u32 %p2, %r1, 0;
    @%p2 st.shared.u32 [flags+8], %r1;
    bar.sync 0;
    sub.s32 %r6, %r2, %r1;
    sub.s32 %r6, %r6, 1;
    mul.wide.u32 %rd6, %r6, 4;
    add.s64 %rd7, %rd5, %rd6;
    ld.shared.u32 %r7, [%rd7];
    add.s64 %rd8, %rd2, %rd3;
    st.global.u32 [%rd8], %r7;
    setp.ne.u32 %p1, %r4, 0;
    @%p1 bra $L_done;
    mov.u64 %rd9, flags;
    sub.s64 %rd9, %rd5, %rd9;
    ld.param.u64 %rd1, [gap];
    cvta.to.global.u64 %rd1, %rd1;
    st.global.u64 [%rd1], %rd9;
$L_done:
    ret;
}
"#
}

#[test]
fn sim_dynamic_shared_memory_follows_static_arrays() {
    let sim = SimDevice::new();
    let (threads, blocks) = (128usize, 3usize);
    let n = threads * blocks;
    let input: Vec<u32> = (0..n as u32).map(|i| i * 3 + 1).collect();
    let din = upload(&sim, &input);
    let out = scratch(&sim, n);
    let gap = alloc(&sim, 8);
    let config = LaunchConfig {
        grid: (blocks as u32, 1, 1),
        block: (threads as u32, 1, 1),
        shared_bytes: (threads * 4) as u32,
    };
    let args = [ptr(&din), ptr(&out), ptr(&gap)];
    launch(&sim, &DYNAMIC, "reverse", config, &args).unwrap();
    let got = download(&sim, &out, n);
    for b in 0..blocks {
        for t in 0..threads {
            assert_eq!(got[b * threads + t], input[b * threads + threads - 1 - t]);
        }
    }
    // 12 bytes of static `flags`, then the dynamic array at its 16-byte alignment.
    assert_eq!(download64(&sim, &gap, 1)[0], 16);

    // Too little dynamic shared memory for the block: the first access past it faults.
    let small = LaunchConfig {
        shared_bytes: 64,
        ..config
    };
    let message = kernel_error(launch(&sim, &DYNAMIC, "reverse", small, &args), "reverse");
    assert!(message.contains("out-of-bounds shared write"), "{message}");
    assert!(message.contains("thread (16, 0, 0)"), "{message}");

    // More than 48 KiB in all fails to launch on hardware (no opt-in), so here too.
    let huge = LaunchConfig {
        shared_bytes: 48 * 1024,
        ..config
    };
    let message = kernel_error(launch(&sim, &DYNAMIC, "reverse", huge, &args), "reverse");
    assert!(
        message.contains("49168 bytes of shared memory"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Atomics from many threads: tickets from atom.add return every old value once.

static ATOMICS: PtxModule = PtxModule::new("sim_test_atomics", atomics_ptx);

fn atomics_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry atomics(.param .u64 counters, .param .u64 tickets)
{
    .reg .f32 %f<2>;
    .reg .b32 %r<8>;
    .reg .b64 %rd<6>;

    ld.param.u64 %rd1, [counters];
    ld.param.u64 %rd2, [tickets];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r1, %tid.x;
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mad.lo.s32 %r4, %r2, %r3, %r1;
    atom.global.add.u32 %r5, [%rd1], 1;
    mul.wide.u32 %rd3, %r5, 4;
    add.s64 %rd4, %rd2, %rd3;
    st.global.u32 [%rd4], %r4;
    atom.global.add.f32 %f1, [%rd1+4], 0f3F000000;
    red.global.add.u32 [%rd1+8], %r4;
    red.global.add.f32 [%rd1+12], 0f3F800000;
    mul.lo.s32 %r6, %r4, 7919;
    rem.u32 %r6, %r6, 1000;
    atom.global.max.u32 %r7, [%rd1+16], %r6;
    ret;
}
"#
}

#[test]
fn sim_atomics_from_many_threads() {
    let sim = SimDevice::new();
    let (blocks, threads) = (4u32, 256u32);
    let n = (blocks * threads) as usize;
    let counters = upload(&sim, &[0, 0f32.to_bits(), 0, 0f32.to_bits(), 0]);
    let tickets = scratch(&sim, n);
    let config = LaunchConfig {
        grid: (blocks, 1, 1),
        block: (threads, 1, 1),
        shared_bytes: 0,
    };
    launch(
        &sim,
        &ATOMICS,
        "atomics",
        config,
        &[ptr(&counters), ptr(&tickets)],
    )
    .unwrap();
    let c = download(&sim, &counters, 5);
    assert_eq!(c[0], n as u32, "atom.add.u32 count");
    assert_eq!(f32::from_bits(c[1]), 0.5 * n as f32, "atom.add.f32 sum");
    assert_eq!(c[2], (0..n as u32).sum::<u32>(), "red.add.u32 sum");
    assert_eq!(f32::from_bits(c[3]), n as f32, "red.add.f32 count");
    assert_eq!(
        c[4],
        (0..n as u32).map(|i| i * 7919 % 1000).max().unwrap(),
        "atom.max"
    );
    let mut got = download(&sim, &tickets, n);
    got.sort_unstable();
    assert_eq!(
        got,
        (0..n as u32).collect::<Vec<_>>(),
        "each old value returned once"
    );
}
