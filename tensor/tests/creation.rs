//! Constructors and views: `from_vec`, `zeros`, `ones`, `full`, `arange`, `scalar`, `reshape`,
//! `item` and `cast`, checked element by element.

mod common;

use common::{config, dims, tensor, value};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Shape, Tensor};

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn from_vec_keeps_data_and_shape(
        (d, data) in dims(0..=4, 4).prop_flat_map(|d| {
            let n: usize = d.iter().product();
            (Just(d), vec(-10.0..10.0f64, n))
        })
    ) {
        let t = Tensor::from_vec(data.clone(), d.clone());
        prop_assert_eq!(t.dims(), &d[..]);
        prop_assert_eq!(t.rank(), d.len());
        prop_assert_eq!(t.numel(), d.iter().product::<usize>());
        prop_assert_eq!(t.data(), &data[..]);
    }

    #[test]
    fn zeros_ones_full_fill_every_element(d in dims(0..=4, 4), v in -10.0..10.0f64) {
        let n: usize = d.iter().product();
        prop_assert_eq!(Tensor::<f64>::zeros(d.clone()).to_vec(), vec![0.0; n]);
        prop_assert_eq!(Tensor::<f32>::ones(d.clone()).to_vec(), vec![1.0; n]);
        let full = Tensor::full(d.clone(), v);
        prop_assert_eq!(full.dims(), &d[..]);
        prop_assert_eq!(full.to_vec(), vec![v; n]);
    }

    #[test]
    fn arange_counts_from_zero(n in 0usize..50) {
        let t = Tensor::<f64>::arange(n);
        prop_assert_eq!(t.dims(), &[n]);
        for (i, &v) in t.data().iter().enumerate() {
            prop_assert_eq!(v, i as f64);
        }
    }

    #[test]
    fn reshape_keeps_elements_and_shares_storage(x in tensor(0..=4, 4, value())) {
        let r = x.reshape([1, x.numel(), 1]);
        prop_assert_eq!(r.dims(), &[1, x.numel(), 1]);
        prop_assert_eq!(r.data(), x.data());
        prop_assert!(r.shares_storage(&x));
    }

    #[test]
    fn cast_to_f32_rounds_each_element(x in tensor(0..=3, 4, value())) {
        let y = x.cast::<f32>();
        prop_assert_eq!(y.dims(), x.dims());
        for (&a, &b) in y.data().iter().zip(x.data()) {
            prop_assert_eq!(a, b as f32);
        }
    }
}

#[test]
fn scalar_is_rank_zero_with_one_element() {
    let s = Tensor::scalar(2.5f64);
    assert_eq!(s.rank(), 0);
    assert_eq!(s.shape(), &Shape::scalar());
    assert_eq!(s.numel(), 1);
    assert_eq!(s.item(), 2.5);
}

#[test]
fn reshape_to_rank_zero_and_back() {
    let s = Tensor::from_vec(vec![7.0f32], [1, 1]).reshape(Shape::scalar());
    assert_eq!(s.rank(), 0);
    assert_eq!(s.reshape([1]).data(), &[7.0]);
}

#[test]
#[should_panic(expected = "reshape: cannot view shape [2, 3] as [4]")]
fn reshape_checks_the_element_count() {
    let _ = Tensor::<f64>::zeros([2, 3]).reshape([4]);
}

#[test]
#[should_panic(expected = "item: tensor of shape [2] has more than one element")]
fn item_needs_one_element() {
    let _ = Tensor::<f64>::zeros([2]).item();
}
