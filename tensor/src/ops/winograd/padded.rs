//! The zero-padded image the tiles read, each row stored de-interleaved (even columns, then odd
//! ones) so that the input transform reads at unit stride.

use super::shape::WinogradShape;
use crate::element::Element;
use crate::simd;

/// The image of a task being transformed, `[C, PH, PW]`, zero around the interior. Each row is
/// stored de-interleaved, its even columns then its odd ones, so that the four values a tile
/// reads from a row are two neighbours in each half and the transform loops run at unit stride.
pub(in crate::ops) struct PaddedImage<T> {
    values: Vec<T>,
    /// Image of the task held in `values`.
    image: Option<usize>,
}

impl<T: Element> PaddedImage<T> {
    /// Room for one image of `shape`, zero.
    pub(in crate::ops) fn new(shape: &WinogradShape) -> Self {
        let (ph, pw) = shape.padded();
        PaddedImage {
            values: vec![T::zero(); shape.channels * ph * pw],
            image: None,
        }
    }

    /// Image `image` of the task's input `x` (`[images, C, H, W]`) padded, copied in (see
    /// [`pad_image`]) unless it is the one held already.
    pub(in crate::ops) fn of(&mut self, shape: &WinogradShape, x: &[T], image: usize) -> &[T] {
        if self.image != Some(image) {
            let size = shape.channels * shape.h * shape.w;
            pad_image(shape, &x[image * size..][..size], &mut self.values);
            self.image = Some(image);
        }
        &self.values
    }
}

/// Copies one image `x` (`[C, H, W]`) into the interior of `padded` (`[C, PH, PW]`, zero
/// around the interior, which it leaves alone), each row de-interleaved: its even columns,
/// then its odd ones (see [`PaddedImage`]).
fn pad_image<T: Element>(shape: &WinogradShape, x: &[T], padded: &mut [T]) {
    let (ph, pw) = shape.padded();
    let (p, plane, half) = (shape.padding, shape.h * shape.w, pw / 2);
    simd::vectorized(
        #[inline(always)]
        || {
            for (src, dst) in x.chunks_exact(plane).zip(padded.chunks_exact_mut(ph * pw)) {
                for (y, row) in src.chunks_exact(shape.w).enumerate() {
                    let (even, odd) = dst[(y + p) * pw..][..pw].split_at_mut(half);
                    // Column `x` of the image is column `x + p` of the padded row.
                    let (first, second) = if p % 2 == 0 {
                        (&mut even[p / 2..], &mut odd[p / 2..])
                    } else {
                        (&mut odd[p / 2..], &mut even[p / 2 + 1..])
                    };
                    deinterleave(row, first, second);
                }
            }
        },
    );
}

/// Splits `src` into its even-indexed values, written to the front of `even`, and its odd ones,
/// to the front of `odd`.
#[inline(always)]
fn deinterleave<T: Copy>(src: &[T], even: &mut [T], odd: &mut [T]) {
    let pairs = src.len() / 2;
    let (even, odd) = (&mut even[..src.len() - pairs], &mut odd[..pairs]);
    for ((pair, e), o) in src.chunks_exact(2).zip(even.iter_mut()).zip(odd.iter_mut()) {
        *e = pair[0];
        *o = pair[1];
    }
    if src.len() % 2 == 1 {
        even[pairs] = src[src.len() - 1];
    }
}
