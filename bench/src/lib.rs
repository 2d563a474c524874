//! `bench`: criterion benchmarks of the kernels, and the side-by-side PyTorch comparison of a
//! MART training step (`cargo run -p bench --release -- mart-step --torch`).
//!
//! [`cases`] is the list of kernel cases that the criterion bench (`benches/kernels.rs`) and
//! [`kernels`] (with `torch_kernels.py` for PyTorch's side) time;
//! [`mart_step`] times the step here and [`torch`] runs `torch_mart_step.py` for the same step;
//! [`autoattack`] times our AutoAttack beside the original (pyautoattack).

pub mod autoattack;
pub mod cases;
pub mod flops;
pub mod kernels;
pub mod mart_step;
pub mod torch;
