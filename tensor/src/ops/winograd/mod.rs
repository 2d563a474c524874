//! Winograd's minimal filtering F(2x2, 3x3) and F(4x4, 3x3) for 3x3 stride-1 convolutions
//! (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), the route
//! oneDNN takes too.
//!
//! Every `m x m` block of outputs (a *tile*, `m` 2 or 4) reads an `(m + 2) x (m + 2)` patch `d`
//! of the zero-padded input. With the patch transformed to `V = B^T d B` and each 3x3 kernel
//! `g` to `U = G g G^T`, the tile is `Y = A^T (U ⊙ V) A`. The sum over input channels commutes
//! with `A^T . A`, so a whole convolution becomes independent matrix products, one per point
//! `ξ` of the transform: `M[ξ] = U[ξ] [O, C] x V[ξ] [C, tiles]`. F(2x2, 3x3) takes 16
//! multiply-adds per tile and channel pair, 4 an output, where the direct method needs 9 an
//! output (2.25x fewer); F(4x4, 3x3) takes 36 per tile of 16 outputs, 2.25 an output (4x
//! fewer), for transforms with larger coefficients (up to 8 and 1/24) that cost about twice
//! as much a point. Tiles of 2 round to a few ulp of the inputs' magnitude (coefficients 0,
//! ±1/2 and ±1): at most 3e-6 of the outputs' root mean square on ResNet-18's layers, against
//! f64; tiles of 4 up to 6e-5 (20 times; 6 times in root mean square, 2e-6 to 3e-6). Which a
//! layer takes is [`crate::ops::conv`]'s choice (`with_best_tile`).
//!
//! The matrix products run on the packed micro-kernel
//! ([`crate::ops::packed_gemm::multiply_strip_to`]), so this route is for the element types and
//! CPUs where [`crate::ops::packed_gemm::available`] holds.
//!
//! One file per job: the shapes and tiles (`shape`), the transformed weights (`weights`), the
//! transforms of input patches and products (`transforms` for tiles of 2, `transforms_f4` for
//! tiles of 4), the padded image they read (`padded`), the output scatter (`scatter`), the
//! driver that steps through a batch (`step`), the same with a 2x2 max pooling after the ReLU
//! (`pooled`), and the input gradient of an unpadded layer
//! over the forward pass's own tiles (`transposed`). The weight gradient, F(3x3, 2x2), is
//! [`crate::ops::winograd_grad`].

pub(super) mod padded;
mod pooled;
mod scatter;
pub(super) mod shape;
pub(super) mod step;
pub(super) mod transforms;
mod transforms_f4;
mod transposed;
mod weights;

pub use pooled::winograd_conv_relu_max_pool;
pub use shape::{Tile, WinogradShape};
pub use step::winograd_conv;
pub use transposed::{OutputGradient, winograd_grad_input};
pub use weights::WinogradWeights;
