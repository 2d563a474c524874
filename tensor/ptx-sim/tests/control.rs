//! Control flow and the grid: loops closed by guarded branches, a block tree-reduction with
//! `bar.sync`, and a 3-d grid of 3-d blocks in which every thread runs exactly once.

mod common;

use common::*;

// ---------------------------------------------------------------------------------------------
// Loops: a counting loop closed by a guarded branch, and a countdown with `@!%p`/`bra.uni`.

static LOOPS: PtxModule = PtxModule::new("sim_test_loops", loops_ptx);

fn loops_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry loops(.param .u64 sums, .param .u64 doubles)
{
    .reg .pred %p<3>;
    .reg .b32 %r<7>;
    .reg .b64 %rd<6>;

    ld.param.u64 %rd1, [sums];
    ld.param.u64 %rd2, [doubles];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r1, %tid.x;
    mov.u32 %r2, 0;
    mov.u32 %r3, 0;
$L_sum:
    add.u32 %r3, %r3, %r2;
    add.u32 %r2, %r2, 1;
    setp.le.u32 %p1, %r2, %r1;
    @%p1 bra $L_sum;
    mov.u32 %r4, %r1;
    mov.u32 %r5, 0;
$L_down:
    setp.ne.u32 %p2, %r4, 0;
    @!%p2 bra $L_end;
    sub.u32 %r4, %r4, 1;
    add.u32 %r5, %r5, 2;
    bra.uni $L_down;
$L_end:
    mul.wide.u32 %rd3, %r1, 4;
    add.s64 %rd4, %rd1, %rd3;
    st.global.u32 [%rd4], %r3;
    add.s64 %rd5, %rd2, %rd3;
    st.global.u32 [%rd5], %r5;
    ret;
}
"#
}

#[test]
fn sim_loops_with_guarded_branches() {
    let sim = SimDevice::new();
    let n = 300;
    let (sums, doubles) = (scratch(&sim, n), scratch(&sim, n));
    launch(
        &sim,
        &LOOPS,
        "loops",
        one_block(n as u32),
        &[ptr(&sums), ptr(&doubles)],
    )
    .unwrap();
    let (sums, doubles) = (download(&sim, &sums, n), download(&sim, &doubles, n));
    for i in 0..n as u32 {
        assert_eq!(sums[i as usize], i * (i + 1) / 2, "sum for thread {i}");
        assert_eq!(doubles[i as usize], 2 * i, "countdown for thread {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// A block tree-reduction in static shared memory with bar.sync, over several blocks.

static REDUCE: PtxModule = PtxModule::new("sim_test_reduce", reduce_ptx);

fn reduce_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry block_sum(.param .u64 input, .param .u64 out, .param .u32 n)
{
    .shared .align 4 .f32 partial[256];
    .reg .pred %p<4>;
    .reg .f32 %f<4>;
    .reg .b32 %r<10>;
    .reg .b64 %rd<8>;

    ld.param.u64 %rd1, [input];
    ld.param.u64 %rd2, [out];
    ld.param.u32 %r1, [n];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r2, %tid.x;
    mov.u32 %r3, %ctaid.x;
    mov.u32 %r4, %ntid.x;
    mad.lo.s32 %r5, %r3, %r4, %r2;
    mov.f32 %f1, 0f00000000;
    setp.lt.u32 %p1, %r5, %r1;
    mul.wide.u32 %rd3, %r5, 4;
    add.s64 %rd4, %rd1, %rd3;
    @%p1 ld.global.f32 %f1, [%rd4];
    mov.u32 %r6, partial;
    shl.b32 %r7, %r2, 2;
    add.s32 %r8, %r6, %r7;
    st.shared.f32 [%r8], %f1;
    bar.sync 0;
    shr.u32 %r9, %r4, 1;
$L_step:
    setp.lt.u32 %p2, %r2, %r9;
    @!%p2 bra $L_skip;
    shl.b32 %r7, %r9, 2;
    add.s32 %r7, %r8, %r7;
    ld.shared.f32 %f2, [%r7];
    ld.shared.f32 %f3, [%r8];
    add.f32 %f3, %f3, %f2;
    st.shared.f32 [%r8], %f3;
$L_skip:
    bar.sync 0;
    shr.u32 %r9, %r9, 1;
    setp.ne.u32 %p3, %r9, 0;
    @%p3 bra $L_step;
    setp.ne.u32 %p2, %r2, 0;
    @%p2 bra $L_done;
    ld.shared.f32 %f1, [partial];
    mul.wide.u32 %rd5, %r3, 4;
    add.s64 %rd6, %rd2, %rd5;
    st.global.f32 [%rd6], %f1;
$L_done:
    ret;
}
"#
}

#[test]
fn sim_block_tree_reduction_in_shared_memory() {
    let sim = SimDevice::new();
    let n = 1000usize;
    let input: Vec<f32> = (0..n).map(|i| (i % 17) as f32).collect();
    let din = upload(&sim, &bits(&input));
    let blocks = n.div_ceil(256);
    let out = scratch(&sim, blocks);
    let args = [ptr(&din), ptr(&out), KernelArg::U32(n as u32)];
    launch(
        &sim,
        &REDUCE,
        "block_sum",
        LaunchConfig::linear(n, 256),
        &args,
    )
    .unwrap();
    let got = floats(&download(&sim, &out, blocks));
    for (b, got) in got.iter().enumerate() {
        let want: f32 = input.iter().skip(b * 256).take(256).sum();
        assert_eq!(*got, want, "block {b}");
    }
}

// ---------------------------------------------------------------------------------------------
// A 3-d grid of 3-d blocks: every thread writes its ids; all must be there exactly once.

static GRID: PtxModule = PtxModule::new("sim_test_grid", grid_ptx);

fn grid_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry ids(.param .u64 out)
{
    .reg .b32 %r<24>;
    .reg .b64 %rd<4>;

    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    mov.u32 %r1, %tid.x;
    mov.u32 %r2, %tid.y;
    mov.u32 %r3, %tid.z;
    mov.u32 %r4, %ntid.x;
    mov.u32 %r5, %ntid.y;
    mov.u32 %r6, %ntid.z;
    mov.u32 %r7, %ctaid.x;
    mov.u32 %r8, %ctaid.y;
    mov.u32 %r9, %ctaid.z;
    mov.u32 %r10, %nctaid.x;
    mov.u32 %r11, %nctaid.y;
    mad.lo.s32 %r12, %r7, %r4, %r1;
    mad.lo.s32 %r13, %r8, %r5, %r2;
    mad.lo.s32 %r14, %r9, %r6, %r3;
    mul.lo.s32 %r15, %r10, %r4;
    mul.lo.s32 %r16, %r11, %r5;
    mad.lo.s32 %r17, %r14, %r16, %r13;
    mad.lo.s32 %r17, %r17, %r15, %r12;
    mad.lo.s32 %r18, %r9, %r11, %r8;
    mad.lo.s32 %r18, %r18, %r10, %r7;
    mad.lo.s32 %r19, %r3, 10, %r2;
    mad.lo.s32 %r19, %r19, 10, %r1;
    mad.lo.s32 %r19, %r18, 1000, %r19;
    mul.wide.u32 %rd2, %r17, 8;
    add.s64 %rd3, %rd1, %rd2;
    st.global.v2.u32 [%rd3], {%r17, %r19};
    ret;
}
"#
}

#[test]
fn sim_multi_block_multi_dim_grid_runs_every_thread_once() {
    let sim = SimDevice::new();
    let (grid, block) = ((3u32, 2u32, 2u32), (4u32, 3u32, 2u32));
    let total = (grid.0 * grid.1 * grid.2 * block.0 * block.1 * block.2) as usize;
    let out = scratch(&sim, 2 * total);
    let config = LaunchConfig {
        grid,
        block,
        shared_bytes: 0,
    };
    launch(&sim, &GRID, "ids", config, &[ptr(&out)]).unwrap();
    let got = download(&sim, &out, 2 * total);
    let (w, h) = (grid.0 * block.0, grid.1 * block.1);
    for z in 0..grid.2 * block.2 {
        for y in 0..h {
            for x in 0..w {
                let linear = (z * h + y) * w + x;
                let (b, t) = (
                    (x / block.0, y / block.1, z / block.2),
                    (x % block.0, y % block.1, z % block.2),
                );
                let block_id = (b.2 * grid.1 + b.1) * grid.0 + b.0;
                let tag = block_id * 1000 + t.2 * 100 + t.1 * 10 + t.0;
                assert_eq!(
                    got[2 * linear as usize],
                    linear,
                    "thread at ({x}, {y}, {z})"
                );
                assert_eq!(
                    got[2 * linear as usize + 1],
                    tag,
                    "thread at ({x}, {y}, {z})"
                );
            }
        }
    }
}
