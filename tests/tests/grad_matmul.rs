//! Gradient checks of `matmul` and `matmul_t` for the three supported rank pairs (2-D x 2-D,
//! batched 3-D x 3-D, 3-D x shared 2-D) and every pair of transpose flags.

use proptest::prelude::*;
use tensor::Tensor;
use tests::gradcheck::check_gradients;
use tests::strategies::{config, tensor_of, value};

/// Ranks of the left and right operand.
#[derive(Clone, Copy, Debug)]
enum Ranks {
    /// `[m, k] x [k, n]`.
    Plain,
    /// `[b, m, k] x [b, k, n]`.
    Batched,
    /// `[b, m, k] x [k, n]`: one right operand shared by the batch.
    SharedRight,
}

/// Operands of `op(a) op(b)` for `ranks` and the transpose flags `(ta, tb)`: each operand is
/// stored with its last two axes swapped when its flag is set.
fn operands(ranks: Ranks, ta: bool, tb: bool) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    (1..=3usize, 1..=4usize, 1..=4usize, 1..=4usize).prop_flat_map(move |(batch, m, k, n)| {
        let matrix = |rows, cols, transposed| {
            if transposed {
                [cols, rows]
            } else {
                [rows, cols]
            }
        };
        let (a, b) = (matrix(m, k, ta), matrix(k, n, tb));
        let (a_dims, b_dims) = match ranks {
            Ranks::Plain => (a.to_vec(), b.to_vec()),
            Ranks::Batched => ([&[batch][..], &a].concat(), [&[batch][..], &b].concat()),
            Ranks::SharedRight => ([&[batch][..], &a].concat(), b.to_vec()),
        };
        (tensor_of(a_dims, value()), tensor_of(b_dims, value()))
    })
}

/// Any of the three rank pairs.
fn any_ranks() -> impl Strategy<Value = Ranks> {
    prop_oneof![
        Just(Ranks::Plain),
        Just(Ranks::Batched),
        Just(Ranks::SharedRight)
    ]
}

/// Random transpose flags `(ta, tb)` and operands of rank pair `ranks` for them.
fn transposed_operands(
    ranks: Ranks,
) -> impl Strategy<Value = (bool, bool, Tensor<f64>, Tensor<f64>)> {
    (any::<bool>(), any::<bool>()).prop_flat_map(move |(ta, tb)| {
        operands(ranks, ta, tb).prop_map(move |(a, b)| (ta, tb, a, b))
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn matmul((a, b) in any_ranks().prop_flat_map(|r| operands(r, false, false))) {
        check_gradients(&[a, b], |v| v[0].matmul(&v[1]))?;
    }

    #[test]
    fn matmul_t_2d((ta, tb, a, b) in transposed_operands(Ranks::Plain)) {
        check_gradients(&[a, b], |v| v[0].matmul_t(ta, &v[1], tb))?;
    }

    #[test]
    fn matmul_t_batched((ta, tb, a, b) in transposed_operands(Ranks::Batched)) {
        check_gradients(&[a, b], |v| v[0].matmul_t(ta, &v[1], tb))?;
    }

    #[test]
    fn matmul_t_3d_by_shared_2d((ta, tb, a, b) in transposed_operands(Ranks::SharedRight)) {
        check_gradients(&[a, b], |v| v[0].matmul_t(ta, &v[1], tb))?;
    }
}
