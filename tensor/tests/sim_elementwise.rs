//! The elementwise GPU kernels against the CPU ops, on every test device (the simulator, plus
//! cuda:0 when present): fill; every unary op on random values of sizes around the block size
//! and on the special values (NaN, infinities, signed zeros, ties); every binary op and
//! `where_` under numpy broadcasting, including a broadcast of more axes than the kernels
//! index; and the panics on incompatible shapes.

mod gpu_common;

use gpu_common::{assert_close, devices, down, up};
use tensor::cuda::{Gpu, GpuError, GpuTensor};
use tensor::{Rng, Tensor};

/// Element counts around the 256-thread block: one, just under, just over, several blocks.
const SIZES: [usize; 5] = [1, 255, 256, 257, 1031];

/// Values every op must handle as the CPU does.
const SPECIAL: [f32; 16] = [
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    -2.5,
    1e-40,
    3.0e38,
    -88.0,
    88.5,
    88.72,
    89.5,
];

/// Random values on `[low, high)` with a few special values mixed in.
fn values(rng: &mut Rng, n: usize, low: f64, high: f64) -> Tensor<f32> {
    let mut t = rng.uniform::<f32>([n], low, high).to_vec();
    for (i, v) in t.iter_mut().enumerate().filter(|(i, _)| i % 97 == 5) {
        *v = SPECIAL[i % SPECIAL.len()];
    }
    Tensor::from_vec(t, [n])
}

#[test]
fn sim_full_and_zeros_fill_every_element() {
    for gpu in devices() {
        for n in [0, 1, 255, 257, 1031] {
            let f = GpuTensor::full(&gpu, [n, 1], -2.5f32).unwrap();
            assert_eq!(down(&f).to_vec(), vec![-2.5; n], "{}: full f32", gpu.name());
            let u = GpuTensor::full(&gpu, [n], 7u32).unwrap();
            assert_eq!(down(&u).to_vec(), vec![7; n], "{}: full u32", gpu.name());
            let z = GpuTensor::<f32>::zeros(&gpu, [1, n]).unwrap();
            assert_eq!(down(&z).to_vec(), vec![0.0; n], "{}: zeros", gpu.name());
        }
    }
}

/// A unary op on both backends.
type UnaryCase = (
    &'static str,
    fn(&Tensor<f32>) -> Tensor<f32>,
    fn(&GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError>,
);

/// Compares every unary op with its CPU twin on `x` (exact except exp, log and powf).
fn check_unary(gpu: &Gpu, x: &Tensor<f32>, what: &str) {
    let cases: [UnaryCase; 14] = [
        ("neg", Tensor::neg, GpuTensor::neg),
        ("exp", Tensor::exp, GpuTensor::exp),
        ("log", Tensor::log, GpuTensor::log),
        ("sqrt", Tensor::sqrt, GpuTensor::sqrt),
        ("abs", Tensor::abs, GpuTensor::abs),
        ("sign", Tensor::sign, GpuTensor::sign),
        ("relu", Tensor::relu, GpuTensor::relu),
        ("square", Tensor::square, GpuTensor::square),
        ("powf 2", |x| x.powf(2.0), |x| x.powf(2.0)),
        ("powf -1.5", |x| x.powf(-1.5), |x| x.powf(-1.5)),
        ("powf 3", |x| x.powf(3.0), |x| x.powf(3.0)),
        ("clamp", |x| x.clamp(-0.5, 2.0), |x| x.clamp(-0.5, 2.0)),
        ("add_scalar", |x| x.add_scalar(0.25), |x| x.add_scalar(0.25)),
        ("mul_scalar", |x| x.mul_scalar(-3.0), |x| x.mul_scalar(-3.0)),
    ];
    let dx = up(gpu, x);
    for (name, cpu, gpu_op) in cases {
        let want = cpu(x);
        let got = down(&gpu_op(&dx).unwrap());
        let rtol = if ["neg", "sqrt", "abs", "sign", "relu", "square", "clamp"].contains(&name)
            || name.ends_with("scalar")
        {
            0.0
        } else {
            1e-5
        };
        assert_close(
            &format!("{} {name} {what}", gpu.name()),
            &got,
            &want,
            1e-37,
            rtol,
        );
        if rtol == 0.0 {
            // Exact ops agree bit for bit, signed zeros included.
            let nan_or_bits = |t: &Tensor<f32>| {
                t.data()
                    .iter()
                    .map(|v| if v.is_nan() { None } else { Some(v.to_bits()) })
                    .collect::<Vec<_>>()
            };
            assert_eq!(nan_or_bits(&got), nan_or_bits(&want), "{name} {what}: bits");
        }
    }
}

#[test]
fn sim_unary_ops_match_cpu() {
    let mut rng = Rng::new(11);
    for gpu in devices() {
        for n in SIZES {
            check_unary(
                &gpu,
                &values(&mut rng, n, -10.0, 10.0),
                &format!("on {n} in [-10, 10)"),
            );
        }
        check_unary(
            &gpu,
            &Tensor::from_vec(SPECIAL.to_vec(), [16]),
            "on special values",
        );
        // exp over its whole range, log near 1 (where lg2.approx alone is inaccurate) and far.
        check_unary(&gpu, &values(&mut rng, 300, -87.0, 88.0), "on [-87, 88)");
        check_unary(&gpu, &values(&mut rng, 300, 0.99, 1.01), "near 1");
        check_unary(&gpu, &values(&mut rng, 300, 0.0, 1e30), "on [0, 1e30)");
    }
}

#[test]
#[should_panic(expected = "clamp: min 1 is above max 0")]
fn sim_clamp_rejects_min_above_max() {
    let gpu = Gpu::sim();
    let _ = up(&gpu, &Tensor::<f32>::zeros([3])).clamp(1.0, 0.0);
}

/// A binary op on both backends.
type BinaryCase = (
    &'static str,
    fn(&Tensor<f32>, &Tensor<f32>) -> Tensor<f32>,
    fn(&GpuTensor<f32>, &GpuTensor<f32>) -> Result<GpuTensor<f32>, GpuError>,
);

/// Every binary op.
const BINARY: [BinaryCase; 11] = [
    ("add", Tensor::add, GpuTensor::add),
    ("sub", Tensor::sub, GpuTensor::sub),
    ("mul", Tensor::mul, GpuTensor::mul),
    ("div", Tensor::div, GpuTensor::div),
    ("maximum", Tensor::maximum, GpuTensor::maximum),
    ("minimum", Tensor::minimum, GpuTensor::minimum),
    ("gt", Tensor::gt, GpuTensor::gt),
    ("ge", Tensor::ge, GpuTensor::ge),
    ("lt", Tensor::lt, GpuTensor::lt),
    ("le", Tensor::le, GpuTensor::le),
    ("eq_mask", Tensor::eq_mask, GpuTensor::eq_mask),
];

/// Shape pairs: equal, numpy broadcasts of every kind, and one that collapses to six axes
/// (more than the kernels index, so it runs as several launches).
const PAIRS: [(&[usize], &[usize]); 11] = [
    (&[257], &[257]),
    (&[3, 4, 5], &[3, 4, 5]),
    (&[4, 1, 3], &[5, 1]),
    (&[], &[300]),
    (&[300], &[1]),
    (&[2, 3, 4, 5], &[3, 1, 5]),
    (&[3, 1], &[1, 300]),
    (&[6, 1, 1, 7], &[1, 5, 4, 1]),
    (&[2, 1, 2, 1, 3, 1], &[1, 2, 1, 2, 1, 3]),
    (&[1, 1], &[1]),
    (&[2, 1, 700], &[3, 1]),
];

/// Values on a coarse grid, so that ties (and equal elements) are common, with special values.
fn tied(rng: &mut Rng, dims: &[usize]) -> Tensor<f32> {
    let n: usize = dims.iter().product();
    let grid = rng.uniform::<f32>([n], -4.0, 4.0);
    let special = values(rng, n, 0.0, 1.0);
    let mixed = (0..n)
        .map(|i| {
            if i % 97 == 5 {
                special.data()[i]
            } else {
                (grid.data()[i] * 2.0).round() / 2.0
            }
        })
        .collect();
    Tensor::from_vec(mixed, dims)
}

#[test]
fn sim_binary_ops_broadcast_like_cpu() {
    let mut rng = Rng::new(12);
    for gpu in devices() {
        for (da, db) in PAIRS {
            for (x, y) in [(da, db), (db, da)] {
                let (a, b) = (tied(&mut rng, x), tied(&mut rng, y));
                let (ga, gb) = (up(&gpu, &a), up(&gpu, &b));
                for (name, cpu, gpu_op) in BINARY {
                    let what = format!("{} {name} {x:?} {y:?}", gpu.name());
                    assert_close(
                        &what,
                        &down(&gpu_op(&ga, &gb).unwrap()),
                        &cpu(&a, &b),
                        0.0,
                        0.0,
                    );
                }
            }
        }
    }
}

#[test]
fn sim_where_broadcasts_three_ways() {
    let mut rng = Rng::new(13);
    let triples: [[&[usize]; 3]; 4] = [
        [&[300], &[300], &[300]],
        [&[4, 1, 3], &[5, 1], &[]],
        [&[2, 1], &[1, 257], &[2, 257]],
        [
            &[2, 1, 2, 1, 3, 1],
            &[1, 2, 1, 2, 1, 3],
            &[2, 1, 1, 1, 1, 1],
        ],
    ];
    for gpu in devices() {
        for [dc, dt, df] in triples {
            // The condition: mostly 0 and 1, with NaN (true, as on the CPU) mixed in.
            let cond = tied(&mut rng, dc).map(|v| if v > 0.0 { 1.0 } else { v * 0.0 });
            let (t, f) = (tied(&mut rng, dt), tied(&mut rng, df));
            let got = up(&gpu, &cond)
                .where_(&up(&gpu, &t), &up(&gpu, &f))
                .unwrap();
            let what = format!("{} where {dc:?} {dt:?} {df:?}", gpu.name());
            assert_close(&what, &down(&got), &cond.where_(&t, &f), 0.0, 0.0);
        }
    }
}

#[test]
#[should_panic(expected = "add: cannot broadcast shapes [2, 3] and [4]")]
fn sim_binary_op_panics_on_incompatible_shapes() {
    let gpu = Gpu::sim();
    let a = up(&gpu, &Tensor::<f32>::zeros([2, 3]));
    let _ = a.add(&up(&gpu, &Tensor::zeros([4])));
}

#[test]
#[should_panic(expected = "eq: cannot broadcast shapes [2] and [3]")]
fn sim_comparison_panics_with_the_cpu_name() {
    let gpu = Gpu::sim();
    let a = up(&gpu, &Tensor::<f32>::zeros([2]));
    let _ = a.eq_mask(&up(&gpu, &Tensor::zeros([3])));
}
