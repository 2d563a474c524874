//! The simulator's speed in instructions per second: not a pass/fail test (the machine may be
//! shared); run with `cargo test --release -p ptx-sim --test speed -- --ignored --nocapture`.

mod common;

use common::*;
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Two loops of known length, timed.

static SPIN: PtxModule = PtxModule::new("sim_test_spin", spin_ptx);

/// Two loops of known length per thread: `arith` runs 4 register-only instructions per
/// iteration, `memory` 8 of which 3 touch shared or global memory; each has 13 or 14
/// instructions outside its loop.
fn spin_ptx() -> String {
    PTX_HEADER.to_string()
        + r#"
.visible .entry arith(.param .u64 out, .param .u32 iters)
{
    .reg .pred %p<2>;
    .reg .f32 %f<2>;
    .reg .b32 %r<6>;
    .reg .b64 %rd<4>;

    ld.param.u32 %r1, [iters];
    mov.u32 %r2, 0;
    mov.f32 %f1, 0f00000000;
$L_loop:
    fma.rn.f32 %f1, %f1, 0f3F7FF000, 0f3F800000;
    add.u32 %r2, %r2, 1;
    setp.lt.u32 %p1, %r2, %r1;
    @%p1 bra $L_loop;
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    mov.u32 %r3, %tid.x;
    mov.u32 %r4, %ctaid.x;
    mov.u32 %r5, %ntid.x;
    mad.lo.s32 %r3, %r4, %r5, %r3;
    mul.wide.u32 %rd2, %r3, 4;
    add.s64 %rd3, %rd1, %rd2;
    st.global.f32 [%rd3], %f1;
    ret;
}

.visible .entry memory(.param .u64 out, .param .u32 iters)
{
    .shared .align 4 .f32 cell[1024];
    .reg .pred %p<2>;
    .reg .f32 %f<4>;
    .reg .b32 %r<7>;
    .reg .b64 %rd<4>;

    ld.param.u32 %r1, [iters];
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    mov.u32 %r3, %tid.x;
    mov.u32 %r5, %ctaid.x;
    mov.u32 %r6, %ntid.x;
    mad.lo.s32 %r5, %r5, %r6, %r3;
    mul.wide.u32 %rd2, %r5, 4;
    add.s64 %rd3, %rd1, %rd2;
    mov.u32 %r4, cell;
    mad.lo.s32 %r4, %r3, 4, %r4;
    mov.u32 %r2, 0;
    mov.f32 %f1, 0f00000000;
$L_loop:
    ld.shared.f32 %f2, [%r4];
    fma.rn.f32 %f1, %f1, %f2, 0f3F800000;
    st.shared.f32 [%r4], %f1;
    ld.global.f32 %f3, [%rd3];
    add.f32 %f1, %f1, %f3;
    add.u32 %r2, %r2, 1;
    setp.lt.u32 %p1, %r2, %r1;
    @%p1 bra $L_loop;
    ret;
}
"#
}

#[test]
#[ignore = "a measurement, not a check: cargo test --release -p ptx-sim --test speed -- --ignored --nocapture"]
fn sim_speed_instructions_per_second() {
    let sim = SimDevice::new();
    let (blocks, threads, iters) = (64u32, 256u32, 1000u32);
    let out = upload(&sim, &vec![0; (blocks * threads) as usize]);
    let config = LaunchConfig {
        grid: (blocks, 1, 1),
        block: (threads, 1, 1),
        shared_bytes: 0,
    };
    let args = [ptr(&out), KernelArg::U32(iters)];
    for (kernel, per_iter, outside) in [("arith", 4.0, 13.0), ("memory", 8.0, 14.0)] {
        launch(&sim, &SPIN, kernel, config, &args).unwrap();
        let start = Instant::now();
        launch(&sim, &SPIN, kernel, config, &args).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let instructions = (blocks * threads) as f64 * (per_iter * iters as f64 + outside);
        println!(
            "sim {kernel}: {instructions:.3e} instructions in {seconds:.3} s = {:.1} million/s",
            instructions / seconds / 1e6
        );
    }
}
