//! Layers, each a [`Module`](crate::Module) named and laid out as its `torch.nn` counterpart.

pub mod batch_norm;
pub mod conv2d;
pub mod dropout;
pub mod flatten;
pub mod fold;
pub mod init;
pub mod linear;
pub mod pool;
pub mod relu;
pub mod sequential;

pub use batch_norm::BatchNorm2d;
pub use conv2d::Conv2d;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use fold::conv_bn;
pub use linear::Linear;
pub use pool::{AvgPool2d, MaxPool2d};
pub use relu::ReLU;
pub use sequential::Sequential;
