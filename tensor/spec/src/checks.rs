//! The shape checks of the reductions, the per-channel statistics and the index ops, written
//! once for both backends: each panics naming the op and the shapes involved.

use crate::shape::Shape;

/// The batch size, channel count and plane size (1 for NC) of an NC or NCHW shape, panicking
/// naming `op` otherwise.
pub fn channel_layout(op: &str, shape: &Shape) -> (usize, usize, usize) {
    let d = shape.dims();
    assert!(
        d.len() == 2 || d.len() == 4,
        "{op}: expected NC or NCHW, got shape {shape:?}"
    );
    (d[0], d[1], d[2..].iter().product())
}

/// The layout of an NC or NCHW `x` (as [`channel_layout`]) whose per-channel operands, given as
/// (name, shape), must each be `[C]` and whose same-shaped operands must each have `x`'s
/// shape; panics naming `op` and the shapes otherwise.
pub fn channel_operands(
    op: &str,
    x: &Shape,
    same: &[(&str, &Shape)],
    per_channel: &[(&str, &Shape)],
) -> (usize, usize, usize) {
    let layout = channel_layout(op, x);
    for (name, shape) in same {
        assert!(
            *shape == x,
            "{op}: {name} has shape {shape:?}, expected the input's {x:?}"
        );
    }
    for (name, shape) in per_channel {
        assert!(
            shape.dims() == [layout.1],
            "{op}: {name} has shape {shape:?}, expected [{}] for input {x:?}",
            layout.1
        );
    }
    layout
}

/// Splits `shape` around `axis` into (outer, axis length, inner), panicking naming `op` unless
/// the axis exists and holds a best element (and, with `want_second`, a second-best one).
pub fn split_for_best_two(
    shape: &Shape,
    axis: usize,
    op: &str,
    want_second: bool,
) -> (usize, usize, usize) {
    shape.check_axis(axis, op);
    let (outer, len, inner) = shape.split_at_axis(axis);
    assert!(len > 0, "{op}: axis {axis} of shape {shape:?} is empty");
    assert!(
        !want_second || len > 1,
        "{op}: axis {axis} of shape {shape:?} has fewer than two elements"
    );
    (outer, len, inner)
}

/// Panics naming `op` unless `axis` is one of `target`'s and `index` (of `target`'s rank) fits
/// inside `target` on every other axis.
pub fn check_index_fits(op: &str, target: &Shape, axis: usize, index: &Shape) {
    target.check_axis(axis, op);
    let fits = index.rank() == target.rank()
        && index
            .dims()
            .iter()
            .zip(target.dims())
            .enumerate()
            .all(|(i, (&a, &b))| i == axis || a <= b);
    assert!(
        fits,
        "{op}: index {index:?} does not fit shape {target:?} on axis {axis}"
    );
}

/// Panics as `scatter_add` unless `index` and `src` have the same shape.
pub fn check_scatter_source(index: &Shape, src: &Shape) {
    assert_eq!(
        index, src,
        "scatter_add: index {index:?} and source {src:?} differ"
    );
}
