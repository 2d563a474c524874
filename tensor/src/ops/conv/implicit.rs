//! The packed route for stride-1 convolutions whose column matrix is never written: its rows are
//! read in place from a zero-padded copy of the image.

use super::packed::with_epilogue;
use super::unfold::Unfold;
use crate::element::Element;
use crate::ops::packed_gemm::{Block, MR, NR, PackedLhs, RowOffsets, multiply_strip_rows};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A stride-1 convolution whose im2col is implicit: with the image zero-padded (`hp x wp`
/// planes), the column matrix row for channel `c` and kernel tap `(ki, kj)` at "virtual" column
/// `q = oy * wp + ox` is the padded image at `c * hp * wp + ki * wp + kj + q`, so every row of
/// an [`NR`]-column block is `NR` consecutive values of the padded image, read in place (see
/// [`multiply_strip_rows`]). The `wp - ow` virtual columns at the end of each output row are
/// wasted work, computed and dropped; [`super::route::use_implicit`] takes this route only
/// when they are few.
pub(super) struct Implicit {
    /// Padded input height and width.
    hp: usize,
    wp: usize,
    /// Virtual columns per image, rounded up to whole [`NR`] blocks.
    pub(super) columns: usize,
}

impl Implicit {
    pub(super) fn new(u: &Unfold) -> Self {
        let (hp, wp) = (u.h + 2 * u.padding, u.w + 2 * u.padding);
        let columns = ((u.oh - 1) * wp + u.ow).next_multiple_of(NR);
        Implicit { hp, wp, columns }
    }

    /// Offsets of the column-matrix rows, `(c, ki, kj)` in weight order, in the padded image.
    fn rows(&self, u: &Unfold) -> RowOffsets {
        let plane = self.hp * self.wp;
        RowOffsets::new(
            (0..u.channels)
                .flat_map(|c| (0..u.kh).flat_map(move |ki| (0..u.kw).map(move |kj| (c, ki, kj))))
                .map(|(c, ki, kj)| c * plane + ki * self.wp + kj)
                .collect(),
        )
    }

    /// Copies image `x` into the interior of `padded` (whose border is zero and stays so).
    fn pad<T: Element>(&self, u: &Unfold, x: &[T], padded: &mut [T]) {
        let (p, plane) = (u.padding, self.hp * self.wp);
        for (c, src) in x.chunks_exact(u.h * u.w).enumerate() {
            for (y, row) in src.chunks_exact(u.w).enumerate() {
                padded[c * plane + (y + p) * self.wp + p..][..u.w].copy_from_slice(row);
            }
        }
    }
}

/// [`super::packed::packed_conv`] by the implicit im2col of [`Implicit`]: images run in
/// parallel; each is copied into a zero-padded buffer, then every [`NR`]-column block of its
/// virtual columns is multiplied by every row strip of the packed weights straight from that
/// buffer, and the block's real columns are stored. The sums run in a fixed order, whatever the
/// thread count.
pub(super) fn implicit_conv<T: Element>(
    u: &Unfold,
    w: &PackedLhs<T>,
    epilogue: (Option<&[T]>, bool),
    x: &[T],
    y: &mut [MaybeUninit<T>],
) {
    let (in_size, positions, out_ch) = (u.channels * u.h * u.w, u.positions(), w.rows());
    let out_size = out_ch * positions;
    if out_size == 0 {
        return;
    }
    let im = Implicit::new(u);
    let rows = im.rows(u);
    // Room for the last block's reads past the last plane, zeros.
    let padded_len = (rows.end() + im.columns - NR).max(u.channels * im.hp * im.wp);
    y.par_chunks_mut(out_size)
        .zip(x.par_chunks(in_size))
        .for_each_init(
            || vec![T::zero(); padded_len],
            |padded, (y, x)| {
                im.pad(u, x, padded);
                let mut block = [[T::zero(); NR]; MR];
                for q0 in (0..im.columns).step_by(NR) {
                    for s in 0..w.strips() {
                        multiply_strip_rows(w, s, &padded[q0..], &rows, &mut block);
                        store_virtual_block(&block, s * MR, out_ch, u, im.wp, q0, epilogue, y);
                    }
                }
            },
        );
}

/// Writes the real columns of a block of virtual columns `q0..q0 + NR` (see [`Implicit`]), rows
/// `o0..` (up to `out_ch`), into one image's output `y` (`[O, OH * OW]`), adding the bias and
/// then applying ReLU where `epilogue` asks.
#[allow(clippy::too_many_arguments)]
fn store_virtual_block<T: Element>(
    block: &Block<T>,
    o0: usize,
    out_ch: usize,
    u: &Unfold,
    wp: usize,
    q0: usize,
    (bias, relu): (Option<&[T]>, bool),
    y: &mut [MaybeUninit<T>],
) {
    let positions = u.positions();
    for (i, row) in block.iter().enumerate().take(out_ch - o0) {
        let o = o0 + i;
        let b = bias.map_or(T::zero(), |b| b[o]);
        let y = &mut y[o * positions..(o + 1) * positions];
        let mut q = q0;
        while q < q0 + NR {
            let (oy, ox) = (q / wp, q % wp);
            if oy >= u.oh {
                break;
            }
            let count = (wp - ox).min(q0 + NR - q);
            if ox < u.ow {
                let real = (u.ow - ox).min(count);
                let dst = &mut y[oy * u.ow + ox..][..real];
                for (d, &v) in dst.iter_mut().zip(&row[q - q0..]) {
                    d.write(with_epilogue(v, b, relu));
                }
            }
            q += count;
        }
    }
}
