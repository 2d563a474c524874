//! `max_pool2d(relu(conv3x3(x) + bias))` with 2x2 windows, stride 2, by F(2x2, 3x3): each tile
//! is one pooling window, so its four outputs are pooled as the products are transformed back
//! and the convolution's output is never written (SmallCNN's conv2 and conv4: 9.4 and 1 MB a
//! pass at batch 128, written and read again by the pooling).

use super::shape::{Tile, WinogradShape};
use super::step::{Plan, TileRow, run_task};
use super::weights::WinogradWeights;
use crate::element::Element;
use crate::ops::pool::window_max;
use crate::simd;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `max_pool2d(relu(conv3x3(x) + bias))`, windows 2x2 with stride 2, for every image of `x`
/// (`[N, C, H, W]`), its output `[N, O, OH / 2, OW / 2]` written to `values` and the flat
/// index in its output plane of each window's chosen output to `indices` (every element
/// once): the values and indices of [`crate::Tensor::max_pool2d`] on
/// [`crate::Tensor::conv2d_relu`]'s output (the first maximum in scan order, a NaN over any
/// number). Tiles of 2 of a convolution whose output sides are even.
pub fn winograd_conv_relu_max_pool<T: Element>(
    shape: &WinogradShape,
    weights: &WinogradWeights<T>,
    bias: Option<&[T]>,
    x: &[T],
    (values, indices): (&mut [MaybeUninit<T>], &mut [MaybeUninit<u32>]),
) {
    let (oh, ow) = shape.output();
    assert!(
        shape.tile == Tile::Two
            && weights.tile == Tile::Two
            && oh.is_multiple_of(2)
            && ow.is_multiple_of(2),
        "winograd_conv_relu_max_pool: tiles of 2 of an output with even sides only"
    );
    let (in_size, pooled_size) = (
        shape.channels * shape.h * shape.w,
        shape.out_ch * oh * ow / 4,
    );
    if in_size == 0 || pooled_size == 0 {
        return;
    }
    let plan = Plan::new::<T>(shape, values.len() / pooled_size);
    values
        .par_chunks_mut(plan.group * pooled_size)
        .zip(indices.par_chunks_mut(plan.group * pooled_size))
        .enumerate()
        .for_each(|(task, (values, indices))| {
            let images = values.len() / pooled_size;
            let at = (&plan, task, images);
            run_task(shape, weights, (x, None), at, |buffers, step, columns| {
                let len = buffers.transform_products(shape, (bias, true), columns);
                let m = (&buffers.m[..], len, columns);
                simd::vectorized(
                    #[inline(always)]
                    || pool_tiles(shape, m, step, (values, indices)),
                );
            });
        });
}

/// The tiles of `step` pooled: output `(dy, dx)` of each tile in plane `2 dy + dx` of `m`
/// (`len` apart), the tile row's tiles from its column; the largest of each tile's four into
/// the task's `values` (`[images, O, OH / 2, OW / 2]`), its flat index in the output plane into
/// `indices`, chosen as [`crate::Tensor::max_pool2d`] chooses ([`window_max`]).
#[inline(always)]
fn pool_tiles<T: Element>(
    shape: &WinogradShape,
    (m, len, columns): (&[T], usize, usize),
    step: &[TileRow],
    (values, indices): (&mut [MaybeUninit<T>], &mut [MaybeUninit<u32>]),
) {
    let ow = shape.output().1;
    let (th, tw) = shape.tiles();
    for row in step {
        let top = (2 * row.ty * ow) as u32;
        for o in 0..shape.out_ch {
            let at = o * columns + row.column;
            let plane = |k: usize| &m[k * len + at..][..tw];
            let (upper_left, upper_right) = (plane(0), plane(1));
            let (lower_left, lower_right) = (plane(2), plane(3));
            let out = ((row.image * shape.out_ch + o) * th + row.ty) * tw;
            let (values, indices) = (&mut values[out..][..tw], &mut indices[out..][..tw]);
            for tx in 0..tw {
                let first = top + 2 * tx as u32;
                let (best, best_at) = window_max([
                    (upper_left[tx], first),
                    (upper_right[tx], first + 1),
                    (lower_left[tx], first + ow as u32),
                    (lower_right[tx], first + ow as u32 + 1),
                ]);
                values[tx].write(best);
                indices[tx].write(best_at);
            }
        }
    }
}
