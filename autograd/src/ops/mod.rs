//! Differentiable ops on [`crate::Var`], one file per family. Each op computes its value with a
//! tensor op and records, right beside it, the rule that sends its gradient back.

pub mod batch_norm;
pub mod conv;
pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod movement;
pub mod reduce;
pub mod softmax;
