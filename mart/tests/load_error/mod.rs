//! What the data tests (`data.rs`, `data_cifar.rs`) share: the error a load must give, and the
//! check that its message names what it should.

use std::path::Path;

use mart::data::{DataError, load};

/// The error of `load`, which must fail.
pub fn load_err(dataset: &str, dir: Option<&Path>) -> DataError {
    match load(dataset, dir) {
        Ok(_) => panic!("loading {dataset} from {dir:?} should fail"),
        Err(e) => e,
    }
}

/// Asserts that the message of `err` contains each of `parts`.
pub fn assert_mentions(err: &DataError, parts: &[&str]) {
    let msg = err.to_string();
    for part in parts {
        assert!(
            msg.contains(part),
            "message {msg:?} should mention {part:?}"
        );
    }
}
