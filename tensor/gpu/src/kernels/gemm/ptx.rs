//! The SGEMM module's PTX text: for each tile size and transpose variant one kernel that
//! double-buffers the operands' slices through shared memory and multiplies them out of
//! registers (see the family's documentation).

use super::loader::{Layout, Loader};
use super::tile::{BK, LARGE, SMALL, Tile, emit};
use crate::module::{PTX_HEADER, PtxModule};
use std::fmt::Write;

/// The module: `sgemm_{128,64}_{nn,nt,tn,tt}` (tile size, then whether `A` and `B` are stored
/// transposed).
pub static MODULE: PtxModule = PtxModule::new("gemm", ptx);

/// The multiply of one shared slice: for each of its 8 `k`, vector loads of the thread's `A` and
/// `B` values and `micro x micro` FMAs into the accumulators.
fn multiply_slice(tile: Tile, out: &mut String) {
    let m = tile.micro;
    let groups = m / 4;
    emit(out, "    // multiply the slice in the read buffer");
    for k in 0..BK {
        for (name, base) in [('a', "%ra"), ('b', "%rb")] {
            for g in 0..groups {
                let offset = (k * tile.ld() + g * tile.group_stride()) * 4;
                let r = |j: u32| format!("%{name}{}", k * m + 4 * g + j);
                emit(
                    out,
                    format!(
                        "    ld.shared.v4.f32 {{{}, {}, {}, {}}}, [{base}+{offset}];",
                        r(0),
                        r(1),
                        r(2),
                        r(3)
                    ),
                );
            }
        }
        for i in 0..m {
            for j in 0..m {
                let acc = format!("%c{}", i * m + j);
                emit(
                    out,
                    format!(
                        "    fma.rn.f32 {acc}, %a{}, %b{}, {acc};",
                        k * m + i,
                        k * m + j
                    ),
                );
            }
        }
    }
}

/// Stores the accumulators: row `i` of the micro-tile is tile row `(i / 4) * gs + 4 ty + i % 4`,
/// column `j` likewise with `tx`; each store checked against `M` and `N`, bias added per row.
fn epilogue(tile: Tile, out: &mut String) {
    let m = tile.micro;
    let gs = tile.group_stride();
    emit(
        out,
        "    // ---- write the micro-tile of C (plus the bias of its row) ----",
    );
    emit(out, "    mul.wide.u32 %q0, %z, %stridec;");
    emit(out, "    shl.b64 %q0, %q0, 2;");
    emit(out, "    add.u64 %cbase, %basec, %q0;");
    emit(out, "    shl.b32 %t0, %tx, 2;");
    emit(out, "    add.u32 %ccol, %col0, %t0;");
    for j in 0..m {
        emit(
            out,
            format!("    add.u32 %t0, %ccol, {};", (j / 4) * gs + j % 4),
        );
        emit(out, format!("    setp.lt.u32 %cok{j}, %t0, %n;"));
    }
    emit(out, "    shl.b32 %t0, %ty, 2;");
    emit(out, "    add.u32 %crow, %row0, %t0;");
    for i in 0..m {
        emit(out, format!("    // row {i} of the micro-tile"));
        emit(
            out,
            format!("    add.u32 %t0, %crow, {};", (i / 4) * gs + i % 4),
        );
        emit(out, "    setp.lt.u32 %prow, %t0, %m;");
        emit(out, "    mov.f32 %bv, 0f00000000;");
        emit(out, "    and.pred %pl, %prow, %hasbias;");
        emit(out, "    mul.wide.u32 %q0, %t0, 4;");
        emit(out, "    add.u64 %q0, %basebias, %q0;");
        emit(out, "    @%pl ld.global.nc.f32 %bv, [%q0];");
        emit(out, "    mul.wide.u32 %q0, %t0, %ldc;");
        emit(out, "    cvt.u64.u32 %q1, %ccol;");
        emit(out, "    add.u64 %q0, %q0, %q1;");
        emit(out, "    shl.b64 %q0, %q0, 2;");
        emit(out, "    add.u64 %q0, %cbase, %q0;");
        for j in 0..m {
            let offset = ((j / 4) * gs + j % 4) * 4;
            emit(out, format!("    add.f32 %v, %c{}, %bv;", i * m + j));
            emit(out, format!("    and.pred %pl, %prow, %cok{j};"));
            emit(out, format!("    @%pl st.global.f32 [%q0+{offset}], %v;"));
        }
    }
}

/// One kernel: tile configuration and operand layouts fixed, everything else a parameter.
fn kernel(tile: Tile, transpose_a: bool, transpose_b: bool) -> String {
    let m = tile.micro;
    let mut out = String::new();
    let a = Loader {
        name: 'a',
        layout: if transpose_a {
            Layout::AlongTile
        } else {
            Layout::AlongK
        },
        first: "row0",
        extent: "m",
        smem_offset: 0,
    };
    let b = Loader {
        name: 'b',
        layout: if transpose_b {
            Layout::AlongK
        } else {
            Layout::AlongTile
        },
        first: "col0",
        extent: "n",
        smem_offset: tile.slice_bytes(),
    };
    let name = tile.kernel(transpose_a, transpose_b);
    let _ = writeln!(
        out,
        "// C[z] = sum over s < sum of op(A[z*sum+s]) op(B[z*sum+s]) (+ bias per row), {s}x{s} tile per block.
.visible .entry {name}(
    .param .u64 p_a, .param .u64 p_b, .param .u64 p_c, .param .u64 p_bias,
    .param .u32 p_m, .param .u32 p_n, .param .u32 p_k,
    .param .u32 p_lda, .param .u32 p_ldb, .param .u32 p_ldc,
    .param .u32 p_stridea, .param .u32 p_strideb, .param .u32 p_stridec,
    .param .u32 p_sum, .param .u32 p_count)
{{
    .reg .pred %pl, %pk, %prow, %more, %hasbias, %aok<4>, %bok<4>, %cok<{m}>;
    .reg .b32 %thr, %tx, %ty, %row0, %col0, %z, %bi, %s, %ns, %kt, %t0, %t1, %crow, %ccol;
    .reg .b32 %m, %n, %k, %lda, %ldb, %ldc, %stridea, %strideb, %stridec, %sum, %count;
    .reg .b32 %akk, %akb, %arow, %acol, %bkk, %bkb, %brow, %bcol;
    .reg .b64 %basea, %baseb, %basec, %basebias, %cbase, %q<3>;
    .reg .b64 %aoff, %astep, %aadv, %aptr, %boff, %bstep, %badv, %bptr;
    // 32-bit shared addresses: reads and writes of A and B, and the distance between buffers.
    .reg .b32 %sbase, %ra, %rb, %wa, %wb, %flip;
    .reg .f32 %c<{acc}>, %a<{frag}>, %b<{frag}>, %ag<4>, %bg<4>, %bv, %v;
    // Two buffers, each an A slice [8][{ld}] then a B slice [8][{ld}].
    .shared .align 16 .b8 smem[{smem}];",
        s = tile.size,
        acc = m * m,
        frag = m * BK,
        ld = tile.ld(),
        smem = 4 * tile.slice_bytes(),
    );
    emit(&mut out, "    // ---- parameters and block position ----");
    for p in ["a", "b", "c", "bias"] {
        emit(&mut out, format!("    ld.param.u64 %base{p}, [p_{p}];"));
        emit(
            &mut out,
            format!("    cvta.to.global.u64 %base{p}, %base{p};"),
        );
    }
    for p in [
        "m", "n", "k", "lda", "ldb", "ldc", "stridea", "strideb", "stridec", "sum", "count",
    ] {
        emit(&mut out, format!("    ld.param.u32 %{p}, [p_{p}];"));
    }
    emit(&mut out, "    ld.param.u64 %q0, [p_bias];");
    emit(&mut out, "    setp.ne.u64 %hasbias, %q0, 0;");
    emit(&mut out, "    mov.u32 %thr, %tid.x;");
    emit(
        &mut out,
        format!("    and.b32 %tx, %thr, {};", tile.side() - 1),
    );
    emit(
        &mut out,
        format!("    shr.u32 %ty, %thr, {};", tile.side().trailing_zeros()),
    );
    emit(&mut out, "    mov.u32 %t0, %ctaid.y;");
    emit(
        &mut out,
        format!("    mul.lo.u32 %row0, %t0, {};", tile.size),
    );
    emit(&mut out, "    mov.u32 %t0, %ctaid.x;");
    emit(
        &mut out,
        format!("    mul.lo.u32 %col0, %t0, {};", tile.size),
    );
    emit(&mut out, "    mov.u32 %z, %ctaid.z;");
    emit(&mut out, "    mov.u32 %sbase, smem;");
    a.setup(tile, &mut out);
    b.setup(tile, &mut out);
    emit(
        &mut out,
        "    // ---- shared buffers: where this thread reads A and B (buffer 0) ----",
    );
    emit(&mut out, "    shl.b32 %t0, %ty, 4;");
    emit(&mut out, "    add.u32 %ra, %sbase, %t0;");
    emit(&mut out, "    shl.b32 %t0, %tx, 4;");
    emit(&mut out, "    add.u32 %rb, %sbase, %t0;");
    emit(
        &mut out,
        format!("    add.u32 %rb, %rb, {};", tile.slice_bytes()),
    );
    emit(
        &mut out,
        format!("    mov.u32 %flip, {};", 2 * tile.slice_bytes()),
    );
    emit(&mut out, "    // ---- accumulators ----");
    for i in 0..m * m {
        emit(&mut out, format!("    mov.f32 %c{i}, 0f00000000;"));
    }
    emit(
        &mut out,
        "    // ---- this output's batch entries: z * sum .. min(count, (z + 1) * sum) ----",
    );
    emit(&mut out, "    mul.lo.u32 %bi, %z, %sum;");
    emit(&mut out, "    sub.u32 %ns, %count, %bi;");
    emit(&mut out, "    min.u32 %ns, %ns, %sum;");
    emit(&mut out, "    mov.u32 %s, 0;");
    emit(&mut out, "BATCH:");
    a.batch_pointer(&mut out);
    b.batch_pointer(&mut out);
    emit(
        &mut out,
        "    // first slice: load, store, wait, swap buffers",
    );
    emit(&mut out, "    mov.u32 %kt, 0;");
    a.load(tile, &mut out);
    b.load(tile, &mut out);
    a.store(tile, &mut out);
    b.store(tile, &mut out);
    emit(&mut out, "    bar.sync 0;");
    swap_buffers(&mut out);
    emit(&mut out, "SLICE:");
    emit(
        &mut out,
        "    // loads of the next slice go out before the multiply of this one",
    );
    emit(&mut out, format!("    add.u32 %kt, %kt, {BK};"));
    a.load(tile, &mut out);
    b.load(tile, &mut out);
    multiply_slice(tile, &mut out);
    emit(
        &mut out,
        "    // the next slice into the other buffer (zeros after the last)",
    );
    a.store(tile, &mut out);
    b.store(tile, &mut out);
    emit(&mut out, "    bar.sync 0;");
    swap_buffers(&mut out);
    emit(&mut out, "    setp.lt.u32 %more, %kt, %k;");
    emit(&mut out, "    @%more bra SLICE;");
    emit(&mut out, "    add.u32 %bi, %bi, 1;");
    emit(&mut out, "    add.u32 %s, %s, 1;");
    emit(&mut out, "    setp.lt.u32 %more, %s, %ns;");
    emit(&mut out, "    @%more bra BATCH;");
    epilogue(tile, &mut out);
    emit(&mut out, "    ret;");
    emit(&mut out, "}");
    out
}

/// Exchanges the read and write buffers: reads move by `%flip` (plus or minus one buffer),
/// writes the other way, and `%flip` changes sign.
fn swap_buffers(out: &mut String) {
    emit(out, "    add.u32 %ra, %ra, %flip;");
    emit(out, "    add.u32 %rb, %rb, %flip;");
    emit(out, "    sub.u32 %wa, %wa, %flip;");
    emit(out, "    sub.u32 %wb, %wb, %flip;");
    emit(out, "    neg.s32 %flip, %flip;");
}

/// The module's text: both tile sizes, all four transpose variants.
fn ptx() -> String {
    let mut out = PTX_HEADER.to_string();
    for tile in [LARGE, SMALL] {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            out.push_str(&kernel(tile, ta, tb));
            out.push('\n');
        }
    }
    out
}
