//! Which route each convolution op takes, fastest first where the packed micro-kernel applies:
//! Winograd, the implicit column matrix, the packed explicit one; and the convolution (with
//! flipped weights) that an input gradient becomes on the first two.

use super::implicit::Implicit;
use super::unfold::Unfold;
use crate::element::Element;
use crate::ops::packed_gemm;
use crate::ops::winograd::{Tile, WinogradShape};
use crate::ops::winograd_grad;
use tensor_spec::Conv2dGeometry;

/// Shallowest column matrix (`C * KH * KW` rows) worth the packed route: below it the fixed
/// cost per output block outweighs the multiply, and `matrixmultiply` does better. A 3x3
/// kernel on one input channel (SmallCNN's first layer, 9 rows) or three (ResNet's, 27) is
/// deep enough: at batch 128 and 32 their forward passes took 0.76 and 0.74 ms on the packed
/// route against 1.15 and 1.35 ms through `matrixmultiply` (Intel Xeon, 2 threads).
const MIN_PACKED_DEPTH: usize = 8;

/// True when the convolution `u` in element type `T` takes the packed route.
pub(super) fn use_packed<T: Element>(u: &Unfold) -> bool {
    packed_gemm::available::<T>() && u.rows() >= MIN_PACKED_DEPTH
}

/// Most extra work [`Implicit`] may do, as a fraction of the useful work: one eighth.
pub(super) fn use_implicit(u: &Unfold) -> bool {
    u.stride == 1 && 8 * Implicit::new(u).columns <= 9 * u.positions()
}

/// Fewest input channels for which [`grad_input_as_conv`] fills its row strips well enough.
const MIN_CONV_GRAD_INPUT_CHANNELS: usize = 16;

/// The input gradient of a stride-1 convolution `u` with a square kernel is itself a
/// convolution: of the output gradient, padded by `K - 1 - padding`, with the weights flipped
/// in both spatial axes and their two channel axes swapped. No col2im, no scatter: each input
/// gradient is one sum, written once. Returns that convolution's geometry when it takes the
/// implicit-im2col route ([`use_implicit`]); `None` leaves the gradient to the routes below.
pub(super) fn grad_input_as_conv<T: Element>(u: &Unfold, out_ch: usize) -> Option<Unfold> {
    if u.stride != 1
        || u.kh != u.kw
        || u.padding >= u.kh
        || u.channels < MIN_CONV_GRAD_INPUT_CHANNELS
    {
        return None;
    }
    let geom = Conv2dGeometry::new(1, u.kh - 1 - u.padding);
    let uf = Unfold::new(
        &[1, out_ch, u.oh, u.ow],
        &[u.channels, out_ch, u.kh, u.kw],
        geom,
    );
    (use_packed::<T>(&uf) && use_implicit(&uf)).then_some(uf)
}

/// Fewest input and output channels for the Winograd route: with fewer, its transforms cost
/// more than the multiplies it saves.
const MIN_WINOGRAD_CHANNELS: usize = 16;

/// The Winograd shape (tiles of 2; see [`with_best_tile`]) of convolution `u` with `out_ch`
/// output channels, when it takes the Winograd route: a 3x3 kernel, stride 1, enough channels
/// on both sides, and the packed micro-kernel for `T`.
pub(super) fn winograd_shape<T: Element>(u: &Unfold, out_ch: usize) -> Option<WinogradShape> {
    let fits = packed_gemm::available::<T>()
        && (u.kh, u.kw, u.stride) == (3, 3, 1)
        && u.padding <= 2
        && u.channels.min(out_ch) >= MIN_WINOGRAD_CHANNELS;
    fits.then_some(WinogradShape {
        channels: u.channels,
        h: u.h,
        w: u.w,
        out_ch,
        padding: u.padding,
        tile: Tile::Two,
    })
}

/// Most products tiles of 4 may take (36 a tile), as a fraction of what tiles of 2 take (16 a
/// tile), to be chosen: their transforms cost about twice as much a point, so they must save
/// more than 40%. Both cover an output whose sides are multiples of 4 at 0.5625; a 10x10
/// output takes 9 tiles of 4 (12x12) and 25 of 2, 0.81.
const TILE4_WORK_RATIO: f64 = 0.6;

/// Fewest channels on each side for tiles of 4: the transforms cost in proportion to `C + O`
/// values, the products to `C O`, and at 32 channels (SmallCNN's 26x26 layer) the two tiles
/// ran as fast.
const TILE4_MIN_CHANNELS: usize = 64;

/// Fewest tiles of 4 in a tile row, unless both sides have [`TILE4_WIDE_CHANNELS`]: shorter
/// rows make the gather and scatter runs too short for the products saved (SmallCNN's
/// 64-channel 10x10 layer, 2 tiles a row, ran as fast with tiles of 2; ResNet-18's 256-channel
/// 8x8 one 1.2x faster with tiles of 4).
const TILE4_MIN_ROW: usize = 4;

/// Channels on both sides from which tiles of 4 pay even on short tile rows.
const TILE4_WIDE_CHANNELS: usize = 128;

/// Fewest tiles of 4 an image must have: with one (ResNet-18's 4x4 layer) a task's products
/// have too few columns to fill the micro-kernel's blocks (1.5x slower at batch 32).
const TILE4_MIN_TILES: usize = 4;

/// `shape` (tiles of 2) with tiles of 4 where they take enough fewer products and the layer
/// has the channels and tile rows for their dearer transforms (Intel Xeon, 2 threads, every
/// layer of SmallCNN and ResNet-18 timed both ways). The choice depends on the shapes alone, so
/// the outputs' bits do not depend on the batch or the thread count.
pub(super) fn with_best_tile(shape: WinogradShape) -> WinogradShape {
    let four = WinogradShape {
        tile: Tile::Four,
        ..shape
    };
    let work = |s: &WinogradShape| (s.tile.points() * s.tile_count()) as f64;
    let channels = shape.channels.min(shape.out_ch);
    let fits = work(&four) <= TILE4_WORK_RATIO * work(&shape)
        && channels >= TILE4_MIN_CHANNELS
        && four.tile_count() >= TILE4_MIN_TILES
        && (four.tiles().1 >= TILE4_MIN_ROW || channels >= TILE4_WIDE_CHANNELS);
    if fits { four } else { shape }
}

/// Fewest tiles (2x2 output blocks) per partial sum for the Winograd weight gradient: its
/// 16 products have the tiles as their inner dimension, and with fewer the partial sums
/// (16/9 the size of the weights) cost more to write than the products save (ResNet-18's
/// 512-channel 4x4 layer at batch 32 has 32).
const MIN_WINOGRAD_GRAD_WEIGHT_TILES: usize = 64;

/// The F(3x3, 2x2) shape of the weight gradient of convolution `u` over a batch of `n`, when
/// it takes the Winograd route: as [`winograd_shape`], with enough tiles per partial sum.
pub(super) fn grad_weight_winograd_shape<T: Element>(
    u: &Unfold,
    out_ch: usize,
    n: usize,
) -> Option<WinogradShape> {
    winograd_shape::<T>(u, out_ch).filter(|shape| {
        n * shape.tile_count() >= winograd_grad::GROUPS * MIN_WINOGRAD_GRAD_WEIGHT_TILES
    })
}

/// The input gradient of a 3x3 stride-1 convolution `u` as a Winograd convolution of the
/// output gradient (padded by `2 - padding`) with the flipped weights (see
/// [`grad_input_as_conv`]), when that takes the Winograd route.
pub(super) fn grad_input_winograd_shape<T: Element>(
    u: &Unfold,
    out_ch: usize,
) -> Option<WinogradShape> {
    if (u.kh, u.kw, u.stride) != (3, 3, 1) || u.padding > 2 {
        return None;
    }
    let uf = Unfold::new(
        &[1, out_ch, u.oh, u.ow],
        &[u.channels, out_ch, 3, 3],
        Conv2dGeometry::new(1, 2 - u.padding),
    );
    winograd_shape::<T>(&uf, u.channels)
}

/// The (forward) Winograd shape of convolution `u` when its input gradient runs over the
/// forward pass's own tiles ([`crate::ops::winograd::winograd_grad_input`]): an unpadded layer,
/// whose gradient as a convolution padded by 2 ([`grad_input_winograd_shape`]) would cover
/// two more tile rows and columns, unless that convolution takes tiles of 4. SmallCNN's
/// 12x12 and 10x10 layers at batch 128 (44% and 56% more tiles the other way): 3.4 -> 2.7 and
/// 3.7 -> 2.9 ms a call in the MART step; its 26x26 layer (16% more): 6.2-6.8 -> 5.6-6.2 ms
/// alone, the same 7.9-8.1 ms in the step (Intel Xeon, 2 threads, both routes alternated).
pub(super) fn transposed_grad_input_shape<T: Element>(
    u: &Unfold,
    out_ch: usize,
) -> Option<WinogradShape> {
    let padded = grad_input_winograd_shape::<T>(u, out_ch).map(with_best_tile)?;
    let forward = winograd_shape::<T>(u, out_ch)?;
    (u.padding == 0 && padded.tile == Tile::Two).then_some(forward)
}

/// The weights of the convolution that computes an input gradient (see
/// [`grad_input_as_conv`]): element `(c, o, ki, kj)` of the `[C, O, KH, KW]` result is
/// `w[o, c, KH - 1 - ki, KW - 1 - kj]`.
pub(super) fn flipped_weights<T: Element>(u: &Unfold, w: &[T], out_ch: usize) -> Vec<T> {
    let taps = u.kh * u.kw;
    (0..u.channels * out_ch * taps)
        .map(|i| {
            let (c, o, tap) = (i / (out_ch * taps), i / taps % out_ch, i % taps);
            w[(o * u.channels + c) * taps + taps - 1 - tap]
        })
        .collect()
}

/// Fewest output channels (the inner dimension of `W^T dy`) worth the packed grad-input route.
const MIN_PACKED_GRAD_INPUT_DEPTH: usize = 16;

/// True when the input gradient of convolution `u` with `out_ch` output channels takes the
/// packed route (a 1x1 stride-1 unpadded kernel keeps its single GEMM per image).
pub(super) fn use_packed_grad_input<T: Element>(u: &Unfold, out_ch: usize) -> bool {
    packed_gemm::available::<T>() && out_ch >= MIN_PACKED_GRAD_INPUT_DEPTH && !u.is_pointwise()
}
