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
//! The matrix products run on the packed micro-kernel ([`multiply_strip_to`]), so this route is
//! for the element types and CPUs where [`crate::ops::packed_gemm::available`] holds.

use crate::element::Element;
use crate::ops::packed_gemm::{MR, NR, PackedLhs, multiply_strip_to};
use crate::scratch::Scratch;
use crate::simd;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Points of the 4x4 transform: one matrix product each.
pub(super) const POINTS: usize = 16;

/// Fewest tiles (columns of the products) a task aims to give each product: below it the
/// partial last column block of the micro-kernel wastes too much.
pub(super) const MIN_TILES: usize = 64;

/// Bytes of transformed input and products one step of a task aims to keep (the 16 planes of
/// `V` and of `M` for its tiles), so that they stay near the core between the three phases.
pub(super) const STEP_BYTES: usize = 768 * 1024;

/// The shapes of one F(2x2, 3x3) convolution: NCHW input, `out_ch` 3x3 kernels, stride 1.
#[derive(Clone, Copy, Debug)]
pub struct WinogradShape {
    /// Input channels.
    pub channels: usize,
    /// Input height and width.
    pub h: usize,
    pub w: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Zeros on every side of the input.
    pub padding: usize,
}

impl WinogradShape {
    /// Output height and width: `h + 2 padding - 2` by `w + 2 padding - 2`.
    pub(super) fn output(&self) -> (usize, usize) {
        (self.h + 2 * self.padding - 2, self.w + 2 * self.padding - 2)
    }

    /// Tiles (2x2 output blocks) per image.
    pub fn tile_count(&self) -> usize {
        let (th, tw) = self.tiles();
        th * tw
    }

    /// Tile rows and columns: the output in 2x2 blocks, rounded up.
    pub(super) fn tiles(&self) -> (usize, usize) {
        let (oh, ow) = self.output();
        (oh.div_ceil(2), ow.div_ceil(2))
    }

    /// Height and width of the padded input the tiles read: two more than twice the tiles, so
    /// that a partial last tile reads zeros.
    pub(super) fn padded(&self) -> (usize, usize) {
        let (th, tw) = self.tiles();
        (2 * th + 2, 2 * tw + 2)
    }
}

/// The 16 transformed weight matrices `U[ξ]` (`[O, C]` each), packed for the micro-kernel.
pub struct WinogradWeights<T> {
    points: Vec<PackedLhs<T>>,
}

impl<T: Element> WinogradWeights<T> {
    /// Transforms OIHW 3x3 weights `[out_ch, channels, 3, 3]` (`transform_kernel` on each),
    /// writing each `U[ξ]` straight in the micro-kernel's strip layout; strips run in parallel.
    pub fn new(weight: &[T], out_ch: usize, channels: usize) -> Self {
        assert_eq!(
            weight.len(),
            out_ch * channels * 9,
            "winograd: weight of {} values for [{out_ch}, {channels}, 3, 3]",
            weight.len()
        );
        let (strips, strip_len) = (out_ch.div_ceil(MR), MR * channels);
        let mut points: Vec<Vec<T>> = (0..POINTS)
            .map(|_| vec![T::zero(); strips * strip_len])
            .collect();
        // For each strip, its slice of every one of the 16 matrices.
        let mut per_strip: Vec<Vec<&mut [T]>> = (0..strips).map(|_| Vec::new()).collect();
        for point in &mut points {
            for (s, strip) in point.chunks_exact_mut(strip_len).enumerate() {
                per_strip[s].push(strip);
            }
        }
        per_strip
            .into_par_iter()
            .enumerate()
            .for_each(|(s, mut strip)| {
                for i in 0..MR.min(out_ch - s * MR) {
                    let kernels = &weight[(s * MR + i) * channels * 9..][..channels * 9];
                    for (c, g) in kernels.chunks_exact(9).enumerate() {
                        let u = transform_kernel(g.try_into().expect("3x3 kernel"));
                        for (point, &value) in strip.iter_mut().zip(&u) {
                            point[c * MR + i] = value;
                        }
                    }
                }
            });
        let points = points
            .into_iter()
            .map(|data| PackedLhs::from_packed(data, out_ch, channels))
            .collect();
        WinogradWeights { points }
    }
}

/// `U = G g G^T` for one 3x3 kernel `g` (row-major), the 4x4 result row-major, with
/// `G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]`.
#[inline]
fn transform_kernel<T: Element>(g: &[T; 9]) -> [T; POINTS] {
    let half = T::from_f64_lossy(0.5);
    // G times a row or column of three.
    let expand = |a: T, b: T, c: T| [a, (a + b + c) * half, (a - b + c) * half, c];
    // gg[j][i] = (G g)[i][j]: G down each column of g.
    let gg = [
        expand(g[0], g[3], g[6]),
        expand(g[1], g[4], g[7]),
        expand(g[2], g[5], g[8]),
    ];
    let mut u = [T::zero(); POINTS];
    for (i, row) in u.chunks_exact_mut(4).enumerate() {
        row.copy_from_slice(&expand(gg[0][i], gg[1][i], gg[2][i]));
    }
    u
}

/// One row of tiles of one image: the unit the tasks' steps are made of.
#[derive(Clone, Copy)]
pub(super) struct TileRow {
    /// Image within the task.
    pub image: usize,
    /// Tile row within the image.
    pub ty: usize,
    /// First column of the row within the step's products.
    pub column: usize,
}

/// `y = conv3x3(x) + bias` by F(2x2, 3x3) for every image of `x` (`[N, C, H, W]`), written to
/// `y` (`[N, O, OH, OW]`, every element once). Tasks of whole images run in parallel; each
/// cuts its tile rows into steps of a few hundred kilobytes of transformed data and for each
/// step transforms the input, runs the 16 products, and transforms the products back into
/// outputs. Every output is one fixed sum: the bits do not depend on the thread count.
pub fn winograd_conv<T: Element>(
    shape: &WinogradShape,
    weights: &WinogradWeights<T>,
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [MaybeUninit<T>],
) {
    let (oh, ow) = shape.output();
    let (_, tw) = shape.tiles();
    let (in_size, out_size) = (shape.channels * shape.h * shape.w, shape.out_ch * oh * ow);
    if in_size == 0 || out_size == 0 {
        return;
    }
    let n = y.len() / out_size;
    let group = MIN_TILES
        .div_ceil(shape.tile_count())
        .max(n.div_ceil(4 * rayon::current_num_threads()))
        .min(n.div_ceil(rayon::current_num_threads()))
        .max(1);
    let step_tiles = (STEP_BYTES / (POINTS * (shape.channels + shape.out_ch) * size_of::<T>()))
        .max(MIN_TILES)
        .max(tw);
    y.par_chunks_mut(group * out_size)
        .zip(x.par_chunks(group * in_size))
        .for_each(|(y, x)| {
            let images = y.len() / out_size;
            let mut buffers = StepBuffers::new(shape, step_tiles.next_multiple_of(NR));
            for step in steps(images, shape, step_tiles) {
                let columns = (step.len() * tw).next_multiple_of(NR);
                buffers.transform_input(shape, x, &step, columns);
                buffers.multiply(weights, shape, columns);
                buffers.transform_output(shape, bias, &step, columns, y);
            }
        });
}

/// The tile rows of `images` images cut into steps of about `step_tiles` tiles (at least one
/// tile row each), in order; a step's tile rows are its products' columns side by side.
pub(super) fn steps(images: usize, shape: &WinogradShape, step_tiles: usize) -> Vec<Vec<TileRow>> {
    let (th, tw) = shape.tiles();
    let per_step = (step_tiles / tw).max(1);
    let rows: Vec<(usize, usize)> = (0..images)
        .flat_map(|image| (0..th).map(move |ty| (image, ty)))
        .collect();
    rows.chunks(per_step)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .map(|(k, &(image, ty))| TileRow {
                    image,
                    ty,
                    column: k * tw,
                })
                .collect()
        })
        .collect()
}

/// Tiles the transforms handle at once: one 512-bit vector of `f32` per value of a patch.
pub(super) const LANES: usize = 16;

/// One value of [`LANES`] neighbouring tiles. The transforms work on these fixed-size arrays
/// so that every add or subtract is one vector instruction (see [`simd::vectorized`]).
pub(super) type Lanes<T> = [T; LANES];

/// The [`LANES`] values of `src` from `at`.
#[inline(always)]
pub(super) fn load<T: Element>(src: &[T], at: usize) -> Lanes<T> {
    src[at..at + LANES].try_into().expect("LANES values")
}

/// Writes `lanes` into `dst` from `at`.
#[inline(always)]
pub(super) fn store<T: Element>(dst: &mut [T], at: usize, lanes: &Lanes<T>) {
    dst[at..at + LANES].copy_from_slice(lanes);
}

/// `a + b` lane by lane.
#[inline(always)]
pub(super) fn add<T: Element>(a: Lanes<T>, b: Lanes<T>) -> Lanes<T> {
    let mut sum = a;
    for (s, b) in sum.iter_mut().zip(b) {
        *s = *s + b;
    }
    sum
}

/// `a - b` lane by lane.
#[inline(always)]
pub(super) fn sub<T: Element>(a: Lanes<T>, b: Lanes<T>) -> Lanes<T> {
    let mut difference = a;
    for (d, b) in difference.iter_mut().zip(b) {
        *d = *d - b;
    }
    difference
}

/// Column `j` of `rows`: element `j` of each row.
#[inline(always)]
pub(super) fn column_of<T: Copy, const R: usize, const N: usize>(
    rows: &[[T; N]; R],
    j: usize,
) -> [T; R] {
    let mut column = [rows[0][j]; R];
    for (c, row) in column.iter_mut().zip(rows) {
        *c = row[j];
    }
    column
}

/// `B^T d` for four values `d` of a patch's row or column: `[d0 - d2, d1 + d2, d2 - d1,
/// d1 - d3]`.
#[inline(always)]
fn row_transform<T: Element>(d: [Lanes<T>; 4]) -> [Lanes<T>; 4] {
    [
        sub(d[0], d[2]),
        add(d[1], d[2]),
        sub(d[2], d[1]),
        sub(d[1], d[3]),
    ]
}

/// `A^T m` for four values `m` of a row of the products: `[m0 + m1 + m2, m1 - m2 - m3]`.
#[inline(always)]
fn row_products<T: Element>([m0, m1, m2, m3]: [Lanes<T>; 4]) -> [Lanes<T>; 2] {
    [add(add(m0, m1), m2), sub(sub(m1, m2), m3)]
}

/// Values between the starts of two of the 16 planes of `V` or `M` (`rows` of `columns`): one
/// cache line more than the plane, so that the same element of the 16 planes, which the
/// transforms read or write together, falls in 16 different cache sets rather than one.
pub(super) fn plane_len(rows: usize, columns: usize) -> usize {
    rows * columns + 64 / size_of::<f32>()
}

/// The image of a task being transformed, `[C, PH, PW]`, zero around the interior. Each row is
/// stored de-interleaved, its even columns then its odd ones, so that the four values a tile
/// reads from a row are two neighbours in each half and the transform loops run at unit stride.
pub(super) struct PaddedImage<T> {
    values: Vec<T>,
    /// Image of the task held in `values`.
    image: Option<usize>,
}

impl<T: Element> PaddedImage<T> {
    /// Room for one image of `shape`, zero.
    pub(super) fn new(shape: &WinogradShape) -> Self {
        let (ph, pw) = shape.padded();
        PaddedImage {
            values: vec![T::zero(); shape.channels * ph * pw],
            image: None,
        }
    }

    /// Image `image` of the task's input `x` (`[images, C, H, W]`) padded, copied in (see
    /// [`pad_image`]) unless it is the one held already.
    pub(super) fn of(&mut self, shape: &WinogradShape, x: &[T], image: usize) -> &[T] {
        if self.image != Some(image) {
            let size = shape.channels * shape.h * shape.w;
            pad_image(shape, &x[image * size..][..size], &mut self.values);
            self.image = Some(image);
        }
        &self.values
    }
}

/// A task's working buffers: one image zero-padded, `V` and `M` for one step (taken from the
/// thread's pool: every value of `V` and `M` a step reads, it wrote first).
struct StepBuffers<T: Element> {
    /// The image being transformed.
    padded: PaddedImage<T>,
    /// `V`: `[16, C, columns]`.
    v: Scratch<T>,
    /// `M`: `[16, O rounded up to whole strips, columns]`.
    m: Scratch<T>,
}

impl<T: Element> StepBuffers<T> {
    fn new(shape: &WinogradShape, max_columns: usize) -> Self {
        let strips_rows = shape.out_ch.next_multiple_of(MR);
        StepBuffers {
            padded: PaddedImage::new(shape),
            v: Scratch::take(POINTS * plane_len(shape.channels, max_columns)),
            m: Scratch::take(POINTS * plane_len(strips_rows, max_columns)),
        }
    }

    /// `V = B^T d B` for every tile of the step and every channel, into `v` (`[16, C,
    /// columns]`), with `B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
    fn transform_input(
        &mut self,
        shape: &WinogradShape,
        x: &[T],
        step: &[TileRow],
        columns: usize,
    ) {
        let (_, tw) = shape.tiles();
        let c_count = shape.channels;
        let len = plane_len(c_count, columns);
        let used = step.len() * tw;
        if used < columns {
            for plane in self.v[..POINTS * len].chunks_exact_mut(len) {
                for row in plane[..c_count * columns].chunks_exact_mut(columns) {
                    row[used..].fill(T::zero());
                }
            }
        }
        // Gather the patches' values plane by plane (see `gather_patches`), then transform.
        for row in step {
            let (padded, v) = (self.padded.of(shape, x, row.image), &mut self.v);
            let at = (row.ty, row.column, columns, len);
            simd::vectorized(
                #[inline(always)]
                || gather_patches(padded, shape, at, v),
            );
        }
        let v = &mut self.v;
        simd::vectorized(
            #[inline(always)]
            || transform_patches(v, len, c_count * columns),
        );
    }

    /// `M[ξ] = U[ξ] V[ξ]` for the 16 points, [`MR`] rows by [`NR`] columns at a time.
    fn multiply(&mut self, weights: &WinogradWeights<T>, shape: &WinogradShape, columns: usize) {
        let (c_count, rows) = (shape.channels, shape.out_ch.next_multiple_of(MR));
        for (xi, u) in weights.points.iter().enumerate() {
            let v = &self.v[xi * plane_len(c_count, columns)..][..c_count * columns];
            let m = &mut self.m[xi * plane_len(rows, columns)..][..rows * columns];
            for s in 0..u.strips() {
                for c0 in (0..columns).step_by(NR) {
                    let out = &mut m[s * MR * columns + c0..];
                    multiply_strip_to(u, s, &v[c0..], columns, out, columns);
                }
            }
        }
    }

    /// `Y = A^T M A` for every tile of the step and every output channel, plus the bias, into
    /// the task's output `y` (`[images, O, OH, OW]`), with `A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
    fn transform_output(
        &mut self,
        shape: &WinogradShape,
        bias: Option<&[T]>,
        step: &[TileRow],
        columns: usize,
        y: &mut [MaybeUninit<T>],
    ) {
        let (oh, ow) = shape.output();
        let (_, tw) = shape.tiles();
        let len = plane_len(shape.out_ch.next_multiple_of(MR), columns);
        let m = &mut self.m;
        simd::vectorized(
            #[inline(always)]
            || transform_products(m, len, shape.out_ch, columns, bias),
        );
        // Scatter: the two output columns of each tile interleaved into its two output rows.
        let m = &self.m;
        for row in step {
            for o in 0..shape.out_ch {
                let out = &mut y[(row.image * shape.out_ch + o) * oh * ow..][..oh * ow];
                for dy in 0..2 {
                    let oy = 2 * row.ty + dy;
                    if oy >= oh {
                        break;
                    }
                    let at = o * columns + row.column;
                    let left = &m[2 * dy * len + at..][..tw];
                    let right = &m[(2 * dy + 1) * len + at..][..tw];
                    let dst = &mut out[oy * ow..][..ow];
                    simd::vectorized(
                        #[inline(always)]
                        || interleave(left, right, dst),
                    );
                }
            }
        }
    }
}

/// Copies one image `x` (`[C, H, W]`) into the interior of `padded` (`[C, PH, PW]`, zero
/// around the interior, which it leaves alone), each row de-interleaved: its even columns,
/// then its odd ones (see [`PaddedImage`]).
fn pad_image<T: Element>(shape: &WinogradShape, x: &[T], padded: &mut [T]) {
    let (ph, pw) = shape.padded();
    let (p, plane, half) = (shape.padding, shape.h * shape.w, pw / 2);
    simd::vectorized(
        #[inline(always)]
        || {
            for (src, dst) in x.chunks_exact(plane).zip(padded.chunks_exact_mut(ph * pw)) {
                for (y, row) in src.chunks_exact(shape.w).enumerate() {
                    let (even, odd) = dst[(y + p) * pw..][..pw].split_at_mut(half);
                    // Column `x` of the image is column `x + p` of the padded row.
                    let (first, second) = if p % 2 == 0 {
                        (&mut even[p / 2..], &mut odd[p / 2..])
                    } else {
                        (&mut odd[p / 2..], &mut even[p / 2 + 1..])
                    };
                    deinterleave(row, first, second);
                }
            }
        },
    );
}

/// Splits `src` into its even-indexed values, written to the front of `even`, and its odd ones,
/// to the front of `odd`.
#[inline(always)]
fn deinterleave<T: Copy>(src: &[T], even: &mut [T], odd: &mut [T]) {
    let pairs = src.len() / 2;
    let (even, odd) = (&mut even[..src.len() - pairs], &mut odd[..pairs]);
    for ((pair, e), o) in src.chunks_exact(2).zip(even.iter_mut()).zip(odd.iter_mut()) {
        *e = pair[0];
        *o = pair[1];
    }
    if src.len() % 2 == 1 {
        even[pairs] = src[src.len() - 1];
    }
}

/// Writes `left[0], right[0], left[1], right[1], ...` into `dst`, as many as it holds (at most
/// one more than twice `right`).
#[inline(always)]
fn interleave<T: Copy>(left: &[T], right: &[T], dst: &mut [MaybeUninit<T>]) {
    let pairs = dst.len() / 2;
    for ((pair, &l), &r) in dst
        .chunks_exact_mut(2)
        .zip(&left[..pairs])
        .zip(&right[..pairs])
    {
        pair[0].write(l);
        pair[1].write(r);
    }
    if dst.len() % 2 == 1 {
        dst[2 * pairs].write(left[pairs]);
    }
}

/// The gather of [`StepBuffers::transform_input`] for one tile row `ty` of the image in `padded`
/// (every channel), its tiles at `column..` of the step: plane `4 a + j` of `v` gets value
/// `(a, j)` of every tile's 4x4 patch, the padded image at row `2 ty + a`, column `2 tx + j`,
/// a run of `tw` neighbours in the even (`j` even) or odd half of that row. A plain function
/// inlined into [`simd::vectorized`]'s caller, so that it is compiled for the wide vectors.
#[inline(always)]
fn gather_patches<T: Element>(
    padded: &[T],
    shape: &WinogradShape,
    (ty, column, columns, len): (usize, usize, usize, usize),
    v: &mut [T],
) {
    let (ph, pw) = shape.padded();
    let (_, tw) = shape.tiles();
    let half = pw / 2;
    for (c, plane) in padded.chunks_exact(ph * pw).enumerate() {
        let at = c * columns + column;
        for a in 0..4 {
            let (even, odd) = plane[(2 * ty + a) * pw..][..pw].split_at(half);
            for j in 0..4 {
                let src = if j % 2 == 0 { even } else { odd };
                let dst = &mut v[(4 * a + j) * len + at..][..tw];
                simd::copy_run(dst, &src[j / 2..j / 2 + tw]);
            }
        }
    }
}

/// `V = B^T d B` in place over the first `count` values of each of the 16 planes of `v`
/// (`len` apart), [`LANES`] at a time.
#[inline(always)]
pub(super) fn transform_patches<T: Element>(v: &mut [T], len: usize, count: usize) {
    for p in (0..count).step_by(LANES) {
        // B^T along each row of the patches ...
        let h = [
            row_transform(points_of_row(v, len, p, 0)),
            row_transform(points_of_row(v, len, p, 1)),
            row_transform(points_of_row(v, len, p, 2)),
            row_transform(points_of_row(v, len, p, 3)),
        ];
        // ... then down each column.
        for j in 0..4 {
            let column = row_transform(column_of(&h, j));
            for (i, lanes) in column.iter().enumerate() {
                store(v, (4 * i + j) * len + p, lanes);
            }
        }
    }
}

/// The [`LANES`] values at `p` of the four planes `4 row..4 row + 4` of `planes` (`len`
/// apart): one row of the tiles' 4x4 patches or products.
#[inline(always)]
fn points_of_row<T: Element>(planes: &[T], len: usize, p: usize, row: usize) -> [Lanes<T>; 4] {
    let at = 4 * row * len + p;
    [
        load(planes, at),
        load(planes, at + len),
        load(planes, at + 2 * len),
        load(planes, at + 3 * len),
    ]
}

/// `Y = A^T M A` plus the bias in place over the 16 planes of `m` (`len` apart, `out_ch` rows
/// of `columns` each used), [`LANES`] at a time: output `(dy, dx)` of each tile into plane
/// `2 dy + dx`.
#[inline(always)]
fn transform_products<T: Element>(
    m: &mut [T],
    len: usize,
    out_ch: usize,
    columns: usize,
    bias: Option<&[T]>,
) {
    for o in 0..out_ch {
        let b = [bias.map_or(T::zero(), |b| b[o]); LANES];
        for p in (o * columns..(o + 1) * columns).step_by(LANES) {
            // A^T along each row of the 4x4 products ...
            let q = [
                row_products(points_of_row(m, len, p, 0)),
                row_products(points_of_row(m, len, p, 1)),
                row_products(points_of_row(m, len, p, 2)),
                row_products(points_of_row(m, len, p, 3)),
            ];
            // ... then down the columns.
            for dx in 0..2 {
                let [q0, q1, q2, q3] = column_of(&q, dx);
                let upper = add(add(add(q0, q1), q2), b);
                let lower = add(sub(sub(q1, q2), q3), b);
                store(m, dx * len + p, &upper);
                store(m, (2 + dx) * len + p, &lower);
            }
        }
    }
}
