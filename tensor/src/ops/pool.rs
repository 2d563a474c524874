//! 2-D max and average pooling over NCHW tensors, and their gradients.

use std::mem::MaybeUninit;

use crate::backend::BackendOps;
use crate::device::Device;
use crate::element::Element;
use crate::ops::placement::agree;
use crate::ops::pool_2x2;
use crate::parallel::{collect_rows, for_each_row_mut};
use crate::shape::Shape;
use crate::simd;
use crate::tensor::{IndexTensor, Storage, Tensor};
use tensor_spec::pool::{check_max_pool_indices, check_nchw, check_pooled_gradient};

pub use tensor_spec::Pool2dGeometry;

/// The values and indices of one plane of a max pooling's output, before they are written.
type PlaneOut<'a, T> = (&'a mut [MaybeUninit<T>], &'a mut [MaybeUninit<u32>]);

/// The largest of a 2x2 window's four values, each with its index, in scan order (upper left,
/// upper right, lower left, lower right): the first maximum, and a NaN over any number (the
/// last NaN over earlier ones), the general loop's choice. Branch-free, so that a loop over
/// windows vectorises (inside `vectorized`).
#[inline(always)]
pub(crate) fn window_max<T: Element>(window: [(T, u32); 4]) -> (T, u32) {
    let [(mut best, mut best_at), rest @ ..] = window;
    for (c, c_at) in rest {
        let take = c > best || c.is_nan();
        best = if take { c } else { best };
        best_at = if take { c_at } else { best_at };
    }
    (best, best_at)
}

/// Max pooling of one plane (`w` columns) with 2x2 windows, stride 2, no padding: the common
/// case, without the general loop's window clipping ([`window_max`]).
fn max_pool_2x2<T: Element>(
    plane: &[T],
    w: usize,
    ow: usize,
    vals: &mut [MaybeUninit<T>],
    inds: &mut [MaybeUninit<u32>],
) {
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
                    let (best, best_at) = window_max([
                        (upper[2 * ox], at),
                        (upper[2 * ox + 1], at + 1),
                        (lower[2 * ox], at + w as u32),
                        (lower[2 * ox + 1], at + w as u32 + 1),
                    ]);
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
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::max_pool2d(self, geom),
            Storage::Gpu(x) => {
                let (values, indices) = T::Gpu::max_pool2d(x, geom);
                (
                    Tensor::from_gpu_storage(values),
                    Tensor::from_gpu_storage(indices),
                )
            }
        }
    }

    /// Gradient of [`Tensor::max_pool2d`]: sends each output gradient (`self`) to its recorded
    /// input position, summing where windows overlap.
    pub fn max_pool2d_backward(
        &self,
        indices: &IndexTensor,
        input_shape: &Shape,
        geom: Pool2dGeometry,
    ) -> Tensor<T> {
        match agree("max_pool2d_backward", &[self.placed(), indices.placed()]) {
            Device::Cpu => T::Cpu::max_pool2d_backward(self, indices, input_shape, geom),
            device => Tensor::from_gpu_storage(T::Gpu::max_pool2d_backward(
                &self.gpu_operand("max_pool2d_backward", device),
                &indices.gpu_operand("max_pool2d_backward", device),
                input_shape,
                geom,
            )),
        }
    }

    /// Average pooling; padding counts as zeros in the mean (PyTorch's `count_include_pad`).
    pub fn avg_pool2d(&self, geom: Pool2dGeometry) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::avg_pool2d(self, geom),
            Storage::Gpu(x) => Tensor::from_gpu_storage(T::Gpu::avg_pool2d(x, geom)),
        }
    }

    /// Gradient of [`Tensor::avg_pool2d`]: spreads each output gradient (`self`) evenly over
    /// its window.
    pub fn avg_pool2d_backward(&self, input_shape: &Shape, geom: Pool2dGeometry) -> Tensor<T> {
        match self.storage() {
            Storage::Cpu(_) => T::Cpu::avg_pool2d_backward(self, input_shape, geom),
            Storage::Gpu(x) => {
                Tensor::from_gpu_storage(T::Gpu::avg_pool2d_backward(x, input_shape, geom))
            }
        }
    }
}

/// The CPU bodies of the ops above, compiled once per element type in this crate (see
/// [`crate::backend`]).
impl<T: Element> Tensor<T> {
    pub(crate) fn max_pool2d_impl(&self, geom: Pool2dGeometry) -> (Tensor<T>, IndexTensor) {
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
        let work = |p: usize, (vals, inds): &mut PlaneOut<'_, T>| {
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
        let (per_plane, plane_len) = (self.dims()[2] * self.dims()[3], h * w);
        if plane_len == 0 {
            return Tensor::zeros(input_shape.clone());
        }
        // Each plane zeroed by the task that scatters into it (while it is in the core's
        // cache) rather than all of `dx` up front on one thread.
        let (g, at) = (self.data(), indices.data());
        let dx = collect_rows(input_shape.numel(), plane_len, |p, plane| {
            let plane = zeroed(plane);
            let g = &g[p * per_plane..(p + 1) * per_plane];
            let at = &at[p * per_plane..(p + 1) * per_plane];
            for (&gv, &i) in g.iter().zip(at) {
                plane[i as usize] = plane[i as usize] + gv;
            }
        });
        Tensor::from_vec(dx, input_shape.clone())
    }

    pub(crate) fn avg_pool2d_impl(&self, geom: Pool2dGeometry) -> Tensor<T> {
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

/// Writes zero to every element of `values` and returns them as initialised.
fn zeroed<T: Element>(values: &mut [MaybeUninit<T>]) -> &mut [T] {
    for v in values.iter_mut() {
        v.write(T::zero());
    }
    // SAFETY: every element was written just above; `MaybeUninit<T>` has `T`'s layout.
    unsafe { &mut *(values as *mut [MaybeUninit<T>] as *mut [T]) }
}
