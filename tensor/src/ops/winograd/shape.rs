//! The shapes of a Winograd convolution: its tile, input, output, tiles and padded input.

/// Points of the 4x4 transform of F(2x2, 3x3): one matrix product each. (The weight gradient,
/// [`crate::ops::winograd_grad`], works on these 4x4 patches too.)
pub(in crate::ops) const POINTS: usize = 16;

/// The output block each tile computes: F(2x2, 3x3) reads 4x4 patches (16 products), F(4x4,
/// 3x3) 6x6 ones (36 products for four times the outputs: 2.25 multiply-adds an output
/// instead of 4, and a little over half the transformed values to gather and write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// F(2x2, 3x3).
    Two,
    /// F(4x4, 3x3).
    Four,
}

impl Tile {
    /// Outputs along each side of a tile: 2 or 4.
    pub fn size(self) -> usize {
        match self {
            Tile::Two => 2,
            Tile::Four => 4,
        }
    }

    /// Inputs along each side of a tile's patch: the tile and the kernel's two more.
    pub fn patch(self) -> usize {
        self.size() + 2
    }

    /// Points of the transform (one matrix product each): the patch's values.
    pub fn points(self) -> usize {
        self.patch() * self.patch()
    }
}

/// The shapes of one Winograd convolution: NCHW input, `out_ch` 3x3 kernels, stride 1.
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
    /// The output block of one tile.
    pub tile: Tile,
}

impl WinogradShape {
    /// Output height and width: `h + 2 padding - 2` by `w + 2 padding - 2`.
    pub(in crate::ops) fn output(&self) -> (usize, usize) {
        (self.h + 2 * self.padding - 2, self.w + 2 * self.padding - 2)
    }

    /// Tiles (output blocks) per image.
    pub fn tile_count(&self) -> usize {
        let (th, tw) = self.tiles();
        th * tw
    }

    /// Tile rows and columns: the output in blocks of the tile's size, rounded up.
    pub(in crate::ops) fn tiles(&self) -> (usize, usize) {
        let (oh, ow) = self.output();
        let m = self.tile.size();
        (oh.div_ceil(m), ow.div_ceil(m))
    }

    /// Height and width of the padded input the tiles read: two more rows than the tiles
    /// cover, so that a partial last tile reads zeros, and one more tile's width of columns, so
    /// that a row splits into as many phases as the tile is wide, of equal length (see
    /// [`super::padded::PaddedImage`]).
    pub(in crate::ops) fn padded(&self) -> (usize, usize) {
        let (th, tw) = self.tiles();
        let m = self.tile.size();
        (m * th + 2, m * (tw + 1))
    }
}
