//! `sort_axis` and `cumsum_axis` on every test device (the simulator, plus cuda:0 when
//! present) against the CPU ops, bit for bit: every axis of tensors of rank 1 to 3, both sort
//! directions, lines of up to 64 elements full of ties, NaN (with payloads and either sign),
//! signed zeros, infinities and subnormals; length-1 and empty axes; the host-side panics.

mod gpu_common;

use tensor::{Device, Rng, Tensor};

/// The GPU devices of this machine: the simulator, plus `cuda:0` when it opens.
fn devices() -> Vec<Device> {
    gpu_common::devices().iter().map(|g| g.device()).collect()
}

/// Shapes of rank 1 to 3, lines of 1 to 64 elements, a few hundred elements at most.
const SHAPES: [&[usize]; 7] = [
    &[64],
    &[1],
    &[3, 17, 5],
    &[2, 1, 7],
    &[5, 64],
    &[64, 5],
    &[4, 0, 3],
];

/// Values that make sorting hard: small integers (ties), and now and then a special value.
fn hard_values(rng: &mut Rng, dims: &[usize]) -> Tensor<f32> {
    let specials = [
        f32::NAN,
        f32::from_bits(0x7FC0_0001), // a NaN with a payload
        f32::from_bits(0xFFC0_0000), // a NaN with the sign bit set
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(1),           // the smallest subnormal
        f32::from_bits(0x8000_0001), // and its negative
        0.1,
    ];
    let n: usize = dims.iter().product();
    let values = (0..n)
        .map(|_| {
            if rng.below(4) == 0 {
                specials[rng.below(specials.len())]
            } else {
                rng.below(7) as f32 - 3.0
            }
        })
        .collect();
    Tensor::from_vec(values, dims)
}

/// The bits of every element, so that NaN payloads and the sign of zero count.
fn bits(t: &Tensor<f32>) -> Vec<u32> {
    t.to_vec().iter().map(|v| v.to_bits()).collect()
}

/// `x.sort_axis` on `device` equals the CPU's: values bit for bit, indices exactly, both on
/// the device.
fn check_sort(x: &Tensor<f32>, device: Device, axis: usize, descending: bool) {
    let what = format!(
        "sort_axis({axis}, descending {descending}) of {:?} on {device}: {:?}",
        x.dims(),
        x.to_vec()
    );
    let (want_values, want_indices) = x.sort_axis(axis, descending);
    let (values, indices) = x.to_device(device).unwrap().sort_axis(axis, descending);
    assert_eq!(
        (values.device(), indices.device()),
        (device, device),
        "{what}"
    );
    assert_eq!(values.dims(), x.dims(), "{what}: values shape");
    assert_eq!(indices.dims(), x.dims(), "{what}: indices shape");
    assert_eq!(indices.to_vec(), want_indices.to_vec(), "{what}: indices");
    assert_eq!(bits(&values), bits(&want_values), "{what}: values");
}

/// `x.cumsum_axis` on `device` equals the CPU's bit for bit (any NaN matching any NaN: the
/// hardware's additions return the canonical NaN, not the operand's payload).
fn check_cumsum(x: &Tensor<f32>, device: Device, axis: usize) {
    let what = format!("cumsum_axis({axis}) of {:?} on {device}", x.dims());
    let want = x.cumsum_axis(axis);
    let got = x.to_device(device).unwrap().cumsum_axis(axis);
    assert_eq!(got.device(), device, "{what}");
    assert_eq!(got.dims(), x.dims(), "{what}: shape");
    for (i, (g, w)) in got.to_vec().into_iter().zip(want.to_vec()).enumerate() {
        let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
        assert!(same, "{what}: element {i}: got {g:e}, want {w:e}");
    }
}

#[test]
fn sim_sort_matches_cpu_bit_for_bit_on_every_axis() {
    let mut rng = Rng::new(41);
    for device in devices() {
        for dims in SHAPES {
            let x = hard_values(&mut rng, dims);
            for axis in 0..dims.len() {
                for descending in [false, true] {
                    check_sort(&x, device, axis, descending);
                }
            }
        }
    }
}

#[test]
fn sim_sort_keeps_distinct_values_and_all_ties_in_order() {
    let mut rng = Rng::new(42);
    let distinct: Tensor<f32> = rng.normal([6, 40], 0.0, 1.0);
    let all_equal = Tensor::full([3, 33], 1.5f32);
    let all_nan = Tensor::full([33, 2], f32::NAN);
    for device in devices() {
        for x in [&distinct, &all_equal, &all_nan] {
            for axis in 0..2 {
                check_sort(x, device, axis, false);
                check_sort(x, device, axis, true);
            }
        }
    }
}

#[test]
fn sim_cumsum_matches_cpu_bit_for_bit_on_every_axis() {
    let mut rng = Rng::new(43);
    for device in devices() {
        for dims in SHAPES {
            let rounded: Tensor<f32> = rng.normal(dims, 0.0, 1.0);
            for x in [hard_values(&mut rng, dims), rounded] {
                for axis in 0..dims.len() {
                    check_cumsum(&x, device, axis);
                }
            }
        }
    }
}

#[test]
fn sim_cumsum_starts_from_plus_zero_as_the_cpu() {
    // +0 + -0 = +0: a line of negative zeros sums to positive zeros on both backends, which
    // tells a loop started from +0 from one started from the first element.
    let x = Tensor::from_vec(vec![-0.0f32, -0.0, -0.0, 2.0], [2, 2]);
    for device in devices() {
        check_cumsum(&x, device, 0);
        check_cumsum(&x, device, 1);
    }
    assert_eq!(bits(&x.cumsum_axis(1))[..2], [0, 0]);
}

#[test]
#[should_panic(expected = "sort_axis: axis 2 out of range for shape [3, 4]")]
fn sim_sort_along_a_missing_axis_panics() {
    let x = Tensor::<f32>::zeros([3, 4]).to_device(Device::Sim).unwrap();
    let _ = x.sort_axis(2, false);
}

#[test]
#[should_panic(expected = "cumsum_axis: axis 1 out of range for shape [3]")]
fn sim_cumsum_along_a_missing_axis_panics() {
    let x = Tensor::<f32>::zeros([3]).to_device(Device::Sim).unwrap();
    let _ = x.cumsum_axis(1);
}
