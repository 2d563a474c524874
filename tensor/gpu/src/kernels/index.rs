//! Indexing by integer tensors on the GPU: gather, scatter_add, one_hot, mirroring
//! `tensor::ops::index`. Indices are `GpuTensor<u32>`.
//!
//! Out-of-range index values are a programmer error that the CPU ops catch with a panic. Reading
//! a flag back here would make every gather wait for the device, so the check is deferred, as
//! PyTorch's device-side asserts are: a small `check_below` kernel records bad values in the
//! device's fault word (`Gpu::index_check`), the op kernels never read out of bounds (gather
//! writes 0 for a bad index; scatter-add and one-hot never match one), and the next read from the
//! device fails with the CPU op's message.
//!
//! `scatter_add` is deterministic and uses no atomics: one thread per *target* element walks
//! the index positions that can land on it (those that share its coordinates off `axis`) in
//! increasing order and adds the matching sources in that order, exactly the summation order of
//! the CPU loop, so the results agree bit for bit. The cost is `index.dims()[axis]` index reads
//! per target element: one read for a cross-entropy backward, where the axis has length 1.

use super::movement::launch::{strided_slots, to_u32};
use super::movement::snippets::{
    MAX_RANK, element_addr, load_base, param_slots, strided_offset_ptx, thread_index,
};
use crate::device_tensor::{GpuScalar, GpuTensor};
use crate::error::GpuError;
use crate::launch::{BLOCK_1D, KernelArg, LaunchConfig};
use crate::module::{PTX_HEADER, PtxModule};
use std::fmt::Write;
use tensor_spec::Shape;
use tensor_spec::checks::{check_index_fits, check_scatter_source};

/// The module.
pub static MODULE: PtxModule = PtxModule::new("index", ptx);

/// Records every index value `>= limit` in the device's fault word: `word[0]` counts them,
/// `word[1]` keeps the largest, `word[2]` the largest `u32::MAX - check` (the earliest check).
fn check_below_kernel() -> String {
    format!(
        "// Validation: for every v = index[i] >= limit: word[0] += 1, word[1] = max(word[1], v),
// word[2] = max(word[2], 0xFFFFFFFF - check), so the earliest failing check can be named.
.visible .entry check_below(
    .param .u64 index,
    .param .u64 word,
    .param .u32 n,
    .param .u32 limit,
    .param .u32 check)
{{
{index}    .reg .pred %ok;
    .reg .u32 %v, %limit, %old, %check;
    .reg .u64 %idx, %word, %a;
{base}{a}    ld.global.nc.u32 %v, [%a];
    ld.param.u32 %limit, [limit];
    setp.lo.u32 %ok, %v, %limit;
    @%ok bra DONE;
{word}    atom.global.add.u32 %old, [%word], 1;
    atom.global.max.u32 %old, [%word+4], %v;
    ld.param.u32 %check, [check];
    sub.u32 %check, 0xFFFFFFFF, %check;
    atom.global.max.u32 %old, [%word+8], %check;
DONE:
    ret;
}}
",
        index = thread_index(),
        base = load_base("%idx", "index"),
        a = element_addr("%a", "%idx", "%i"),
        word = load_base("%word", "word"),
    )
}

/// `dst[i] = src[sum_a c_a * s_a + index[i] * axis_stride]`, `c` the coordinates of `i` in the
/// index's dims `d0..d5` and `s` the source strides with 0 on the gather axis.
fn gather_kernel() -> String {
    format!(
        "// Gather: dst[i] = src[offset of i's coordinates off the axis + index[i] * axis_stride].
.visible .entry gather(
    .param .u64 src,
    .param .u64 index,
    .param .u64 dst,
    .param .u32 n,
    .param .u32 axis_stride,
    .param .u32 axis_len,
{dims},
{strides})
{{
{index}    .reg .pred %zero, %bad;
    .reg .u32 %at, %rest, %c, %d, %s, %v;
    .reg .u64 %src, %idx, %dst, %a;
    .reg .b32 %x;
    mov.u32 %at, 0;
{walk}{idx}{a_idx}    ld.global.nc.u32 %v, [%a];
    // A bad index (check_below has recorded it) reads nothing and gives 0.
    mov.b32 %x, 0;
    ld.param.u32 %s, [axis_len];
    setp.hs.u32 %bad, %v, %s;
    @%bad bra STORE;
    ld.param.u32 %s, [axis_stride];
    mad.lo.u32 %at, %v, %s, %at;
{src}{a_src}    ld.global.nc.b32 %x, [%a];
STORE:
{dst}{a_dst}    st.global.b32 [%a], %x;
DONE:
    ret;
}}
",
        dims = param_slots("d", MAX_RANK),
        strides = param_slots("s", MAX_RANK),
        index = thread_index(),
        walk = strided_offset_ptx("d", "s"),
        idx = load_base("%idx", "index"),
        a_idx = element_addr("%a", "%idx", "%i"),
        src = load_base("%src", "src"),
        a_src = element_addr("%a", "%src", "%at"),
        dst = load_base("%dst", "dst"),
        a_dst = element_addr("%a", "%dst", "%i"),
    )
}

/// One thread per target element `i` with coordinates `c` (dims `t0..t5`): when `c` lies inside
/// the index off the axis (`c_a < l_a`), adds in order every `src[j]` with `index[j] == c_axis`
/// for the `count` positions `j = base + k * step` along the axis.
fn scatter_add_kernel() -> String {
    let mut walk = String::from("    mov.u32 %rest, %i;\n    mov.u32 %base, 0;\n");
    for a in (0..MAX_RANK).rev() {
        let _ = write!(
            walk,
            "    // axis slot {a}: c = rest % t{a}; outside the index unless c < l{a}
    ld.param.u32 %d, [t{a}];
    rem.u32 %c, %rest, %d;
    div.u32 %rest, %rest, %d;
    ld.param.u32 %d, [l{a}];
    setp.hs.u32 %outside, %c, %d;
    @%outside bra STORE;
    ld.param.u32 %d, [s{a}];
    mad.lo.u32 %base, %c, %d, %base;
"
        );
    }
    format!(
        "// Scatter-add without atomics: dst[i] = target[i] + the sum, in index order, of src[j] over
// the index positions j that share i's coordinates off the axis and hold i's axis coordinate.
.visible .entry scatter_add(
    .param .u64 target,
    .param .u64 index,
    .param .u64 src,
    .param .u64 dst,
    .param .u32 n,
    .param .u32 count,
    .param .u32 step,
    .param .u32 axis_stride,
    .param .u32 axis_len,
{dims},
{limits},
{strides})
{{
{index}    .reg .pred %outside, %hit, %more;
    .reg .u32 %rest, %c, %d, %base, %want, %k, %count, %step, %j, %v;
    .reg .u64 %target, %idx, %src, %dst, %a;
    .reg .f32 %acc, %x;
{target}{a_target}    ld.global.nc.f32 %acc, [%a];
{walk}    // want = the axis coordinate of i
    ld.param.u32 %d, [axis_stride];
    div.u32 %want, %i, %d;
    ld.param.u32 %d, [axis_len];
    rem.u32 %want, %want, %d;
    ld.param.u32 %count, [count];
    ld.param.u32 %step, [step];
{idx}{src}    mov.u32 %k, 0;
    mov.u32 %j, %base;
LOOP:
    setp.lo.u32 %more, %k, %count;
    @!%more bra STORE;
{a_idx}    ld.global.nc.u32 %v, [%a];
    setp.eq.u32 %hit, %v, %want;
    @!%hit bra NEXT;
{a_src}    ld.global.nc.f32 %x, [%a];
    add.rn.f32 %acc, %acc, %x;
NEXT:
    add.u32 %k, %k, 1;
    add.u32 %j, %j, %step;
    bra.uni LOOP;
STORE:
{dst}{a_dst}    st.global.f32 [%a], %acc;
DONE:
    ret;
}}
",
        dims = param_slots("t", MAX_RANK),
        limits = param_slots("l", MAX_RANK),
        strides = param_slots("s", MAX_RANK),
        index = thread_index(),
        target = load_base("%target", "target"),
        a_target = element_addr("%a", "%target", "%i"),
        idx = load_base("%idx", "index"),
        src = load_base("%src", "src"),
        a_idx = element_addr("%a", "%idx", "%j"),
        a_src = element_addr("%a", "%src", "%j"),
        dst = load_base("%dst", "dst"),
        a_dst = element_addr("%a", "%dst", "%i"),
    )
}

/// `dst[r * classes + c] = (labels[r] == c) ? 1.0 : 0.0`.
fn one_hot_kernel() -> String {
    format!(
        "// One-hot rows: dst[r * classes + c] = 1.0 where labels[r] == c, else 0.0.
.visible .entry one_hot(
    .param .u64 labels,
    .param .u64 dst,
    .param .u32 n,
    .param .u32 classes)
{{
{index}    .reg .pred %hit;
    .reg .u32 %classes, %r, %c, %label;
    .reg .u64 %labels, %dst, %a;
    .reg .f32 %x;
    ld.param.u32 %classes, [classes];
    div.u32 %r, %i, %classes;
    rem.u32 %c, %i, %classes;
{labels}{a_label}    ld.global.nc.u32 %label, [%a];
    setp.eq.u32 %hit, %label, %c;
    selp.f32 %x, 0f3F800000, 0f00000000, %hit;   // 1.0 or 0.0
{dst}{a_dst}    st.global.f32 [%a], %x;
DONE:
    ret;
}}
",
        index = thread_index(),
        labels = load_base("%labels", "labels"),
        a_label = element_addr("%a", "%labels", "%r"),
        dst = load_base("%dst", "dst"),
        a_dst = element_addr("%a", "%dst", "%i"),
    )
}

fn ptx() -> String {
    [
        PTX_HEADER.to_string(),
        check_below_kernel(),
        gather_kernel(),
        scatter_add_kernel(),
        one_hot_kernel(),
    ]
    .join("\n")
}

/// Checks on the device that every value of `index` is below `limit`; a bad one is reported at
/// the next read from the device (see the module docs) as `{op}: {noun} {value} out of range
/// for {what}`, the CPU op's wording.
fn check_below(
    index: &GpuTensor<u32>,
    limit: usize,
    op: &str,
    noun: &str,
    what: &str,
) -> Result<(), GpuError> {
    if index.numel() == 0 {
        return Ok(());
    }
    let gpu = index.gpu();
    let (word, check) =
        gpu.index_check(format!("{op}: {noun} {{value}} out of range for {what}"))?;
    // A limit past u32::MAX admits every u32 value.
    let limit = u32::try_from(limit).unwrap_or(u32::MAX);
    gpu.launch(
        &MODULE,
        "check_below",
        LaunchConfig::linear(index.numel(), BLOCK_1D),
        &[
            index.ptr().into(),
            word.into(),
            to_u32(index.numel(), op).into(),
            limit.into(),
            check.into(),
        ],
    )
}

/// The CPU's shape checks ([`check_index_fits`]), and the kernels' rank limit.
fn check_fits(op: &str, target: &Shape, axis: usize, index: &Shape) {
    check_index_fits(op, target, axis, index);
    assert!(
        target.rank() <= MAX_RANK,
        "{op}: the GPU kernel handles at most {MAX_RANK} axes, got shape {target:?}"
    );
}

/// Panics naming `op` unless `other` lives on `target`'s device.
fn check_device<A: GpuScalar, B: GpuScalar>(op: &str, target: &GpuTensor<A>, other: &GpuTensor<B>) {
    assert!(
        other.gpu().same_device(target.gpu()),
        "{op}: operands live on {} and {}",
        target.gpu().name(),
        other.gpu().name()
    );
}

/// `values` right-aligned in [`MAX_RANK`] slots, padded in front with `fill`.
fn right_aligned(values: &[usize], fill: usize, op: &str) -> Vec<KernelArg> {
    std::iter::repeat_n(fill, MAX_RANK - values.len())
        .chain(values.iter().copied())
        .map(|v| KernelArg::U32(to_u32(v, op)))
        .collect()
}

impl<T: GpuScalar> GpuTensor<T> {
    /// `out[..., i, ...] = self[..., index[..., i, ...], ...]` along `axis`, as `torch.gather`;
    /// the result has `index`'s shape.
    pub fn gather(&self, axis: usize, index: &GpuTensor<u32>) -> Result<Self, GpuError> {
        check_fits("gather", self.shape(), axis, index.shape());
        check_device("gather", self, index);
        let what = format!("axis {axis} of shape {:?}", self.shape());
        check_below(index, self.dims()[axis], "gather", "index", &what)?;
        let out = GpuTensor::uninit(self.gpu(), index.shape().clone())?;
        if out.numel() == 0 {
            return Ok(out);
        }
        let mut strides = self.shape().strides();
        let axis_stride = strides[axis];
        strides[axis] = 0;
        let mut args: Vec<KernelArg> = vec![
            self.ptr().into(),
            index.ptr().into(),
            out.ptr().into(),
            to_u32(out.numel(), "gather").into(),
            to_u32(axis_stride, "gather").into(),
            to_u32(self.dims()[axis], "gather").into(),
        ];
        args.extend(strided_slots(index.dims(), &strides, "gather"));
        self.gpu().launch(
            &MODULE,
            "gather",
            LaunchConfig::linear(out.numel(), BLOCK_1D),
            &args,
        )?;
        Ok(out)
    }
}

impl GpuTensor<f32> {
    /// A copy of `self` with `src` added at the positions `index` names along `axis`, as
    /// `torch.Tensor.scatter_add`: the adjoint of [`GpuTensor::gather`]. Deterministic, and
    /// bit-identical to the CPU op (same summation order).
    pub fn scatter_add(
        &self,
        axis: usize,
        index: &GpuTensor<u32>,
        src: &GpuTensor<f32>,
    ) -> Result<Self, GpuError> {
        check_scatter_source(index.shape(), src.shape());
        check_fits("scatter_add", self.shape(), axis, index.shape());
        check_device("scatter_add", self, index);
        check_device("scatter_add", self, src);
        let what = format!("axis {axis} of shape {:?}", self.shape());
        check_below(index, self.dims()[axis], "scatter_add", "index", &what)?;
        if index.numel() == 0 {
            return self.duplicate();
        }
        let out = GpuTensor::uninit(self.gpu(), self.shape().clone())?;
        let tstrides = self.shape().strides();
        let mut istrides = index.shape().strides();
        let step = istrides[axis];
        istrides[axis] = 0;
        // Off the axis a target coordinate must be below the index's extent; on it, anything.
        let mut limits = index.dims().to_vec();
        limits[axis] = self.dims()[axis];
        let op = "scatter_add";
        let mut args: Vec<KernelArg> = vec![
            self.ptr().into(),
            index.ptr().into(),
            src.ptr().into(),
            out.ptr().into(),
            to_u32(out.numel(), op).into(),
            to_u32(index.dims()[axis], op).into(),
            to_u32(step, op).into(),
            to_u32(tstrides[axis], op).into(),
            to_u32(self.dims()[axis], op).into(),
        ];
        args.extend(right_aligned(self.dims(), 1, op));
        args.extend(right_aligned(&limits, 1, op));
        args.extend(right_aligned(&istrides, 0, op));
        self.gpu().launch(
            &MODULE,
            "scatter_add",
            LaunchConfig::linear(out.numel(), BLOCK_1D),
            &args,
        )?;
        Ok(out)
    }

    /// One-hot rows: `labels` of any shape gives `[..., classes]` with a 1 at each label.
    pub fn one_hot(labels: &GpuTensor<u32>, classes: usize) -> Result<Self, GpuError> {
        let what = format!("{classes} classes");
        check_below(labels, classes, "one_hot", "label", &what)?;
        let mut dims = labels.dims().to_vec();
        dims.push(classes);
        let out = GpuTensor::uninit(labels.gpu(), dims)?;
        if out.numel() == 0 {
            return Ok(out);
        }
        labels.gpu().launch(
            &MODULE,
            "one_hot",
            LaunchConfig::linear(out.numel(), BLOCK_1D),
            &[
                labels.ptr().into(),
                out.ptr().into(),
                to_u32(out.numel(), "one_hot").into(),
                to_u32(classes, "one_hot").into(),
            ],
        )?;
        Ok(out)
    }
}
