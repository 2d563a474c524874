//! The transforms of F(4x4, 3x3), [`LANES`] tiles at a time: `V = B^T d B` of the 6x6 input
//! patches and `Y = A^T M A` of the 6x6 products, in place over the 36 planes that hold them
//! (plane `6 a + j` holds value `(a, j)`), with
//!
//! ```text
//! B^T = [[4,  0, -5,  0, 1, 0],      A^T = [[1, 1,  1, 1,  1, 0],
//!        [0, -4, -4,  1, 1, 0],             [0, 1, -1, 2, -2, 0],
//!        [0,  4, -4, -1, 1, 0],             [0, 1,  1, 4,  4, 0],
//!        [0, -2, -1,  2, 1, 0],             [0, 1, -1, 8, -8, 1]]
//!        [0,  2, -1, -2, 1, 0],
//!        [0,  4,  0, -5, 0, 1]]
//! ```
//!
//! (Lavin and Gray's interpolation points 0, ±1, ±2 and infinity; the kernels' `G` is in
//! [`super::weights`].)

use super::transforms::{LANES, Lanes, add, column_of, load, relu, store, sub};
use crate::element::Element;

/// Values along each side of a patch.
const PATCH: usize = 6;

/// `k a` lane by lane.
#[inline(always)]
fn times<T: Element>(k: T, a: Lanes<T>) -> Lanes<T> {
    let mut product = a;
    for p in product.iter_mut() {
        *p = k * *p;
    }
    product
}

/// `B^T d` for the six values `d` of a patch's row or column.
#[inline(always)]
fn row_transform<T: Element>([d0, d1, d2, d3, d4, d5]: [Lanes<T>; PATCH]) -> [Lanes<T>; PATCH] {
    let (two, four, five) = (
        T::from_f64_lossy(2.0),
        T::from_f64_lossy(4.0),
        T::from_f64_lossy(5.0),
    );
    let (d4_minus_d2, d3_minus_d1) = (sub(d4, d2), sub(d3, d1));
    [
        add(sub(times(four, d0), times(five, d2)), d4),
        sub(add(d3, d4), times(four, add(d1, d2))),
        add(sub(d4, d3), times(four, sub(d1, d2))),
        add(d4_minus_d2, times(two, d3_minus_d1)),
        sub(d4_minus_d2, times(two, d3_minus_d1)),
        add(sub(times(four, d1), times(five, d3)), d5),
    ]
}

/// `A^T m` for the six values `m` of a row or column of the products.
#[inline(always)]
fn row_products<T: Element>([m0, m1, m2, m3, m4, m5]: [Lanes<T>; PATCH]) -> [Lanes<T>; 4] {
    let (two, four, eight) = (
        T::from_f64_lossy(2.0),
        T::from_f64_lossy(4.0),
        T::from_f64_lossy(8.0),
    );
    let (sum12, difference12) = (add(m1, m2), sub(m1, m2));
    let (sum34, difference34) = (add(m3, m4), sub(m3, m4));
    [
        add(add(m0, sum12), sum34),
        add(difference12, times(two, difference34)),
        add(sum12, times(four, sum34)),
        add(add(difference12, times(eight, difference34)), m5),
    ]
}

/// The [`LANES`] values at `p` of the six planes `6 row..6 row + 6` of `planes` (`len`
/// apart): one row of the tiles' patches or products.
#[inline(always)]
fn points_of_row<T: Element>(planes: &[T], len: usize, p: usize, row: usize) -> [Lanes<T>; 6] {
    let at = PATCH * row * len + p;
    [
        load(planes, at),
        load(planes, at + len),
        load(planes, at + 2 * len),
        load(planes, at + 3 * len),
        load(planes, at + 4 * len),
        load(planes, at + 5 * len),
    ]
}

/// `V = B^T d B` in place over the first `count` values of each of the 36 planes of `v` (`len`
/// apart), [`LANES`] at a time.
#[inline(always)]
pub(super) fn transform_patches<T: Element>(v: &mut [T], len: usize, count: usize) {
    for p in (0..count).step_by(LANES) {
        // B^T along each row of the patches ...
        let h = [
            row_transform(points_of_row(v, len, p, 0)),
            row_transform(points_of_row(v, len, p, 1)),
            row_transform(points_of_row(v, len, p, 2)),
            row_transform(points_of_row(v, len, p, 3)),
            row_transform(points_of_row(v, len, p, 4)),
            row_transform(points_of_row(v, len, p, 5)),
        ];
        // ... then down each column.
        for j in 0..PATCH {
            let column = row_transform(column_of(&h, j));
            for (i, lanes) in column.iter().enumerate() {
                store(v, (PATCH * i + j) * len + p, lanes);
            }
        }
    }
}

/// `Y = A^T M A` plus the bias, then ReLU when `relu_after` holds, in place over the 36 planes
/// of `m` (`len` apart, `out_ch` rows of `columns` each used), [`LANES`] at a time: output
/// `(dy, dx)` of each tile into plane `4 dy + dx`.
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
            // A^T along each row of the 6x6 products ...
            let q = [
                row_products(points_of_row(m, len, p, 0)),
                row_products(points_of_row(m, len, p, 1)),
                row_products(points_of_row(m, len, p, 2)),
                row_products(points_of_row(m, len, p, 3)),
                row_products(points_of_row(m, len, p, 4)),
                row_products(points_of_row(m, len, p, 5)),
            ];
            // ... then down the columns.
            for dx in 0..4 {
                let column = row_products(column_of(&q, dx));
                for (dy, lanes) in column.into_iter().enumerate() {
                    let mut out = add(lanes, b);
                    if relu_after {
                        out = relu(out);
                    }
                    store(m, (4 * dy + dx) * len + p, &out);
                }
            }
        }
    }
}
