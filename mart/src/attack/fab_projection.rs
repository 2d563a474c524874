//! FAB's projection: the smallest L-inf step from a point onto a hyperplane, staying in the box
//! [0, 1]^d, as AutoAttack's `projection_linf` (fab_projections.py) computes it for a batch.
//!
//! Moving every coordinate by at most `lambda` towards the hyperplane changes `<w, x>` by a
//! piecewise-linear, monotone amount `g(lambda)`: each coordinate moves by `min(lambda, p_i)`,
//! where `p_i` is its distance to the box's edge in the useful direction. The breakpoints are the
//! `p_i`; sorting them and summing along that order gives `g` at every breakpoint, a bisection
//! finds the segment where `g` reaches the hyperplane, and one division solves the segment.

use tensor::{Device, Element, IndexTensor, Tensor};

/// For each row `i`, the step `d` of smallest L-inf norm with `<w_i, t_i + d> = b_i` and
/// `t_i + d` in [0, 1]^d, for `points` `t` and `w` `[B, d]`, `b` `[B]`; `points` must lie in the
/// box. When the box does not reach the hyperplane, `d` moves every coordinate with a non-zero
/// weight to the box's edge on the hyperplane's side (the box point nearest to it in `<w, x>`).
/// Coordinates with a zero weight never move.
///
/// A port of AutoAttack's `projection_linf`: the same sign flip, sort, cumulative sums,
/// `ceil(log2 d)` bisection steps and cases. The rows the reference selects with a mask are all
/// computed here and picked with `where_`; the bisection's `[B]` counters live on the host.
pub fn projection_linf<T: Element>(points: &Tensor<T>, w: &Tensor<T>, b: &Tensor<T>) -> Tensor<T> {
    assert!(
        points.rank() == 2 && w.dims() == points.dims() && b.dims() == [points.dims()[0]],
        "projection_linf: points {:?}, w {:?} and b {:?} must be [B, d], [B, d] and [B]",
        points.shape(),
        w.shape(),
        b.shape()
    );
    let (rows, dim) = (points.dims()[0], points.dims()[1]);
    assert!(
        dim > 0,
        "projection_linf: points {:?} have no coordinates",
        points.shape()
    );
    let t = points;
    let zero = Tensor::scalar(T::zero());
    let one = T::one();
    let two = one + one;
    let b = b.reshape([rows, 1]);

    // Orient each hyperplane so that the point lies on its positive side: <w, t> >= b.
    let side = w.mul(t).sum_axis(1, true).sub(&b).ge(&zero);
    let sign = side.mul_scalar(two).add_scalar(-one);
    let w = w.mul(&sign);
    let b = b.mul(&sign);

    // `a` marks the coordinates that must grow to lower <w, x>; `d` is the move to that edge of
    // the box and `p = |d|` the largest step a coordinate can take.
    let a = w.lt(&zero);
    let moves = w.eq_mask(&zero).neg().add_scalar(one);
    let d = a.sub(t).mul(&moves);
    let p = a.sub(&t.mul(&a.mul_scalar(two).add_scalar(-one)));

    // Breakpoints from the largest to the smallest: the reference's `argsort(p).flip(1)`.
    let (p_desc, order) = p.sort_axis(1, true);
    let b = b.sub(&w.mul(t).sum_axis(1, true));
    let b0 = w.mul(&d).sum_axis(1, true);
    let w_desc = w.gather(1, &order);
    let full_moves_desc = w_desc.mul(&d.gather(1, &order)).neg();
    // With every coordinate moved by `lambda = p_desc[k]`: the change of <w, x> is
    // `sb[k] - s[k] * p_desc[k]`.
    let s = w_desc.abs().cumsum_axis(1);
    let sb = full_moves_desc.cumsum_axis(1).add(&b0);

    let last = |x: &Tensor<T>| x.slice(1, dim - 1, dim);
    let change_at_smallest = last(&sb).sub(&last(&s).mul(&last(&p_desc)));
    // Reached before any coordinate hits the box: every coordinate moves by the same lambda.
    let case_uniform = b.sub(&change_at_smallest).gt(&zero);
    // Reached once some coordinates have hit the box: find the segment by bisection.
    let case_segment = b
        .sub(&b0)
        .gt(&zero)
        .mul(&case_uniform.neg().add_scalar(one));

    let segment = bisect_segment(&b, &sb, &s, &p_desc);
    let lambda_uniform = b.sub(&last(&sb)).div(&last(&s).neg()).maximum(&zero);
    let d_uniform = a.mul_scalar(two).add_scalar(-one).mul(&lambda_uniform);
    let lambda_segment = b
        .sub(&sb.gather(1, &segment))
        .div(&s.gather(1, &segment).neg())
        .maximum(&zero);
    let d_segment = lambda_segment.minimum(&d).mul(&a).add(
        &lambda_segment
            .neg()
            .maximum(&d)
            .mul(&a.neg().add_scalar(one)),
    );
    case_uniform
        .where_(&d_uniform, &case_segment.where_(&d_segment, &d))
        .mul(&moves)
}

/// The reference's bisection over the sorted breakpoints: for each row, the last index `k` (of
/// `ceil(log2 d)` halvings of `[0, d - 1]`) at which `b` still lies above the change
/// `sb[k] - s[k] * p_desc[k]`, as a `[B, 1]` index on the tensors' device.
fn bisect_segment<T: Element>(
    b: &Tensor<T>,
    sb: &Tensor<T>,
    s: &Tensor<T>,
    p_desc: &Tensor<T>,
) -> IndexTensor {
    let (rows, dim) = (sb.dims()[0], sb.dims()[1]);
    let device = sb.device();
    let steps = (usize::BITS - (dim - 1).leading_zeros()) as usize;
    let mut low = vec![0u32; rows];
    let mut high = vec![(dim - 1) as u32; rows];
    for _ in 0..steps {
        let middle: Vec<u32> = low.iter().zip(&high).map(|(&l, &h)| (l + h) / 2).collect();
        let at = upload_index(&middle, device);
        let change = sb
            .gather(1, &at)
            .sub(&s.gather(1, &at).mul(&p_desc.gather(1, &at)));
        let above = b.sub(&change).gt(&Tensor::scalar(T::zero())).to_f64_vec();
        for (row, &above) in above.iter().enumerate() {
            if above > 0.0 {
                low[row] = middle[row];
            } else {
                high[row] = middle[row];
            }
        }
    }
    upload_index(&low, device)
}

/// `indices` as a `[B, 1]` index tensor on `device`.
fn upload_index(indices: &[u32], device: Device) -> IndexTensor {
    Tensor::from_vec(indices.to_vec(), [indices.len(), 1])
        .to_device(device)
        .unwrap_or_else(|e| {
            panic!("projection_linf: moving the bisection's indices to {device}: {e}")
        })
}
