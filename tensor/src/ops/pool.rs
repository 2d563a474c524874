//! 2-D max and average pooling over NCHW tensors, and their gradients.

use std::mem::MaybeUninit;
use std::ops::Range;

use crate::cuda::GpuTensor;
use crate::element::Element;
use crate::ops::{on_gpu, pool_2x2};
use crate::parallel::for_each_row_mut;
use crate::shape::Shape;
use crate::simd;
use crate::tensor::{IndexTensor, Tensor};

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
    fn window(&self, oy: usize, ox: usize, h: usize, w: usize) -> (Range<usize>, Range<usize>) {
        let clip = |start: usize, len: usize| {
            let lo = start.max(self.padding) - self.padding;
            let hi = (start + self.kernel).min(len + self.padding) - self.padding;
            lo..hi.max(lo)
        };
        (clip(oy * self.stride, h), clip(ox * self.stride, w))
    }
}

/// The dimensions of an NCHW shape, panicking with the op's name otherwise.
pub(crate) fn check_nchw(op: &str, shape: &Shape) -> (usize, usize, usize, usize) {
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
pub(crate) fn check_max_pool_indices(grad: &Shape, indices: &Shape) {
    assert_eq!(
        grad, indices,
        "max_pool2d_backward: gradient {grad:?} and indices {indices:?} differ"
    );
}

/// The input height and width and pooled height and width of a pooling gradient `grad` for an
/// input of shape `input_shape`, panicking naming `op` unless `grad` has the pooled shape.
pub(crate) fn check_pooled_gradient(
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

/// The values and indices of one plane of a max pooling's output, before they are written.
type PlaneOut<'a, T> = (&'a mut [MaybeUninit<T>], &'a mut [MaybeUninit<u32>]);

/// Max pooling of one plane (`w` columns) with 2x2 windows, stride 2, no padding: the common
/// case, without the general loop's window clipping. Same choice as the general loop: the first
/// maximum in scan order, and a NaN wins over any number (the last NaN over earlier ones).
fn max_pool_2x2<T: Element>(
    plane: &[T],
    w: usize,
    ow: usize,
    vals: &mut [MaybeUninit<T>],
    inds: &mut [MaybeUninit<u32>],
) {
    // Branch-free, so that the compiler vectorises the row (inside `vectorized`).
    let better = |c: T, best: T| c > best || c.is_nan();
    simd::vectorized(
        #[inline(always)]
        || {
            for ((row_vals, row_inds), oy) in vals.chunks_mut(ow).zip(inds.chunks_mut(ow)).zip(0..)
            {
                let (upper, lower) = plane[2 * oy * w..(2 * oy + 2) * w].split_at(w);
                let (upper, lower) = (&upper[..2 * ow], &lower[..2 * ow]);
                let top = (2 * oy * w) as u32;
                for (ox, (v, i)) in row_vals.iter_mut().zip(row_inds.iter_mut()).enumerate() {
                    let at = top + 2 * ox as u32;
                    let (mut best, mut best_at) = (upper[2 * ox], at);
                    let candidates = [
                        (upper[2 * ox + 1], at + 1),
                        (lower[2 * ox], at + w as u32),
                        (lower[2 * ox + 1], at + w as u32 + 1),
                    ];
                    for (c, c_at) in candidates {
                        let take = better(c, best);
                        best = if take { c } else { best };
                        best_at = if take { c_at } else { best_at };
                    }
                    v.write(best);
                    i.write(best_at);
                }
            }
        },
    );
}

impl<T: Element> Tensor<T> {
    /// Max pooling; also returns, for each output, the flat index `y * W + x` of the chosen
    /// input inside its plane (the first maximum in scan order on ties, as PyTorch).
    pub fn max_pool2d(&self, geom: Pool2dGeometry) -> (Tensor<T>, IndexTensor) {
        T::tensor_max_pool2d(self, geom)
    }

    /// Gradient of [`Tensor::max_pool2d`]: sends each output gradient (`self`) to its recorded
    /// input position, summing where windows overlap.
    pub fn max_pool2d_backward(
        &self,
        indices: &IndexTensor,
        input_shape: &Shape,
        geom: Pool2dGeometry,
    ) -> Tensor<T> {
        T::tensor_max_pool2d_backward(self, indices, input_shape, geom)
    }

    /// Average pooling; padding counts as zeros in the mean (PyTorch's `count_include_pad`).
    pub fn avg_pool2d(&self, geom: Pool2dGeometry) -> Tensor<T> {
        T::tensor_avg_pool2d(self, geom)
    }

    /// Gradient of [`Tensor::avg_pool2d`]: spreads each output gradient (`self`) evenly over
    /// its window.
    pub fn avg_pool2d_backward(&self, input_shape: &Shape, geom: Pool2dGeometry) -> Tensor<T> {
        T::tensor_avg_pool2d_backward(self, input_shape, geom)
    }
}

/// The bodies of the ops above, compiled once per element type in this crate: see
/// [`crate::compiled`].
impl<T: Element> Tensor<T> {
    pub(crate) fn max_pool2d_impl(&self, geom: Pool2dGeometry) -> (Tensor<T>, IndexTensor) {
        if let Some(x) = on_gpu::view::<T, f32>(self) {
            return match x.max_pool2d(geom) {
                Ok((values, indices)) => (
                    Tensor::from_gpu_parts(values),
                    Tensor::from_gpu_parts(indices),
                ),
                Err(e) => panic!("max_pool2d on the GPU: {e}"),
            };
        }
        let (n, c, h, w) = check_nchw("max_pool2d", self.shape());
        let (oh, ow) = geom.output_size(h, w);
        let len = n * c * oh * ow;
        let (mut out, mut idx) = (Vec::with_capacity(len), Vec::with_capacity(len));
        let src = self.data();
        // Interleave value and index work per plane so both outputs are written together.
        let mut planes: Vec<PlaneOut<'_, T>> = out.spare_capacity_mut()[..len]
            .chunks_mut(oh * ow)
            .zip(idx.spare_capacity_mut()[..len].chunks_mut(oh * ow))
            .collect();
        let halving = geom == Pool2dGeometry::new(2, 2, 0);
        // Every path below writes each of a plane's `oh * ow` values and indices.
        let work =
            |p: usize, (vals, inds): &mut (&mut [MaybeUninit<T>], &mut [MaybeUninit<u32>])| {
                let plane = &src[p * h * w..(p + 1) * h * w];
                if halving && pool_2x2::available::<T>() {
                    pool_2x2::max_pool_2x2_rows(plane, w, ow, vals, inds);
                    return;
                }
                if halving {
                    max_pool_2x2(plane, w, ow, vals, inds);
                    return;
                }
                for oy in 0..oh {
                    for ox in 0..ow {
                        let (mut best, mut at) = (T::neg_infinity(), usize::MAX);
                        let (rows, cols) = geom.window(oy, ox, h, w);
                        for y in rows {
                            for x in cols.clone() {
                                let v = plane[y * w + x];
                                if at == usize::MAX || v > best || v.is_nan() {
                                    best = v;
                                    at = y * w + x;
                                }
                            }
                        }
                        vals[oy * ow + ox].write(best);
                        inds[oy * ow + ox].write(at as u32);
                    }
                }
            };
        if crate::parallel::worth_splitting(self.numel()) {
            use rayon::prelude::*;
            planes
                .par_iter_mut()
                .enumerate()
                .for_each(|(p, pl)| work(p, pl));
        } else {
            planes
                .iter_mut()
                .enumerate()
                .for_each(|(p, pl)| work(p, pl));
        }
        drop(planes);
        // SAFETY: `work` wrote every value and index of every plane, the first `len` of each.
        unsafe { (out.set_len(len), idx.set_len(len)) };
        (
            Tensor::from_vec(out, [n, c, oh, ow]),
            Tensor::from_vec(idx, [n, c, oh, ow]),
        )
    }

    pub(crate) fn max_pool2d_backward_impl(
        &self,
        indices: &IndexTensor,
        input_shape: &Shape,
        geom: Pool2dGeometry,
    ) -> Tensor<T> {
        let (_, _, h, w) = check_nchw("max_pool2d_backward", input_shape);
        check_max_pool_indices(self.shape(), indices.shape());
        assert_eq!(
            (self.dims()[2], self.dims()[3]),
            geom.output_size(h, w),
            "max_pool2d_backward: gradient {:?} is not the pooled size of input {input_shape:?}",
            self.shape()
        );
        if on_gpu::common_device("max_pool2d_backward", self, indices).is_gpu() {
            let (g, i) = (on_gpu::view(self), on_gpu::view(indices));
            let (g, i): (GpuTensor<f32>, GpuTensor<u32>) = (g.unwrap(), i.unwrap());
            return on_gpu::done(
                "max_pool2d_backward",
                g.max_pool2d_backward(&i, input_shape, geom),
            );
        }
        let per_plane = self.dims()[2] * self.dims()[3];
        let mut dx = vec![T::zero(); input_shape.numel()];
        for_each_row_mut(&mut dx, h * w, 1, |p, plane| {
            let g = &self.data()[p * per_plane..(p + 1) * per_plane];
            let at = &indices.data()[p * per_plane..(p + 1) * per_plane];
            for (&gv, &i) in g.iter().zip(at) {
                plane[i as usize] = plane[i as usize] + gv;
            }
        });
        Tensor::from_vec(dx, input_shape.clone())
    }

    pub(crate) fn avg_pool2d_impl(&self, geom: Pool2dGeometry) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("avg_pool2d", self, |x| x.avg_pool2d(geom)) {
            return out;
        }
        let (n, c, h, w) = check_nchw("avg_pool2d", self.shape());
        let (oh, ow) = geom.output_size(h, w);
        let scale = T::one() / T::from_usize(geom.kernel * geom.kernel).unwrap();
        let mut out = vec![T::zero(); n * c * oh * ow];
        for_each_row_mut(&mut out, oh * ow, geom.kernel * geom.kernel, |p, dst| {
            let plane = &self.data()[p * h * w..(p + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    let (rows, cols) = geom.window(oy, ox, h, w);
                    let sum = rows.fold(T::zero(), |s, y| {
                        plane[y * w + cols.start..y * w + cols.end]
                            .iter()
                            .fold(s, |s, &v| s + v)
                    });
                    dst[oy * ow + ox] = sum * scale;
                }
            }
        });
        Tensor::from_vec(out, [n, c, oh, ow])
    }

    pub(crate) fn avg_pool2d_backward_impl(
        &self,
        input_shape: &Shape,
        geom: Pool2dGeometry,
    ) -> Tensor<T> {
        if let Some(out) = on_gpu::unary("avg_pool2d_backward", self, |g| {
            g.avg_pool2d_backward(input_shape, geom)
        }) {
            return out;
        }
        let (h, w, oh, ow) =
            check_pooled_gradient("avg_pool2d_backward", self.shape(), input_shape, geom);
        let scale = T::one() / T::from_usize(geom.kernel * geom.kernel).unwrap();
        let mut dx = vec![T::zero(); input_shape.numel()];
        for_each_row_mut(&mut dx, h * w, geom.kernel * geom.kernel, |p, plane| {
            let g = &self.data()[p * oh * ow..(p + 1) * oh * ow];
            for oy in 0..oh {
                for ox in 0..ow {
                    let share = g[oy * ow + ox] * scale;
                    let (rows, cols) = geom.window(oy, ox, h, w);
                    for y in rows {
                        for v in &mut plane[y * w + cols.start..y * w + cols.end] {
                            *v = *v + share;
                        }
                    }
                }
            }
        });
        Tensor::from_vec(dx, input_shape.clone())
    }
}
