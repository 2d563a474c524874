//! `tests`: cross-crate property tests (gradient checks) and end-to-end runs; see `tests/`.

pub mod gradcheck;
pub mod strategies;
