//! The gradient checks, run through the GPU kernels: every backward rule on the PTX simulator
//! (and on `cuda:0` when this machine has one) in f32, against the CPU in f64.
//!
//! The f64 CPU gradients are the ones the other `grad_*` files check against central
//! differences, so agreement here (to f32 tolerances) means the GPU path, every kernel of the
//! forward and the backward pass, computes the same verified gradients. Each graph ends in a
//! scalar; inputs are random (seeded), away from kinks with probability one.

use autograd::loss::{cross_entropy, kl_div};
use autograd::{Reduction, Tape, Var};
use tensor::{Conv2dGeometry, Device, Element, IndexTensor, Pool2dGeometry, Rng, Tensor};

/// Absolute tolerance, relative to the largest gradient of the input.
const ATOL: f64 = 2e-5;
/// Relative tolerance per element.
const RTOL: f64 = 2e-3;

/// A computation from inputs (and labels) to a scalar, written once for both element types.
trait Graph {
    /// Its name, for messages.
    const NAME: &'static str;
    /// The scalar it computes.
    fn build<'t, T: Element>(x: &[Var<'t, T>], labels: &IndexTensor) -> Var<'t, T>;
}

/// The simulator and `cuda:0` when it opens (`cuda:0` only, required, under
/// `MART_REQUIRE_CUDA=1`): the rule of `tensor::gpu::test_devices::gpu_test_devices`.
fn gpu_devices() -> Vec<Device> {
    tensor::gpu::test_devices::gpu_test_devices("gradient parity")
}

/// The value and the gradient of every input of `G`, computed on `device`.
fn run<G: Graph, T: Element>(
    inputs: &[Tensor<T>],
    labels: &IndexTensor,
    device: Device,
) -> (f64, Vec<Vec<f64>>) {
    let tape = Tape::new();
    let on = |t: &Tensor<T>| t.to_device(device).expect("device opens");
    let vars: Vec<Var<'_, T>> = inputs.iter().map(|t| tape.var(on(t))).collect();
    let labels = labels.to_device(device).expect("device opens");
    let out = G::build(&vars, &labels);
    let grads = tape.backward(&out, &vars.iter().collect::<Vec<_>>());
    for g in &grads {
        assert_eq!(g.device(), device, "{}: a gradient left {device}", G::NAME);
    }
    let value = out.value().to_cpu().to_f64_vec()[0];
    (
        value,
        grads.iter().map(|g| g.to_cpu().to_f64_vec()).collect(),
    )
}

/// Runs `G` on the CPU in f64 and on every GPU device in f32, and compares.
fn check<G: Graph>(inputs: &[Tensor<f64>], labels: &IndexTensor) {
    let (want_value, want) = run::<G, f64>(inputs, labels, Device::Cpu);
    let inputs32: Vec<Tensor<f32>> = inputs.iter().map(|t| t.cast()).collect();
    for device in gpu_devices() {
        let (value, got) = run::<G, f32>(&inputs32, labels, device);
        assert!(
            (value - want_value).abs() <= 1e-4 * (1.0 + want_value.abs()),
            "{} on {device}: value {value}, CPU f64 {want_value}",
            G::NAME
        );
        for (input, (g, w)) in got.iter().zip(&want).enumerate() {
            let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert!(
                    (a - b).abs() <= ATOL * (1.0 + scale) + RTOL * b.abs(),
                    "{} on {device}: gradient of input {input}, element {i}: {a} vs CPU f64 {b}",
                    G::NAME
                );
            }
        }
    }
}

/// A seeded tensor of standard normal values.
fn normal(rng: &mut Rng, dims: &[usize]) -> Tensor<f64> {
    rng.normal(dims.to_vec(), 0.0, 1.0)
}

/// A seeded tensor of uniform values in `[low, high)`.
fn uniform(rng: &mut Rng, dims: &[usize], low: f64, high: f64) -> Tensor<f64> {
    rng.uniform(dims.to_vec(), low, high)
}

/// Labels below `classes`.
fn labels(rng: &mut Rng, n: usize, classes: usize) -> IndexTensor {
    Tensor::from_vec((0..n).map(|_| rng.below(classes) as u32).collect(), [n])
}

fn no_labels() -> IndexTensor {
    Tensor::from_vec(vec![], [0])
}

fn c<T: Element>(v: f64) -> T {
    T::from_f64_lossy(v)
}

struct Elementwise;
impl Graph for Elementwise {
    const NAME: &'static str = "elementwise";
    fn build<'t, T: Element>(x: &[Var<'t, T>], _: &IndexTensor) -> Var<'t, T> {
        let (a, b, pos) = (&x[0], &x[1], &x[2]);
        let mixed = a.mul(b).add(&a.sub(b).relu()).sub(&b.div(pos));
        let smooth = pos.log().add(&a.exp().mul_scalar(c(0.1))).add(&pos.sqrt());
        let kinked = a
            .abs()
            .add(&a.maximum(b))
            .sub(&a.minimum(b))
            .add(&b.clamp(c(-0.5), c(0.5)));
        let powered = pos
            .powf(c(1.5))
            .add(&b.square())
            .add(&a.neg().add_scalar(c(2.0)));
        let mask = a.value().gt(b.value());
        let chosen = Var::where_(&mask, &mixed, &smooth);
        chosen
            .add(&kinked)
            .add(&powered)
            .mul(&a.sign().add_scalar(c(3.0)))
            .sum_all()
    }
}

struct Broadcasting;
impl Graph for Broadcasting {
    const NAME: &'static str = "broadcasting";
    fn build<'t, T: Element>(x: &[Var<'t, T>], _: &IndexTensor) -> Var<'t, T> {
        // [2, 3, 4] with [3, 1] and [4]
        x[0].mul(&x[1])
            .add(&x[2])
            .sub(&x[1].div(&x[2].exp()))
            .square()
            .mean_all()
    }
}

struct Reductions;
impl Graph for Reductions {
    const NAME: &'static str = "reductions";
    fn build<'t, T: Element>(x: &[Var<'t, T>], _: &IndexTensor) -> Var<'t, T> {
        let x = &x[0];
        let a = x.sum_axis(1, true).mul(&x.mean_axis(0, true)).sum_all();
        let b = x
            .max_axis(2, false)
            .sub(&x.min_axis(0, false).sum_axis(1, false))
            .sum_all();
        let d = x.logsumexp(1, false).mean_all();
        let e = x
            .softmax(2)
            .mul(x)
            .sum_all()
            .add(&x.log_softmax(0).mean_all());
        a.add(&b).add(&d).add(&e)
    }
}

struct Matmul;
impl Graph for Matmul {
    const NAME: &'static str = "matmul";
    fn build<'t, T: Element>(x: &[Var<'t, T>], _: &IndexTensor) -> Var<'t, T> {
        // [3, 5, 7] x [3, 7, 4]; then a b^T and a^T b forms
        let batched = x[0].matmul(&x[1]);
        let flat = x[2]
            .matmul_t(false, &x[3], true)
            .matmul_t(true, &x[2], false);
        batched.square().sum_all().add(&flat.mean_all())
    }
}

struct ConvPool;
impl Graph for ConvPool {
    const NAME: &'static str = "conv and pooling";
    fn build<'t, T: Element>(x: &[Var<'t, T>], _: &IndexTensor) -> Var<'t, T> {
        let conv = x[0].conv2d(&x[1], Some(&x[2]), Conv2dGeometry::new(1, 1));
        let strided = x[0].conv2d(&x[3], None, Conv2dGeometry::new(2, 0));
        let maxed = conv.relu().max_pool2d(Pool2dGeometry::new(3, 2, 1));
        let averaged = conv.avg_pool2d(Pool2dGeometry::new(2, 2, 0));
        maxed
            .square()
            .sum_all()
            .add(&averaged.mean_all())
            .add(&strided.mul(&strided).mean_all())
    }
}

struct Movement;
impl Graph for Movement {
    const NAME: &'static str = "movement";
    fn build<'t, T: Element>(x: &[Var<'t, T>], _: &IndexTensor) -> Var<'t, T> {
        let x = &x[0]; // [2, 3, 4]
        let permuted = x.permute(&[2, 0, 1]).reshape([4, 6]);
        let swapped = x.transpose(1, 2).slice(2, 0, 2).transpose(1, 2);
        let joined = Var::concat(&[&x.slice(1, 0, 2), &swapped], 1);
        let padded = x.pad(&[(0, 0), (1, 2), (2, 0)], c(0.5));
        let spread = x.slice(0, 0, 1).broadcast_to([3, 3, 4]);
        let weights = Tensor::<T>::arange(24)
            .reshape([4, 6])
            .to_device(x.value().device())
            .unwrap();
        permuted
            .mul(&Var::constant(weights))
            .sum_all()
            .add(&joined.square().sum_all())
            .add(&padded.exp().mean_all())
            .add(&spread.unsqueeze(0).squeeze(0).sum_all())
    }
}

/// Training-mode batch norm composed from Var ops, as the f64 composite check writes it.
fn batch_norm<'t, T: Element>(x: &Var<'t, T>, gamma: &Var<'t, T>, beta: &Var<'t, T>) -> Var<'t, T> {
    let channel_mean = |t: &Var<'t, T>| t.mean_axis(0, true).mean_axis(2, true).mean_axis(3, true);
    let centered = x.sub(&channel_mean(x));
    let variance = channel_mean(&centered.square());
    let x_hat = centered.div(&variance.add_scalar(c(1e-5)).sqrt());
    let per_channel = [1, x.dims()[1], 1, 1];
    x_hat
        .mul(&gamma.reshape(per_channel))
        .add(&beta.reshape(per_channel))
}

struct SmallCnn;
impl Graph for SmallCnn {
    const NAME: &'static str = "conv, batch norm, relu, max-pool, linear, cross-entropy";
    fn build<'t, T: Element>(p: &[Var<'t, T>], labels: &IndexTensor) -> Var<'t, T> {
        let conv = p[0].conv2d(&p[1], Some(&p[2]), Conv2dGeometry::new(1, 1));
        let normed = batch_norm(&conv, &p[3], &p[4]);
        let pooled = normed.relu().max_pool2d(Pool2dGeometry::new(2, 2, 0));
        let features = pooled.reshape([pooled.dims()[0], pooled.dims()[1..].iter().product()]);
        let logits = features.matmul_t(false, &p[5], true).add(&p[6]);
        cross_entropy(&logits, labels)
    }
}

/// The fused batch norm, then a per-channel affine map, weighted by the input (so that no
/// gradient vanishes, as it would for a plain sum of a normalised output).
struct FusedBatchNorm;
impl Graph for FusedBatchNorm {
    const NAME: &'static str = "fused batch norm and channel affine";
    fn build<'t, T: Element>(p: &[Var<'t, T>], _: &IndexTensor) -> Var<'t, T> {
        let (y, _, _) = p[0].batch_norm_train(&p[1], &p[2], c(1e-5));
        y.channel_affine(&p[3], &p[4]).mul(&p[0]).sum_all()
    }
}

struct MartLoss;
impl Graph for MartLoss {
    const NAME: &'static str = "MART loss";
    fn build<'t, T: Element>(x: &[Var<'t, T>], labels: &IndexTensor) -> Var<'t, T> {
        let (nat, adv) = (&x[0], &x[1]);
        let batch = nat.dims()[0] as f64;
        let p_adv = adv.softmax(1);
        let label_mask = Tensor::one_hot(labels, p_adv.dims()[1]).mul_scalar(c(2.0));
        let y_wrong = p_adv.value().sub(&label_mask).argmax_axis(1).unsqueeze(1);
        let boosted = p_adv
            .gather(1, &y_wrong)
            .neg()
            .add_scalar(c(1.0001))
            .add_scalar(c(1e-12))
            .log()
            .neg()
            .mean_all();
        let loss_adv = cross_entropy(adv, labels).add(&boosted);
        let p_nat = nat.softmax(1);
        let log_p_adv = p_adv.add_scalar(c(1e-12)).log();
        let kl = kl_div(&log_p_adv, &p_nat, Reduction::None).sum_axis(1, false);
        let p_true = p_nat.gather(1, &labels.unsqueeze(1)).squeeze(1);
        let weight = p_true.neg().add_scalar(c(1.0000001));
        let robust = kl.mul(&weight).sum_all().mul_scalar(c(1.0 / batch));
        loss_adv.add(&robust.mul_scalar(c(6.0)))
    }
}

struct TradesLoss;
impl Graph for TradesLoss {
    const NAME: &'static str = "TRADES loss";
    fn build<'t, T: Element>(x: &[Var<'t, T>], labels: &IndexTensor) -> Var<'t, T> {
        let batch = x[0].dims()[0] as f64;
        let kl = kl_div(&x[1].log_softmax(1), &x[0].softmax(1), Reduction::Sum);
        cross_entropy(&x[0], labels).add(&kl.mul_scalar(c(6.0 / batch)))
    }
}

#[test]
fn sim_elementwise_gradients_match_the_cpu() {
    let mut rng = Rng::new(1);
    let dims = [3, 37];
    let inputs = [
        normal(&mut rng, &dims),
        normal(&mut rng, &dims),
        uniform(&mut rng, &dims, 0.5, 2.0),
    ];
    check::<Elementwise>(&inputs, &no_labels());
}

#[test]
fn sim_broadcasting_gradients_match_the_cpu() {
    let mut rng = Rng::new(2);
    let inputs = [
        normal(&mut rng, &[2, 3, 4]),
        normal(&mut rng, &[3, 1]),
        normal(&mut rng, &[4]),
    ];
    check::<Broadcasting>(&inputs, &no_labels());
}

#[test]
fn sim_reduction_and_softmax_gradients_match_the_cpu() {
    let mut rng = Rng::new(3);
    check::<Reductions>(&[normal(&mut rng, &[3, 5, 7])], &no_labels());
}

#[test]
fn sim_matmul_gradients_match_the_cpu() {
    let mut rng = Rng::new(4);
    let inputs = [
        normal(&mut rng, &[3, 5, 7]),
        normal(&mut rng, &[3, 7, 4]),
        normal(&mut rng, &[6, 5]),
        normal(&mut rng, &[9, 5]),
    ];
    check::<Matmul>(&inputs, &no_labels());
}

#[test]
fn sim_conv_and_pool_gradients_match_the_cpu() {
    let mut rng = Rng::new(5);
    let inputs = [
        normal(&mut rng, &[2, 3, 7, 6]),
        normal(&mut rng, &[4, 3, 3, 3]),
        normal(&mut rng, &[4]),
        normal(&mut rng, &[2, 3, 2, 2]),
    ];
    check::<ConvPool>(&inputs, &no_labels());
}

#[test]
fn sim_movement_gradients_match_the_cpu() {
    let mut rng = Rng::new(6);
    check::<Movement>(&[normal(&mut rng, &[2, 3, 4])], &no_labels());
}

#[test]
fn sim_small_cnn_gradients_match_the_cpu() {
    let mut rng = Rng::new(7);
    let (n, ch, o, h, w, k) = (3, 2, 3, 6, 4, 5);
    let inputs = [
        normal(&mut rng, &[n, ch, h, w]),
        normal(&mut rng, &[o, ch, 3, 3]),
        normal(&mut rng, &[o]),
        uniform(&mut rng, &[o], 0.5, 1.5),
        normal(&mut rng, &[o]),
        normal(&mut rng, &[k, o * (h / 2) * (w / 2)]),
        normal(&mut rng, &[k]),
    ];
    check::<SmallCnn>(&inputs, &labels(&mut rng, n, k));
}

#[test]
fn sim_fused_batch_norm_gradients_match_the_cpu() {
    let mut rng = Rng::new(9);
    let ch = 3;
    let mut inputs = vec![normal(&mut rng, &[2, ch, 5, 3])];
    inputs.extend((0..4).map(|_| uniform(&mut rng, &[ch], 0.5, 1.5)));
    check::<FusedBatchNorm>(&inputs, &no_labels());
}

#[test]
fn sim_mart_and_trades_loss_gradients_match_the_cpu() {
    let mut rng = Rng::new(8);
    let (n, k) = (6, 10);
    let inputs = [
        normal(&mut rng, &[n, k]).mul_scalar(2.0),
        normal(&mut rng, &[n, k]).mul_scalar(2.0),
    ];
    let y = labels(&mut rng, n, k);
    check::<MartLoss>(&inputs, &y);
    check::<TradesLoss>(&inputs, &y);
}
