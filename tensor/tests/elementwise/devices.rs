//! Elementwise ops on every device (`device_test!`: cpu, sim, cuda) against the f64 formulas
//! and broadcasting reference of `main.rs`: fills; every unary op on random values of sizes
//! around the GPU's 256-thread block and on special values (NaN, infinities, signed zeros, a
//! subnormal, the edge of f32's exp), the exact ones bit for bit; every binary op and `where_`
//! under broadcasts of every kind, including one of more axes than the GPU kernels index; the
//! panics of bad arguments.

use super::common::device::{assert_bits, assert_f32, back, device_test, on};
use super::common::{broadcast_read, unravel};
use super::{BINARY_F32, broadcast_dims, reference_binary};
use tensor::{Device, Rng, Tensor};

/// Element counts around the GPU's 256-thread block: one, just under, just over, several.
const SIZES: [usize; 5] = [1, 255, 256, 257, 1031];

/// Values every op must handle: NaN, infinities, signed zeros, a subnormal, the largest
/// magnitudes, and the edge of f32's exp (which overflows past 88.72).
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

/// `n` random values on `[low, high)`, every 97th from [`SPECIAL`].
fn values(rng: &mut Rng, n: usize, low: f64, high: f64) -> Tensor<f32> {
    let mut t = rng.uniform::<f32>([n], low, high).to_vec();
    for (i, v) in t.iter_mut().enumerate().filter(|(i, _)| i % 97 == 5) {
        *v = SPECIAL[i % SPECIAL.len()];
    }
    Tensor::from_vec(t, [n])
}

/// Values on a grid of halves, so that ties and equal operands are common, every 97th special.
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

/// `full_on`, `zeros_on` and `ones_on` write every element, none included.
fn fills_write_every_element(device: Device) {
    for n in [0, 1, 255, 257, 1031] {
        let full = back(device, &Tensor::full_on([n, 1], -2.5f32, device));
        assert_bits("full", &full, &[n, 1], &vec![-2.5; n]);
        let zeros = back(device, &Tensor::<f32>::zeros_on([1, n], device));
        assert_bits("zeros", &zeros, &[1, n], &vec![0.0; n]);
        let ones = back(device, &Tensor::<f32>::ones_on([n], device));
        assert_bits("ones", &ones, &[n], &vec![1.0; n]);
    }
}
device_test!(fills_write_every_element);

/// `torch.sign`: -1, 0 or 1, where 0 keeps its sign and NaN stays NaN.
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v * 0.0
    }
}

/// A unary op in f32, its formula in f64, and whether rounding the formula to f32 gives the
/// op's result bit for bit (else within 1e-5 relative: the GPU's exp and log are approximate).
type UnaryCase = (
    &'static str,
    fn(&Tensor<f32>) -> Tensor<f32>,
    fn(f64) -> f64,
    bool,
);

/// Every unary op; relu maps NaN and -0 to +0, clamp keeps them (as `f64::clamp`).
const UNARY: [UnaryCase; 14] = [
    ("neg", Tensor::neg, |v| -v, true),
    ("exp", Tensor::exp, f64::exp, false),
    ("log", Tensor::log, f64::ln, false),
    ("sqrt", Tensor::sqrt, f64::sqrt, true),
    ("abs", Tensor::abs, f64::abs, true),
    ("sign", Tensor::sign, sign, true),
    (
        "relu",
        Tensor::relu,
        |v| if v > 0.0 { v } else { 0.0 },
        true,
    ),
    ("square", Tensor::square, |v| v * v, true),
    ("powf 2", |x| x.powf(2.0), |v| v.powf(2.0), false),
    ("powf -1.5", |x| x.powf(-1.5), |v| v.powf(-1.5), false),
    ("powf 3", |x| x.powf(3.0), |v| v.powf(3.0), false),
    (
        "clamp",
        |x| x.clamp(-0.5, 2.0),
        |v| v.clamp(-0.5, 2.0),
        true,
    ),
    ("add_scalar", |x| x.add_scalar(0.25), |v| v + 0.25, true),
    ("mul_scalar", |x| x.mul_scalar(-3.0), |v| v * -3.0, true),
];

/// Checks every unary op on `x` (on the host) run on `device`.
fn check_unary_on(device: Device, x: &Tensor<f32>, what: &str) {
    let on_device = on(device, x);
    for (name, op, formula, exact) in UNARY {
        let want: Vec<f64> = x.data().iter().map(|&v| formula(f64::from(v))).collect();
        let got = back(device, &op(&on_device));
        let what = format!("{name} {what} on {device}");
        if exact {
            assert_bits(&what, &got, x.dims(), &want);
        } else {
            assert_f32(&what, &got, x.dims(), &want, 1e-37, 1e-5);
        }
    }
}

fn unary_ops_match_their_formulas(device: Device) {
    let mut rng = Rng::new(11);
    for n in SIZES {
        let x = values(&mut rng, n, -10.0, 10.0);
        check_unary_on(device, &x, &format!("on {n} in [-10, 10)"));
    }
    let special = Tensor::from_vec(SPECIAL.to_vec(), [16]);
    check_unary_on(device, &special, "on special values");
    // exp over its whole range, log near 1 (where lg2.approx alone is inaccurate) and far.
    check_unary_on(device, &values(&mut rng, 300, -87.0, 88.0), "on [-87, 88)");
    check_unary_on(device, &values(&mut rng, 300, 0.99, 1.01), "near 1");
    check_unary_on(device, &values(&mut rng, 300, 0.0, 1e30), "on [0, 1e30)");
}
device_test!(unary_ops_match_their_formulas);

/// Shape pairs: equal, numpy broadcasts of every kind, and one that collapses to six axes
/// (more than the GPU kernels index, so it runs as several launches there).
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

/// Every binary op on ties, NaN and infinities in each broadcast of [`PAIRS`], both ways round,
/// exactly.
fn binary_ops_broadcast_with_special_values(device: Device) {
    let mut rng = Rng::new(12);
    for (da, db) in PAIRS {
        for (x, y) in [(da, db), (db, da)] {
            let (a, b) = (tied(&mut rng, x), tied(&mut rng, y));
            let (ga, gb) = (on(device, &a), on(device, &b));
            for (name, op, f) in BINARY_F32 {
                let (dims, want) = reference_binary(&a.cast(), &b.cast(), f);
                let got = back(device, &op(&ga, &gb));
                let what = format!("{name} {x:?} {y:?} on {device}");
                assert_f32(&what, &got, &dims, &want, 0.0, 0.0);
            }
        }
    }
}
device_test!(binary_ops_broadcast_with_special_values);

/// `where_` with a condition of mostly 0 and 1, NaN (true) and -0 (false) mixed in.
fn where_broadcasts_three_ways(device: Device) {
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
    for [dc, dt, df] in triples {
        let cond = tied(&mut rng, dc).map(|v| if v > 0.0 { 1.0 } else { v * 0.0 });
        let (on_true, on_false) = (tied(&mut rng, dt), tied(&mut rng, df));
        let dims = broadcast_dims(&[dc, dt, df]);
        let read = |t: &Tensor<f32>, at: &[usize]| broadcast_read(&t.to_f64_vec(), t.dims(), at);
        let want: Vec<f64> = (0..dims.iter().product())
            .map(|flat| {
                let at = unravel(flat, &dims);
                let pick = if read(&cond, &at) != 0.0 {
                    &on_true
                } else {
                    &on_false
                };
                read(pick, &at)
            })
            .collect();
        let got = on(device, &cond).where_(&on(device, &on_true), &on(device, &on_false));
        let what = format!("where {dc:?} {dt:?} {df:?} on {device}");
        assert_f32(&what, &back(device, &got), &dims, &want, 0.0, 0.0);
    }
}
device_test!(where_broadcasts_three_ways);

fn add_of_incompatible_shapes_panics(device: Device) {
    let a = on(device, &Tensor::<f32>::zeros([2, 3]));
    let _ = a.add(&on(device, &Tensor::zeros([4])));
}
device_test!(
    #[should_panic(expected = "add: cannot broadcast shapes [2, 3] and [4]")]
    add_of_incompatible_shapes_panics: cpu, sim
);

fn comparison_of_incompatible_shapes_panics(device: Device) {
    let a = on(device, &Tensor::<f32>::zeros([2]));
    let _ = a.eq_mask(&on(device, &Tensor::zeros([3])));
}
device_test!(
    #[should_panic(expected = "eq: cannot broadcast shapes [2] and [3]")]
    comparison_of_incompatible_shapes_panics: cpu, sim
);

fn where_of_incompatible_shapes_panics(device: Device) {
    let zeros = |d: usize| on(device, &Tensor::<f32>::zeros([d]));
    let _ = zeros(2).where_(&zeros(3), &zeros(2));
}
device_test!(
    #[should_panic(expected = "where: cannot broadcast shapes [2] and [3]")]
    where_of_incompatible_shapes_panics: cpu, sim
);

fn clamp_with_crossed_bounds_panics(device: Device) {
    let _ = on(device, &Tensor::<f32>::zeros([2])).clamp(2.0, 1.0);
}
device_test!(
    #[should_panic(expected = "clamp: min 2 is above max 1")]
    clamp_with_crossed_bounds_panics: cpu, sim
);
