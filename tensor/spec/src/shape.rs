//! Shapes, row-major strides and numpy broadcasting.

use std::fmt;

/// The dimensions of a tensor, outermost first. A rank-0 shape is a scalar with one element.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// A shape from its dimensions.
    pub fn new(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }

    /// The scalar shape `[]`.
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1; self.0.len()];
        for i in (0..self.0.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.0[i + 1];
        }
        strides
    }

    /// Checks `axis < rank`, panicking with the op's name otherwise.
    pub fn check_axis(&self, axis: usize, op: &str) {
        assert!(
            axis < self.rank(),
            "{op}: axis {axis} out of range for shape {self:?}"
        );
    }

    /// Splits the shape around `axis` into (outer, axis length, inner) element counts.
    pub fn split_at_axis(&self, axis: usize) -> (usize, usize, usize) {
        let outer = self.0[..axis].iter().product();
        let inner = self.0[axis + 1..].iter().product();
        (outer, self.0[axis], inner)
    }

    /// The shape left after reducing `axis`: removed, or kept as 1 with `keepdim`.
    pub fn reduced(&self, axis: usize, keepdim: bool) -> Shape {
        let mut dims = self.0.clone();
        if keepdim {
            dims[axis] = 1;
        } else {
            dims.remove(axis);
        }
        Shape(dims)
    }

    /// The numpy broadcast of two shapes, or `None` when they are incompatible.
    pub fn broadcast(&self, other: &Shape) -> Option<Shape> {
        let rank = self.rank().max(other.rank());
        let mut dims = vec![0; rank];
        for (i, d) in dims.iter_mut().enumerate() {
            let a = self.dim_from_right(rank - 1 - i);
            let b = other.dim_from_right(rank - 1 - i);
            *d = match (a, b) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return None,
            };
        }
        Some(Shape(dims))
    }

    /// The broadcast of two shapes; panics naming `op` when they are incompatible.
    pub fn broadcast_or_panic(&self, other: &Shape, op: &str) -> Shape {
        self.broadcast(other)
            .unwrap_or_else(|| panic!("{op}: cannot broadcast shapes {self:?} and {other:?}"))
    }

    /// Strides for reading this shape as if broadcast to `target`: 0 on broadcast axes.
    /// `target` must have rank >= self's rank and be a valid broadcast of it.
    pub fn broadcast_strides(&self, target: &Shape) -> Vec<usize> {
        let own = self.strides();
        let offset = target.rank() - self.rank();
        (0..target.rank())
            .map(|i| {
                if i < offset || self.0[i - offset] == 1 {
                    0
                } else {
                    own[i - offset]
                }
            })
            .collect()
    }

    /// This shape as the output of a broadcast of `inputs`, simplified for a kernel's loops: its
    /// dimensions and each input's strides along them (see [`Shape::broadcast_strides`]), with
    /// size-1 axes dropped and neighbouring axes merged when every input reads them as one (its
    /// stride on the outer axis is the inner stride times the inner size: both contiguous, or
    /// both broadcast). So `[8, 3, 4, 4]` from `[8, 3, 4, 4]` and `[3, 1, 1]` becomes dims
    /// `[8, 3, 16]` with strides `[48, 16, 1]` and `[0, 1, 0]`: the same elements in the same
    /// order, in rows as long as the operands allow. At least one axis is kept.
    pub fn collapsed_broadcast(&self, inputs: &[&Shape]) -> (Vec<usize>, Vec<Vec<usize>>) {
        let full: Vec<Vec<usize>> = inputs.iter().map(|s| s.broadcast_strides(self)).collect();
        let mut dims: Vec<usize> = Vec::new();
        let mut strides: Vec<Vec<usize>> = vec![Vec::new(); inputs.len()];
        for (axis, &d) in self.0.iter().enumerate() {
            if d == 1 {
                continue;
            }
            let merges = !dims.is_empty()
                && full
                    .iter()
                    .zip(&strides)
                    .all(|(s, kept)| kept.last() == Some(&(s[axis] * d)));
            if merges {
                *dims.last_mut().expect("a kept axis") *= d;
                for (kept, s) in strides.iter_mut().zip(&full) {
                    *kept.last_mut().expect("a kept axis") = s[axis];
                }
            } else {
                dims.push(d);
                for (kept, s) in strides.iter_mut().zip(&full) {
                    kept.push(s[axis]);
                }
            }
        }
        if dims.is_empty() {
            dims.push(1);
            for kept in &mut strides {
                kept.push(0);
            }
        }
        (dims, strides)
    }

    /// The strides that read this shape broadcast to `target` (see [`Shape::broadcast_strides`]),
    /// panicking as `broadcast_to` when `target` is not a numpy broadcast of this shape.
    pub fn strides_broadcast_to(&self, target: &Shape) -> Vec<usize> {
        let ok = target.rank() >= self.rank() && self.broadcast(target) == Some(target.clone());
        assert!(
            ok,
            "broadcast_to: cannot broadcast shape {self:?} to {target:?}"
        );
        self.broadcast_strides(target)
    }

    /// The dimensions and strides (into this shape's row-major layout) of its axes reordered so
    /// that axis `i` is axis `perm[i]`; panics as `permute` unless `perm` is a permutation.
    pub fn permuted(&self, perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let rank = self.rank();
        let mut seen = vec![false; rank];
        let valid = perm.len() == rank
            && perm
                .iter()
                .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
        assert!(
            valid,
            "permute: {perm:?} is not a permutation of the axes of {self:?}"
        );
        let own = self.strides();
        let dims = perm.iter().map(|&p| self.0[p]).collect();
        let strides = perm.iter().map(|&p| own[p]).collect();
        (dims, strides)
    }

    /// The dimensions, strides and first element offset of elements `start..end` along `axis`
    /// (a view into this shape's row-major layout); panics as `slice` when out of range.
    pub fn sliced(&self, axis: usize, start: usize, end: usize) -> (Vec<usize>, Vec<usize>, usize) {
        self.check_axis(axis, "slice");
        assert!(
            start <= end && end <= self.0[axis],
            "slice: range {start}..{end} out of bounds for axis {axis} of shape {self:?}"
        );
        let strides = self.strides();
        let mut dims = self.0.clone();
        dims[axis] = end - start;
        let offset = start * strides[axis];
        (dims, strides, offset)
    }

    /// The shape of `parts` joined along `axis`, panicking as `concat` unless there is at least
    /// one part and all agree off `axis`.
    pub fn concatenated(parts: &[&Shape], axis: usize) -> Shape {
        assert!(!parts.is_empty(), "concat: no tensors given");
        let first = parts[0];
        first.check_axis(axis, "concat");
        for p in parts {
            let same = p.rank() == first.rank()
                && (0..first.rank()).all(|i| i == axis || p.0[i] == first.0[i]);
            assert!(
                same,
                "concat: shape {p:?} does not match {first:?} off axis {axis}"
            );
        }
        let mut dims = first.0.clone();
        dims[axis] = parts.iter().map(|p| p.0[axis]).sum();
        Shape(dims)
    }

    /// This shape with `pads[axis] = (before, after)` added to each axis; panics as `pad` unless
    /// there is one pair per axis.
    pub fn padded(&self, pads: &[(usize, usize)]) -> Shape {
        assert_eq!(
            pads.len(),
            self.rank(),
            "pad: {} (before, after) pairs given for shape {self:?}",
            pads.len()
        );
        let dims = self
            .0
            .iter()
            .zip(pads)
            .map(|(d, (b, a))| d + b + a)
            .collect();
        Shape(dims)
    }

    /// The shape of rows `rows` of axis 0, and the length of one row; panics as `select_rows`
    /// on a scalar or a row out of range.
    pub fn selected_rows(&self, rows: &[usize]) -> (Shape, usize) {
        assert!(
            self.rank() > 0,
            "select_rows: cannot select rows of a scalar"
        );
        let count = self.0[0];
        for &r in rows {
            assert!(
                r < count,
                "select_rows: row {r} out of range for shape {self:?}"
            );
        }
        let row_len = self.numel() / count.max(1);
        let mut dims = self.0.clone();
        dims[0] = rows.len();
        (Shape(dims), row_len)
    }

    /// This shape with a size-1 axis inserted at `axis`; panics as `unsqueeze` past the end.
    pub fn unsqueezed(&self, axis: usize) -> Shape {
        assert!(
            axis <= self.rank(),
            "unsqueeze: axis {axis} out of range for shape {self:?}"
        );
        let mut dims = self.0.clone();
        dims.insert(axis, 1);
        Shape(dims)
    }

    /// This shape without the size-1 axis `axis`; panics as `squeeze` unless it is one.
    pub fn squeezed(&self, axis: usize) -> Shape {
        self.check_axis(axis, "squeeze");
        assert_eq!(
            self.0[axis], 1,
            "squeeze: axis {axis} of shape {self:?} is not 1"
        );
        let mut dims = self.0.clone();
        dims.remove(axis);
        Shape(dims)
    }

    /// The dimension `i` places from the right, 1 past the left edge (broadcasting's padding).
    fn dim_from_right(&self, i: usize) -> usize {
        if i < self.rank() {
            self.0[self.rank() - 1 - i]
        } else {
            1
        }
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape::new(d)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(d.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapsed_broadcasts_merge_the_axes_both_inputs_step_through_as_one() {
        let out = Shape::new(&[8, 3, 4, 4]);
        let (dims, strides) = out.collapsed_broadcast(&[&out, &Shape::new(&[3, 1, 1])]);
        assert_eq!(dims, vec![8, 3, 16]);
        assert_eq!(strides, vec![vec![48, 16, 1], vec![0, 1, 0]]);
        // Size-1 axes go; contiguous neighbours merge into one row.
        let out = Shape::new(&[2, 1, 5, 7]);
        let (dims, strides) = out.collapsed_broadcast(&[&out, &out]);
        assert_eq!((dims, strides), (vec![70], vec![vec![1], vec![1]]));
        // A scalar output keeps one axis, read at stride 0.
        let (dims, strides) = Shape::scalar().collapsed_broadcast(&[&Shape::scalar()]);
        assert_eq!((dims, strides), (vec![1], vec![vec![0]]));
    }

    #[test]
    fn broadcast_follows_numpy() {
        let a = Shape::new(&[4, 1, 3]);
        let b = Shape::new(&[5, 1]);
        assert_eq!(a.broadcast(&b).unwrap(), Shape::new(&[4, 5, 3]));
        assert_eq!(Shape::scalar().broadcast(&b).unwrap(), b);
        assert!(Shape::new(&[2, 3]).broadcast(&Shape::new(&[4])).is_none());
    }

    #[test]
    fn movement_shapes_read_the_row_major_layout() {
        let s = Shape::new(&[2, 3, 4]);
        assert_eq!(s.permuted(&[2, 0, 1]), (vec![4, 2, 3], vec![1, 12, 4]));
        assert_eq!(s.sliced(1, 1, 3), (vec![2, 2, 4], vec![12, 4, 1], 4));
        let other = Shape::new(&[2, 5, 4]);
        assert_eq!(
            Shape::concatenated(&[&s, &other], 1),
            Shape::new(&[2, 8, 4])
        );
        assert_eq!(s.padded(&[(0, 0), (1, 2), (0, 1)]), Shape::new(&[2, 6, 5]));
        assert_eq!(s.reduced(1, true), Shape::new(&[2, 1, 4]));
        assert_eq!(s.reduced(1, false), Shape::new(&[2, 4]));
    }

    #[test]
    #[should_panic(expected = "permute: [0, 0, 1] is not a permutation of the axes of [2, 3, 4]")]
    fn permuted_rejects_a_repeated_axis() {
        let _ = Shape::new(&[2, 3, 4]).permuted(&[0, 0, 1]);
    }

    #[test]
    fn strides_are_row_major() {
        assert_eq!(Shape::new(&[2, 3, 4]).strides(), vec![12, 4, 1]);
        assert_eq!(
            Shape::new(&[3, 1]).broadcast_strides(&Shape::new(&[2, 3, 4])),
            vec![0, 1, 0]
        );
    }
}
