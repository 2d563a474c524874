//! Attacks evaluate the model on a CPU batch in row chunks (mart/src/attack/chunks.rs): the
//! logits of a batch larger than a chunk must be those of the whole batch in one pass.

use autograd::Var;
use mart::attack::attack_logits;
use nn::{Forward, Init, ModelKind};
use tensor::Rng;

#[test]
fn chunked_logits_are_the_whole_batch_logits() {
    let mut rng = Rng::new(21);
    // PyTorch's initialisation: no zero last layer, so the logits differ from row to row.
    let model = ModelKind::SmallCnn.build_init::<f32>(Init::Torch, &mut rng);
    // 300 rows: three chunks of 100 on the CPU.
    let x = rng.uniform::<f32>([300, 1, 28, 28], 0.0, 1.0);
    let chunked = attack_logits(&*model, &x);
    let whole = model
        .forward(&Var::constant(x.clone()), &mut Forward::attack())
        .into_value();
    assert_eq!(chunked.dims(), whole.dims());
    for (i, (c, w)) in chunked.to_vec().iter().zip(whole.to_vec()).enumerate() {
        assert!(
            (c - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "logit {i}: chunked {c}, whole batch {w}"
        );
    }
    // Each chunk's rows in place: row 250 (third chunk) alone gives its logits.
    let alone = attack_logits(&*model, &x.slice(0, 250, 251));
    let row: Vec<f32> = chunked.slice(0, 250, 251).to_vec();
    for (a, r) in alone.to_vec().iter().zip(&row) {
        assert!((a - r).abs() <= 1e-5 * (1.0 + r.abs()));
    }
    let spread: f32 = whole.to_vec().iter().map(|v| v.abs()).sum();
    assert!(
        spread > 0.0,
        "the logits are all zero: the test would not see a wrong row"
    );
}
