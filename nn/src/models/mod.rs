//! The paper's models, with the `state_dict` names, layouts and initialisations of the
//! reference PyTorch code (see MART.md, "Models").

pub mod init_scheme;
pub mod kind;
pub mod resnet;
pub mod resnet_blocks;
pub mod small_cnn;
pub mod wide_resnet;

pub use init_scheme::{Init, reinit_torch_default};
pub use kind::ModelKind;
pub use resnet::{Block, ResNet};
pub use resnet_blocks::{BasicBlock, Bottleneck};
pub use small_cnn::SmallCnn;
pub use wide_resnet::{NetworkBlock, WideBasicBlock, WideResNet};
