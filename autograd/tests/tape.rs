//! The tape's own behaviour: accumulation, constants, skipped work, upstream seeds, memory.

use autograd::{Tape, Var};
use tensor::counters::{CountedOp, count};
use tensor::{Conv2dGeometry, Tensor};

fn t(values: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_f64s(values, shape)
}

#[test]
fn a_value_used_twice_accumulates_its_gradient() {
    let tape = Tape::new();
    let x = tape.var(t(&[3.0], &[1]));
    // y = x * x + x  =>  dy/dx = 2x + 1 = 7
    let y = x.mul(&x).add(&x).sum_all();
    let g = tape.backward(&y, &[&x]);
    assert_eq!(g[0].data(), &[7.0]);
}

#[test]
fn constants_get_zero_gradient_and_record_nothing() {
    let tape = Tape::new();
    let x = tape.var(t(&[1.0, 2.0], &[2]));
    let c = Var::constant(t(&[5.0, 5.0], &[2]));
    let before = tape.len();
    let unrecorded = c.mul(&c);
    assert!(!unrecorded.is_recorded());
    assert_eq!(tape.len(), before);
    let y = x.mul(&c).sum_all();
    let g = tape.backward(&y, &[&x, &c]);
    assert_eq!(g[0].data(), &[5.0, 5.0]);
    assert_eq!(g[1].data(), &[0.0, 0.0]);
}

#[test]
fn backward_with_a_seed_is_a_vector_jacobian_product() {
    let tape = Tape::new();
    let x = tape.var(t(&[1.0, 2.0, 3.0], &[3]));
    let y = x.square(); // dy_i/dx_i = 2 x_i
    let g = tape.backward_with(&y, t(&[1.0, 10.0, 100.0], &[3]), &[&x]);
    assert_eq!(g[0].data(), &[2.0, 40.0, 600.0]);
}

#[test]
fn input_only_backward_runs_no_weight_gradient_kernel() {
    let tape = Tape::new();
    let x = tape.var(Tensor::<f64>::ones([2, 3, 6, 6]));
    let w = tape.var(Tensor::<f64>::ones([4, 3, 3, 3]));
    let w2 = tape.var(Tensor::<f64>::ones([2, 4, 3, 3]));
    let geom = Conv2dGeometry::new(1, 1);
    let loss = x
        .conv2d(&w, None, geom)
        .relu()
        .conv2d(&w2, None, geom)
        .sum_all();
    let (inputs, weights) = (
        count(CountedOp::Conv2dGradInput),
        count(CountedOp::Conv2dGradWeight),
    );
    let _ = tape.backward(&loss, &[&x]);
    assert_eq!(count(CountedOp::Conv2dGradInput) - inputs, 2);
    assert_eq!(count(CountedOp::Conv2dGradWeight) - weights, 0);
    let _ = tape.backward(&loss, &[&w2]);
    // Only the last conv's weight gradient is needed for w2: no input gradient at all.
    assert_eq!(count(CountedOp::Conv2dGradInput) - inputs, 2);
    assert_eq!(count(CountedOp::Conv2dGradWeight) - weights, 1);
}

#[test]
fn dropping_the_tape_frees_what_it_saved() {
    let x_value = Tensor::<f64>::ones([100]);
    {
        let tape = Tape::new();
        let x = tape.var(x_value.clone());
        let loss = x.exp().mul(&x).sum_all();
        let _ = tape.backward(&loss, &[&x]);
        drop((x, loss));
        // The rules of exp and mul saved x's value: the tape still holds it.
        assert!(x_value.storage_ref_count() > 1);
    }
    assert_eq!(x_value.storage_ref_count(), 1);
}

#[test]
fn a_pgd_style_loop_does_not_grow_memory() {
    let w = Tensor::<f64>::ones([3, 4]);
    let mut x = Tensor::<f64>::ones([2, 3]);
    for _ in 0..100 {
        let tape = Tape::new();
        let xv = tape.var(x.clone());
        let wv = Var::constant(w.clone());
        let loss = xv.matmul(&wv).relu().sum_all();
        let g = tape.backward(&loss, &[&xv]).remove(0);
        x = x.add(&g.sign().mul_scalar(0.01)).clamp(0.0, 2.0);
        // Each iteration's tape dies with it: the weight is shared by this loop alone.
        drop((xv, wv, loss));
        drop(tape);
        assert_eq!(w.storage_ref_count(), 1);
    }
}
