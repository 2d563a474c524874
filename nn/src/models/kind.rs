//! `ModelKind`: the models by their command-line names.

use std::fmt;
use std::str::FromStr;

use tensor::{Element, Rng};

use super::{Init, ResNet, SmallCnn, WideResNet, reinit_torch_default};
use crate::module::Module;

/// One of the paper's models, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// `smallcnn`: TRADES' SmallCNN for MNIST.
    SmallCnn,
    /// `resnet18`: the CIFAR ResNet-18.
    ResNet18,
    /// `resnet50`: the CIFAR ResNet-50 (the black-box surrogate).
    ResNet50,
    /// `wrn-34-10`: WideResNet-34-10.
    Wrn34x10,
    /// `wrn-28-10`: WideResNet-28-10.
    Wrn28x10,
    /// `wrn-34-8`: WideResNet-34-8.
    Wrn34x8,
}

impl ModelKind {
    /// Every model, in the order the help text lists them.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::SmallCnn,
        ModelKind::ResNet18,
        ModelKind::ResNet50,
        ModelKind::Wrn34x10,
        ModelKind::Wrn28x10,
        ModelKind::Wrn34x8,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::SmallCnn => "smallcnn",
            ModelKind::ResNet18 => "resnet18",
            ModelKind::ResNet50 => "resnet50",
            ModelKind::Wrn34x10 => "wrn-34-10",
            ModelKind::Wrn28x10 => "wrn-28-10",
            ModelKind::Wrn34x8 => "wrn-34-8",
        }
    }

    /// The model of a command-line name; the error lists the names there are.
    pub fn from_name(name: &str) -> Result<ModelKind, String> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown model '{name}': expected one of {}",
                    names.join(", ")
                )
            })
    }

    /// The input shape of one image, `[C, H, W]`: MNIST `[1, 28, 28]` or CIFAR-10 `[3, 32, 32]`.
    pub fn input_shape(self) -> [usize; 3] {
        match self {
            ModelKind::SmallCnn => [1, 28, 28],
            _ => [3, 32, 32],
        }
    }

    /// A freshly initialised model with 10 classes, drawn from `rng`.
    pub fn build<T: Element>(self, rng: &mut Rng) -> Box<dyn Module<T>> {
        self.build_with(false, rng)
    }

    /// A freshly initialised model with 10 classes, its weights drawn from `rng` as `init` says.
    pub fn build_init<T: Element>(self, init: Init, rng: &mut Rng) -> Box<dyn Module<T>> {
        let mut model = self.build(rng);
        if init == Init::Torch {
            reinit_torch_default(model.as_mut(), rng);
        }
        model
    }

    /// As [`ModelKind::build`]; with `with_sub_block1` a WideResNet also holds the unused
    /// `sub_block1` group of the published TRADES/MART checkpoints (other models ignore it).
    pub fn build_with<T: Element>(
        self,
        with_sub_block1: bool,
        rng: &mut Rng,
    ) -> Box<dyn Module<T>> {
        match self {
            ModelKind::SmallCnn => Box::new(SmallCnn::new(rng)),
            ModelKind::ResNet18 => Box::new(ResNet::resnet18(rng)),
            ModelKind::ResNet50 => Box::new(ResNet::resnet50(rng)),
            ModelKind::Wrn34x10 => Box::new(WideResNet::wrn_34_10(with_sub_block1, rng)),
            ModelKind::Wrn28x10 => Box::new(WideResNet::wrn_28_10(with_sub_block1, rng)),
            ModelKind::Wrn34x8 => Box::new(WideResNet::wrn_34_8(with_sub_block1, rng)),
        }
    }
}

impl FromStr for ModelKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        ModelKind::from_name(name)
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
