//! The convolution module's PTX text: `im2col` unfolds images into column matrices, `col2im`
//! gathers a column matrix's gradient back into image pixels, `sum_partials` adds the weight
//! gradient's per-group partial results in order.

use crate::kernels::pool::covering_outputs;
use crate::module::{PTX_HEADER, PtxModule};

/// The module: `im2col`, `col2im`, `sum_partials`.
pub static MODULE: PtxModule = PtxModule::new("conv", ptx);

/// Parameters shared by `im2col` and `col2im`: the image, kernel and output sizes.
const GEOMETRY_PARAMS: &str = ".param .u32 p_c, .param .u32 p_h, .param .u32 p_w,
    .param .u32 p_kh, .param .u32 p_kw, .param .u32 p_oh, .param .u32 p_ow,
    .param .u32 p_s, .param .u32 p_pad";

/// Loads the geometry parameters into registers of the same names.
const LOAD_GEOMETRY: &str = "    .reg .b32 %c, %h, %w, %kh, %kw, %oh, %ow, %s, %pad;
    ld.param.u32 %c, [p_c];
    ld.param.u32 %h, [p_h];
    ld.param.u32 %w, [p_w];
    ld.param.u32 %kh, [p_kh];
    ld.param.u32 %kw, [p_kw];
    ld.param.u32 %oh, [p_oh];
    ld.param.u32 %ow, [p_ow];
    ld.param.u32 %s, [p_s];
    ld.param.u32 %pad, [p_pad];";

/// Unfolds images into column matrices: `col[n][r][p]` with `r = (c KH + ki) KW + kj` and
/// `p = oy OW + ox` is input pixel `(c, oy s + ki - pad, ox s + kj - pad)` of image `n`, or 0 in
/// the padding. Grid: x over positions `p`, y over channels `c`, z over images; each thread
/// writes the `KH * KW` rows of its channel at its position (consecutive threads, consecutive
/// addresses), with no division inside the loop.
fn im2col() -> String {
    format!(
        "// col[n][(c*kh + ki)*kw + kj][p] = x[n][c][oy*s + ki - pad][ox*s + kj - pad], or 0 outside the image.
.visible .entry im2col(.param .u64 p_x, .param .u64 p_col, {GEOMETRY_PARAMS})
{{
    .reg .pred %p, %q;
    .reg .b32 %pos, %cc, %n, %positions, %iy0, %ix0, %ki, %kj, %iy, %ix, %t<3>;
    .reg .b64 %rd0, %plane, %colp, %rowstep;
    .reg .f32 %v;
{LOAD_GEOMETRY}
    // position p, channel c, image n of this thread
    mov.u32 %t0, %ctaid.x;
    mov.u32 %t1, %ntid.x;
    mov.u32 %t2, %tid.x;
    mad.lo.u32 %pos, %t0, %t1, %t2;
    mov.u32 %cc, %ctaid.y;
    mov.u32 %n, %ctaid.z;
    mul.lo.u32 %positions, %oh, %ow;
    setp.ge.u32 %p, %pos, %positions;
    @%p bra DONE;
    // top-left input pixel of the window at p = (oy, ox), signed: iy0 = oy*s - pad, ix0 = ox*s - pad
    div.u32 %t0, %pos, %ow;
    rem.u32 %t1, %pos, %ow;
    mul.lo.u32 %iy0, %t0, %s;
    sub.s32 %iy0, %iy0, %pad;
    mul.lo.u32 %ix0, %t1, %s;
    sub.s32 %ix0, %ix0, %pad;
    // the input plane x[n][c]
    mad.lo.u32 %t0, %n, %c, %cc;
    mul.lo.u32 %t1, %h, %w;
    mul.wide.u32 %plane, %t0, %t1;
    shl.b64 %plane, %plane, 2;
    ld.param.u64 %rd0, [p_x];
    cvta.to.global.u64 %rd0, %rd0;
    add.u64 %plane, %plane, %rd0;
    // col[n][(n*c + cc)*kh*kw rows in][p], then one row (positions floats) per kernel cell
    mul.lo.u32 %t0, %t0, %kh;
    mul.lo.u32 %t0, %t0, %kw;
    mul.wide.u32 %colp, %t0, %positions;
    cvt.u64.u32 %rd0, %pos;
    add.u64 %colp, %colp, %rd0;
    shl.b64 %colp, %colp, 2;
    ld.param.u64 %rd0, [p_col];
    cvta.to.global.u64 %rd0, %rd0;
    add.u64 %colp, %colp, %rd0;
    mul.wide.u32 %rowstep, %positions, 4;
    mov.u32 %ki, 0;
ROW:
    add.u32 %iy, %iy0, %ki;
    // inside the image? (as unsigned, a negative coordinate is huge)
    setp.lt.u32 %q, %iy, %h;
    mov.u32 %kj, 0;
COL:
    add.u32 %ix, %ix0, %kj;
    setp.lt.u32 %p, %ix, %w;
    and.pred %p, %p, %q;
    // v = x[n][c][iy][ix], read only inside the image
    mov.f32 %v, 0f00000000;
    mad.lo.u32 %t0, %iy, %w, %ix;
    mul.wide.u32 %rd0, %t0, 4;
    add.u64 %rd0, %plane, %rd0;
    @%p ld.global.nc.f32 %v, [%rd0];
    st.global.f32 [%colp], %v;
    add.u64 %colp, %colp, %rowstep;
    add.u32 %kj, %kj, 1;
    setp.lt.u32 %p, %kj, %kw;
    @%p bra COL;
    add.u32 %ki, %ki, 1;
    setp.lt.u32 %p, %ki, %kh;
    @%p bra ROW;
DONE:
    ret;
}}
"
    )
}

/// Folds column matrices back into image gradients, the adjoint of [`im2col`]: input pixel
/// `(c, iy, ix)` of image `n` sums `col[n][(c KH + ki) KW + kj][oy OW + ox]` over the outputs
/// `(oy, ox)` whose window covers it, `ki = iy + pad - oy s`, `kj = ix + pad - ox s`. Output row
/// `oy` covers `iy` when `(iy + pad + 1 - KH) / s <= oy <= (iy + pad) / s` (the first rounded up,
/// at least 0), so the loops visit only those. Grid: x over pixels, y over channels, z over images.
fn col2im() -> String {
    format!(
        "// dx[n][c][iy][ix] = sum over the outputs (oy, ox) covering it of col[n][(c*kh + ki)*kw + kj][oy*ow + ox].
.visible .entry col2im(.param .u64 p_col, .param .u64 p_dx, {GEOMETRY_PARAMS})
{{
    .reg .pred %p;
    .reg .b32 %pix, %cc, %n, %iy, %ix, %ki, %oy, %ox, %oy1, %ox0, %ox1, %positions, %t<3>;
    .reg .b64 %rd<2>, %plane;
    .reg .f32 %v, %acc;
{LOAD_GEOMETRY}
    // pixel, channel, image of this thread
    mov.u32 %t0, %ctaid.x;
    mov.u32 %t1, %ntid.x;
    mov.u32 %t2, %tid.x;
    mad.lo.u32 %pix, %t0, %t1, %t2;
    mov.u32 %cc, %ctaid.y;
    mov.u32 %n, %ctaid.z;
    mul.lo.u32 %t0, %h, %w;
    setp.ge.u32 %p, %pix, %t0;
    @%p bra DONE;
    div.u32 %iy, %pix, %w;
    rem.u32 %ix, %pix, %w;
    // output rows covering iy: oy = ceil(max(iy + pad + 1 - kh, 0) / s) .. oy1 = min((iy + pad) / s + 1, oh)
{rows}    // output columns covering ix, likewise
{columns}    // the first column-matrix row of this channel of this image: (n*c + cc) * kh * kw
    mul.lo.u32 %positions, %oh, %ow;
    mad.lo.u32 %t0, %n, %c, %cc;
    mul.lo.u32 %t0, %t0, %kh;
    mul.lo.u32 %t0, %t0, %kw;
    mul.wide.u32 %plane, %t0, %positions;
    shl.b64 %plane, %plane, 2;
    ld.param.u64 %rd0, [p_col];
    cvta.to.global.u64 %rd0, %rd0;
    add.u64 %plane, %plane, %rd0;
    mov.f32 %acc, 0f00000000;
ROW:
    setp.ge.u32 %p, %oy, %oy1;
    @%p bra END;
    // kernel row ki = iy + pad - oy*s
    mul.lo.u32 %t0, %oy, %s;
    sub.u32 %ki, %iy, %t0;
    mov.u32 %ox, %ox0;
COL:
    setp.ge.u32 %p, %ox, %ox1;
    @%p bra NEXT_ROW;
    // acc += col[row ki*kw + kj of this channel][oy*ow + ox], kj = ix + pad - ox*s
    mul.lo.u32 %t0, %ox, %s;
    sub.u32 %t0, %ix, %t0;
    mad.lo.u32 %t0, %ki, %kw, %t0;
    mul.wide.u32 %rd0, %t0, %positions;
    mad.lo.u32 %t1, %oy, %ow, %ox;
    cvt.u64.u32 %rd1, %t1;
    add.u64 %rd0, %rd0, %rd1;
    shl.b64 %rd0, %rd0, 2;
    add.u64 %rd0, %plane, %rd0;
    ld.global.nc.f32 %v, [%rd0];
    add.f32 %acc, %acc, %v;
    add.u32 %ox, %ox, 1;
    bra COL;
NEXT_ROW:
    add.u32 %oy, %oy, 1;
    bra ROW;
END:
    // dx[n][cc][pix]
    mad.lo.u32 %t0, %n, %c, %cc;
    mul.lo.u32 %t1, %h, %w;
    mul.wide.u32 %rd0, %t0, %t1;
    cvt.u64.u32 %rd1, %pix;
    add.u64 %rd0, %rd0, %rd1;
    shl.b64 %rd0, %rd0, 2;
    ld.param.u64 %rd1, [p_dx];
    cvta.to.global.u64 %rd1, %rd1;
    add.u64 %rd1, %rd1, %rd0;
    st.global.f32 [%rd1], %acc;
DONE:
    ret;
}}
",
        rows = covering_outputs(["%iy", "%iy", "%t0"], "%kh", "%oh", ["%oy", "%oy1"]),
        columns = covering_outputs(["%ix", "%ix", "%t0"], "%kw", "%ow", ["%ox0", "%ox1"]),
    )
}

/// `out[i] = sum over g < groups of partials[g][i]`, in order of `g`.
fn sum_partials() -> String {
    "// out[i] = partials[0][i] + partials[1][i] + ... (groups of size elements each, in order).
.visible .entry sum_partials(.param .u64 p_partials, .param .u64 p_out, .param .u32 p_groups,
    .param .u32 p_size)
{
    .reg .pred %p;
    .reg .b32 %i, %g, %groups, %size, %t<3>;
    .reg .b64 %rd<3>, %step;
    .reg .f32 %v, %acc;
    ld.param.u32 %groups, [p_groups];
    ld.param.u32 %size, [p_size];
    mov.u32 %t0, %ctaid.x;
    mov.u32 %t1, %ntid.x;
    mov.u32 %t2, %tid.x;
    mad.lo.u32 %i, %t0, %t1, %t2;
    setp.ge.u32 %p, %i, %size;
    @%p bra DONE;
    // walk partials[g][i] for g = 0.., size * 4 bytes apart
    ld.param.u64 %rd0, [p_partials];
    cvta.to.global.u64 %rd0, %rd0;
    mul.wide.u32 %rd1, %i, 4;
    add.u64 %rd0, %rd0, %rd1;
    mul.wide.u32 %step, %size, 4;
    mov.f32 %acc, 0f00000000;
    mov.u32 %g, 0;
GROUP:
    ld.global.nc.f32 %v, [%rd0];
    add.f32 %acc, %acc, %v;
    add.u64 %rd0, %rd0, %step;
    add.u32 %g, %g, 1;
    setp.lt.u32 %p, %g, %groups;
    @%p bra GROUP;
    ld.param.u64 %rd2, [p_out];
    cvta.to.global.u64 %rd2, %rd2;
    add.u64 %rd2, %rd2, %rd1;
    st.global.f32 [%rd2], %acc;
DONE:
    ret;
}
"
    .to_string()
}

/// The module's text.
fn ptx() -> String {
    [im2col(), col2im(), sum_partials()]
        .iter()
        .fold(PTX_HEADER.to_string(), |text, kernel| text + kernel + "\n")
}
