//! The transforms, [`LANES`] tiles at a time: `V = B^T d B` of the input patches and
//! `Y = A^T M A` of the products, in place over the 16 planes that hold them, and the lane
//! arithmetic they are written in.

use crate::element::Element;
use crate::ops::elementwise::relu_of;

/// Tiles the transforms handle at once: one 512-bit vector of `f32` per value of a patch.
pub(in crate::ops) const LANES: usize = 16;

/// One value of [`LANES`] neighbouring tiles. The transforms work on these fixed-size arrays
/// so that every add or subtract is one vector instruction (see [`crate::simd::vectorized`]).
pub(in crate::ops) type Lanes<T> = [T; LANES];

/// The [`LANES`] values of `src` from `at`.
#[inline(always)]
pub(in crate::ops) fn load<T: Element>(src: &[T], at: usize) -> Lanes<T> {
    src[at..at + LANES].try_into().expect("LANES values")
}

/// Writes `lanes` into `dst` from `at`.
#[inline(always)]
pub(in crate::ops) fn store<T: Element>(dst: &mut [T], at: usize, lanes: &Lanes<T>) {
    dst[at..at + LANES].copy_from_slice(lanes);
}

/// `a + b` lane by lane.
#[inline(always)]
pub(in crate::ops) fn add<T: Element>(a: Lanes<T>, b: Lanes<T>) -> Lanes<T> {
    let mut sum = a;
    for (s, b) in sum.iter_mut().zip(b) {
        *s = *s + b;
    }
    sum
}

/// `a - b` lane by lane.
#[inline(always)]
pub(in crate::ops) fn sub<T: Element>(a: Lanes<T>, b: Lanes<T>) -> Lanes<T> {
    let mut difference = a;
    for (d, b) in difference.iter_mut().zip(b) {
        *d = *d - b;
    }
    difference
}

/// Column `j` of `rows`: element `j` of each row.
#[inline(always)]
pub(in crate::ops) fn column_of<T: Copy, const R: usize, const N: usize>(
    rows: &[[T; N]; R],
    j: usize,
) -> [T; R] {
    let mut column = [rows[0][j]; R];
    for (c, row) in column.iter_mut().zip(rows) {
        *c = row[j];
    }
    column
}

/// `B^T d` for four values `d` of a patch's row or column: `[d0 - d2, d1 + d2, d2 - d1,
/// d1 - d3]`.
#[inline(always)]
fn row_transform<T: Element>(d: [Lanes<T>; 4]) -> [Lanes<T>; 4] {
    [
        sub(d[0], d[2]),
        add(d[1], d[2]),
        sub(d[2], d[1]),
        sub(d[1], d[3]),
    ]
}

/// `max(a, 0)` lane by lane, as [`crate::Tensor::relu`] (`a` where `a > 0`, else 0).
#[inline(always)]
pub(super) fn relu<T: Element>(a: Lanes<T>) -> Lanes<T> {
    let mut out = a;
    for o in out.iter_mut() {
        *o = relu_of(*o);
    }
    out
}

/// `A^T m` for four values `m` of a row of the products: `[m0 + m1 + m2, m1 - m2 - m3]`.
#[inline(always)]
fn row_products<T: Element>([m0, m1, m2, m3]: [Lanes<T>; 4]) -> [Lanes<T>; 2] {
    [add(add(m0, m1), m2), sub(sub(m1, m2), m3)]
}

/// Values between the starts of two of the 16 planes of `V` or `M` (`rows` of `columns`): one
/// cache line more than the plane, so that the same element of the 16 planes, which the
/// transforms read or write together, falls in 16 different cache sets rather than one.
pub(in crate::ops) fn plane_len(rows: usize, columns: usize) -> usize {
    rows * columns + 64 / size_of::<f32>()
}

/// `V = B^T d B` in place over the first `count` values of each of the 16 planes of `v`
/// (`len` apart), [`LANES`] at a time.
#[inline(always)]
pub(in crate::ops) fn transform_patches<T: Element>(v: &mut [T], len: usize, count: usize) {
    transform_4x4(v, len, count, row_transform);
}

/// `X = R x R^T` in place over the 4x4 values of each tile in the 16 planes of `x` (`len` apart,
/// value `(i, j)` in plane `4 i + j`), over the first `count` values of each, [`LANES`] at a
/// time, for the 4x4 matrix `R` that `row` multiplies a row or column of four by.
#[inline(always)]
fn transform_4x4<T: Element>(
    x: &mut [T],
    len: usize,
    count: usize,
    row: impl Fn([Lanes<T>; 4]) -> [Lanes<T>; 4],
) {
    for p in (0..count).step_by(LANES) {
        // Along each row ...
        let h = [
            row(points_of_row(x, len, p, 0)),
            row(points_of_row(x, len, p, 1)),
            row(points_of_row(x, len, p, 2)),
            row(points_of_row(x, len, p, 3)),
        ];
        // ... then down each column.
        for j in 0..4 {
            let column = row(column_of(&h, j));
            for (i, lanes) in column.iter().enumerate() {
                store(x, (4 * i + j) * len + p, lanes);
            }
        }
    }
}

/// The [`LANES`] values at `p` of the four planes `4 row..4 row + 4` of `planes` (`len`
/// apart): one row of the tiles' 4x4 patches or products.
#[inline(always)]
fn points_of_row<T: Element>(planes: &[T], len: usize, p: usize, row: usize) -> [Lanes<T>; 4] {
    let at = 4 * row * len + p;
    [
        load(planes, at),
        load(planes, at + len),
        load(planes, at + 2 * len),
        load(planes, at + 3 * len),
    ]
}

/// `Y = A^T M A` plus the bias, then ReLU when `relu` holds, in place over the 16 planes of `m`
/// (`len` apart, `out_ch` rows of `columns` each used), [`LANES`] at a time: output `(dy, dx)`
/// of each tile into plane `2 dy + dx`.
#[inline(always)]
pub(super) fn transform_products<T: Element>(
    m: &mut [T],
    len: usize,
    out_ch: usize,
    columns: usize,
    (bias, relu_after): (Option<&[T]>, bool),
) {
    for o in 0..out_ch {
        let b = [bias.map_or(T::zero(), |b| b[o]); LANES];
        for p in (o * columns..(o + 1) * columns).step_by(LANES) {
            // A^T along each row of the 4x4 products ...
            let q = [
                row_products(points_of_row(m, len, p, 0)),
                row_products(points_of_row(m, len, p, 1)),
                row_products(points_of_row(m, len, p, 2)),
                row_products(points_of_row(m, len, p, 3)),
            ];
            // ... then down the columns.
            for dx in 0..2 {
                let [q0, q1, q2, q3] = column_of(&q, dx);
                let mut upper = add(add(add(q0, q1), q2), b);
                let mut lower = add(sub(sub(q1, q2), q3), b);
                if relu_after {
                    (upper, lower) = (relu(upper), relu(lower));
                }
                store(m, dx * len + p, &upper);
                store(m, (2 + dx) * len + p, &lower);
            }
        }
    }
}

/// `A g` for the two values `g` of a row or column of a tile's output gradient, `A` the 4x2
/// transpose of `A^T`: `[g0, g0 + g1, g0 - g1, -g1]`.
#[inline(always)]
fn gradient_row<T: Element>([g0, g1]: [Lanes<T>; 2]) -> [Lanes<T>; 4] {
    [g0, add(g0, g1), sub(g0, g1), sub([T::zero(); LANES], g1)]
}

/// The gradient of `Y = A^T M A` with respect to the products, `A G A^T`, in place over the
/// planes of `g`: the tiles' 2x2 output gradients in its first four planes (value `(i, j)` in
/// plane `2 i + j`), each tile's 4x4 result into all 16 (value `(a, b)` in plane `4 a + b`),
/// over the first `count` values of each, [`LANES`] at a time.
#[inline(always)]
pub(in crate::ops) fn expand_gradients<T: Element>(g: &mut [T], len: usize, count: usize) {
    for p in (0..count).step_by(LANES) {
        // A along each of the two rows ...
        let h = [
            gradient_row([load(g, p), load(g, len + p)]),
            gradient_row([load(g, 2 * len + p), load(g, 3 * len + p)]),
        ];
        // ... then down each of the four columns.
        for b in 0..4 {
            let column = gradient_row(column_of(&h, b));
            for (a, lanes) in column.iter().enumerate() {
                store(g, (4 * a + b) * len + p, lanes);
            }
        }
    }
}

/// `B m` for four values `m` of a row or column of a patch's gradient, `B` the transpose of
/// `B^T`: `[m0, m1 - m2 + m3, m1 + m2 - m0, -m3]`.
#[inline(always)]
fn patch_gradient_row<T: Element>([m0, m1, m2, m3]: [Lanes<T>; 4]) -> [Lanes<T>; 4] {
    [
        m0,
        add(sub(m1, m2), m3),
        sub(add(m1, m2), m0),
        sub([T::zero(); LANES], m3),
    ]
}

/// The gradient of `V = B^T d B` with respect to the patch, `B M B^T`, in place over the 16
/// planes of `m` (`len` apart, value `(a, b)` of each tile's patch in plane `4 a + b`), over
/// the first `count` values of each, [`LANES`] at a time.
#[inline(always)]
pub(in crate::ops) fn transform_patch_gradients<T: Element>(m: &mut [T], len: usize, count: usize) {
    transform_4x4(m, len, count, patch_gradient_row);
}
