//! Training-time augmentation: torchvision's `RandomCrop(size, padding=4)` followed by
//! `RandomHorizontalFlip()`, the standard CIFAR-10 recipe.

use tensor::parallel::for_each_row_mut;
use tensor::{Rng, Tensor};

/// Zero padding on each side before cropping; offsets run over `0..=2 * PAD`.
const PAD: usize = 4;

/// Randomly shifted and mirrored copies of `images` (`[N, C, H, W]`): per image, zero-pad by 4 on
/// every side, crop `H x W` at a uniformly random offset `(ox, oy)` in `0..=8` each, then flip
/// left-right with probability 1/2. Draws `ox`, `oy`, flip (`rng.below(9)`, `rng.below(9)`,
/// `rng.below(2)`) per image in order, so the result depends only on the rng state.
pub fn augment_crop_flip(images: &Tensor<f32>, rng: &mut Rng) -> Tensor<f32> {
    let &[n, c, h, w] = images.dims() else {
        panic!(
            "augment_crop_flip: images must be [N, C, H, W], got {:?}",
            images.dims()
        );
    };
    let draws: Vec<(usize, usize, bool)> = (0..n)
        .map(|_| {
            (
                rng.below(2 * PAD + 1),
                rng.below(2 * PAD + 1),
                rng.below(2) == 1,
            )
        })
        .collect();
    let src = images.data();
    let mut out = vec![0.0f32; images.numel()];
    for_each_row_mut(&mut out, c * h * w, 1, |i, dst| {
        let (ox, oy, flip) = draws[i];
        // Output (r, col) reads input (r + oy - PAD, col' + ox - PAD), col' the unflipped column;
        // anything outside the input is padding and stays zero.
        for ch in 0..c {
            let plane = &src[(i * c + ch) * h * w..][..h * w];
            for r in 0..h {
                let Some(sr) = (r + oy).checked_sub(PAD).filter(|&sr| sr < h) else {
                    continue;
                };
                let row = &plane[sr * w..][..w];
                let out_row = &mut dst[(ch * h + r) * w..][..w];
                for (col, v) in out_row.iter_mut().enumerate() {
                    let cc = if flip { w - 1 - col } else { col };
                    if let Some(sc) = (cc + ox).checked_sub(PAD).filter(|&sc| sc < w) {
                        *v = row[sc];
                    }
                }
            }
        }
    });
    Tensor::from_vec(out, [n, c, h, w])
}
