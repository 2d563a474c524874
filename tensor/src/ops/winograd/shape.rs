//! The shapes of an F(2x2, 3x3) convolution: its input, output, tiles and padded input.

/// Points of the 4x4 transform: one matrix product each.
pub(in crate::ops) const POINTS: usize = 16;

/// The shapes of one F(2x2, 3x3) convolution: NCHW input, `out_ch` 3x3 kernels, stride 1.
#[derive(Clone, Copy, Debug)]
pub struct WinogradShape {
    /// Input channels.
    pub channels: usize,
    /// Input height and width.
    pub h: usize,
    pub w: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Zeros on every side of the input.
    pub padding: usize,
}

impl WinogradShape {
    /// Output height and width: `h + 2 padding - 2` by `w + 2 padding - 2`.
    pub(in crate::ops) fn output(&self) -> (usize, usize) {
        (self.h + 2 * self.padding - 2, self.w + 2 * self.padding - 2)
    }

    /// Tiles (2x2 output blocks) per image.
    pub fn tile_count(&self) -> usize {
        let (th, tw) = self.tiles();
        th * tw
    }

    /// Tile rows and columns: the output in 2x2 blocks, rounded up.
    pub(in crate::ops) fn tiles(&self) -> (usize, usize) {
        let (oh, ow) = self.output();
        (oh.div_ceil(2), ow.div_ceil(2))
    }

    /// Height and width of the padded input the tiles read: two more than twice the tiles, so
    /// that a partial last tile reads zeros.
    pub(in crate::ops) fn padded(&self) -> (usize, usize) {
        let (th, tw) = self.tiles();
        (2 * th + 2, 2 * tw + 2)
    }
}
