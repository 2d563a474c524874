//! The geometry of a convolution (stride and padding, the output size they give) and the check
//! that an input and a weight can be convolved: what every CPU route and the GPU kernels share.

/// Stride and zero padding of a convolution, the same on both spatial axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Step between neighbouring output positions, in input pixels.
    pub stride: usize,
    /// Zeros added on every side of the input.
    pub padding: usize,
}

impl Conv2dGeometry {
    /// A geometry with the given stride and padding.
    pub fn new(stride: usize, padding: usize) -> Self {
        assert!(stride > 0, "conv2d: stride must be positive");
        Conv2dGeometry { stride, padding }
    }

    /// Output height and width for an input `h x w` and a kernel `kh x kw`; panics if the
    /// kernel does not fit.
    pub fn output_size(&self, h: usize, w: usize, kh: usize, kw: usize) -> (usize, usize) {
        let (ph, pw) = (h + 2 * self.padding, w + 2 * self.padding);
        assert!(
            kh <= ph && kw <= pw,
            "conv2d: kernel {kh}x{kw} larger than padded input {ph}x{pw}"
        );
        ((ph - kh) / self.stride + 1, (pw - kw) / self.stride + 1)
    }

    /// The output's NCHW dimensions for an NCHW `input` and OIHW `weight` (see
    /// [`Conv2dGeometry::output_size`]).
    pub fn output_dims(&self, input: &[usize], weight: &[usize]) -> [usize; 4] {
        let (oh, ow) = self.output_size(input[2], input[3], weight[2], weight[3]);
        [input[0], weight[0], oh, ow]
    }
}

/// Checks that `input` is NCHW and `weight` OIHW with matching channels.
pub fn check_conv_shapes(op: &str, input: &[usize], weight: &[usize]) {
    assert!(
        input.len() == 4 && weight.len() == 4 && input[1] == weight[1],
        "{op}: input {input:?} (NCHW) and weight {weight:?} (OIHW) do not match"
    );
}
