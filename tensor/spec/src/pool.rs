//! The geometry of a 2-D pooling op (window, stride, padding, the output size they give) and the
//! shape checks of the pooling ops: what the CPU and GPU backends share.

use crate::shape::Shape;
use std::ops::Range;

/// Window size, stride and padding of a pooling op, the same on both spatial axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeometry {
    /// Window height and width.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Implicit padding on every side (-inf for max, 0 counted in the mean for average).
    pub padding: usize,
}

impl Pool2dGeometry {
    /// A square window of `kernel` with the given stride and padding.
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        assert!(
            kernel > 0 && stride > 0,
            "pool2d: kernel and stride must be positive"
        );
        assert!(
            padding * 2 <= kernel,
            "pool2d: padding {padding} exceeds half the kernel {kernel}"
        );
        Pool2dGeometry {
            kernel,
            stride,
            padding,
        }
    }

    /// Output height and width for an `h x w` input (floor mode, as PyTorch's default).
    pub fn output_size(&self, h: usize, w: usize) -> (usize, usize) {
        let (ph, pw) = (h + 2 * self.padding, w + 2 * self.padding);
        assert!(
            self.kernel <= ph && self.kernel <= pw,
            "pool2d: window {} larger than padded input {ph}x{pw}",
            self.kernel
        );
        (
            (ph - self.kernel) / self.stride + 1,
            (pw - self.kernel) / self.stride + 1,
        )
    }

    /// The input rows and columns inside an `h x w` plane covered by window `(oy, ox)`
    /// (padding positions left out).
    pub fn window(&self, oy: usize, ox: usize, h: usize, w: usize) -> (Range<usize>, Range<usize>) {
        let clip = |start: usize, len: usize| {
            let lo = start.max(self.padding) - self.padding;
            let hi = (start + self.kernel).min(len + self.padding) - self.padding;
            lo..hi.max(lo)
        };
        (clip(oy * self.stride, h), clip(ox * self.stride, w))
    }
}

/// The dimensions of an NCHW shape, panicking with the op's name otherwise.
pub fn check_nchw(op: &str, shape: &Shape) -> (usize, usize, usize, usize) {
    let d = shape.dims();
    assert_eq!(
        d.len(),
        4,
        "{op}: expected an NCHW tensor, got shape {shape:?}"
    );
    (d[0], d[1], d[2], d[3])
}

/// Panics as `max_pool2d_backward` unless the gradient `grad` and the forward's `indices` have
/// the same shape.
pub fn check_max_pool_indices(grad: &Shape, indices: &Shape) {
    assert_eq!(
        grad, indices,
        "max_pool2d_backward: gradient {grad:?} and indices {indices:?} differ"
    );
}

/// The input height and width and pooled height and width of a pooling gradient `grad` for an
/// input of shape `input_shape`, panicking naming `op` unless `grad` has the pooled shape.
pub fn check_pooled_gradient(
    op: &str,
    grad: &Shape,
    input_shape: &Shape,
    geom: Pool2dGeometry,
) -> (usize, usize, usize, usize) {
    let (n, c, h, w) = check_nchw(op, input_shape);
    let (oh, ow) = geom.output_size(h, w);
    assert_eq!(
        grad.dims(),
        &[n, c, oh, ow],
        "{op}: gradient {grad:?} does not fit input {input_shape:?}"
    );
    (h, w, oh, ow)
}
