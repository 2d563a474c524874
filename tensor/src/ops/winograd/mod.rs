//! Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016), the route oneDNN takes too.
//!
//! Every 2x2 block of outputs (a *tile*) reads a 4x4 patch `d` of the zero-padded input. With
//! the patch transformed to `V = B^T d B` and each 3x3 kernel `g` to `U = G g G^T` (both 4x4),
//! the tile is `Y = A^T (U ⊙ V) A`. The sum over input channels commutes with `A^T . A`, so a
//! whole convolution becomes 16 independent matrix products, one per point `ξ` of the 4x4
//! transform: `M[ξ] = U[ξ] [O, C] x V[ξ] [C, tiles]`. That is 16 multiply-adds per tile and
//! channel pair where the direct method needs 36 (2.25x fewer); the three transforms are a few
//! additions each. The rounding differs from the direct sum by a few ulp of the inputs'
//! magnitude (the transforms' coefficients are 0, ±1/2 and ±1).
//!
//! The matrix products run on the packed micro-kernel
//! ([`crate::ops::packed_gemm::multiply_strip_to`]), so this route is for the element types and
//! CPUs where [`crate::ops::packed_gemm::available`] holds.
//!
//! One file per job: the shapes (`shape`), the transformed weights (`weights`), the transforms
//! of input patches and products (`transforms`), the padded image they read (`padded`), and the
//! driver that steps through a batch (`step`). The weight gradient, F(3x3, 2x2), is
//! [`crate::ops::winograd_grad`].

pub(super) mod padded;
pub(super) mod shape;
pub(super) mod step;
pub(super) mod transforms;
mod weights;

pub use shape::WinogradShape;
pub use step::winograd_conv;
pub use weights::WinogradWeights;
