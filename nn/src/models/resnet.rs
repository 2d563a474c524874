//! kuangliu's CIFAR ResNet (`models/resnet.py` of pytorch-cifar, as used by TRADES and MART):
//! ResNet-18 and ResNet-50.

use autograd::Var;
use tensor::{Conv2dGeometry, Element, Rng};

use super::resnet_blocks::{BASIC_EXPANSION, BOTTLENECK_EXPANSION, BasicBlock, Bottleneck};
use crate::layers::{AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, Sequential, conv_bn};
use crate::module::{Entry, EntryMut, Forward, Module, join};

/// Which residual block a ResNet stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// [`BasicBlock`] (two 3x3 convolutions, expansion 1).
    Basic,
    /// [`Bottleneck`] (1x1, 3x3, 1x1 convolutions, expansion 4).
    Bottleneck,
}

impl Block {
    /// Output channels per `planes` (PyTorch's `block.expansion`).
    pub fn expansion(self) -> usize {
        match self {
            Block::Basic => BASIC_EXPANSION,
            Block::Bottleneck => BOTTLENECK_EXPANSION,
        }
    }

    fn build<T: Element>(
        self,
        in_planes: usize,
        planes: usize,
        stride: usize,
        rng: &mut Rng,
    ) -> Box<dyn Module<T>> {
        match self {
            Block::Basic => Box::new(BasicBlock::new(in_planes, planes, stride, rng)),
            Block::Bottleneck => Box::new(Bottleneck::new(in_planes, planes, stride, rng)),
        }
    }
}

/// The CIFAR ResNet: 3x3 stem conv (3->64, stride 1, no bias) + BN + ReLU, no max-pool; four
/// stages `layer1` ... `layer4` at 64/128/256/512 planes with strides 1/2/2/2; avg-pool 4,
/// flatten, `linear` to the classes. PyTorch's default initialisation.
pub struct ResNet<T: Element> {
    conv1: Conv2d<T>,
    bn1: BatchNorm2d<T>,
    layers: [Sequential<T>; 4],
    linear: Linear<T>,
}

impl<T: Element> ResNet<T> {
    /// `ResNet(block, num_blocks, num_classes)` for `[3, 32, 32]` input.
    pub fn new(block: Block, num_blocks: [usize; 4], num_classes: usize, rng: &mut Rng) -> Self {
        let conv1 = Conv2d::new(3, 64, 3, Conv2dGeometry::new(1, 1), false, rng);
        let mut in_planes = 64;
        let mut stage = |planes: usize, blocks: usize, stride: usize| {
            // The first block of a stage strides and changes the width; the rest keep both.
            let modules = (0..blocks)
                .map(|i| {
                    let s = if i == 0 { stride } else { 1 };
                    let b = block.build(in_planes, planes, s, rng);
                    in_planes = planes * block.expansion();
                    b
                })
                .collect();
            Sequential::new(modules)
        };
        let layers = [
            stage(64, num_blocks[0], 1),
            stage(128, num_blocks[1], 2),
            stage(256, num_blocks[2], 2),
            stage(512, num_blocks[3], 2),
        ];
        ResNet {
            conv1,
            bn1: BatchNorm2d::new(64),
            layers,
            linear: Linear::new(512 * block.expansion(), num_classes, rng),
        }
    }

    /// `ResNet18()`: BasicBlocks [2, 2, 2, 2], 11,173,962 parameters.
    pub fn resnet18(rng: &mut Rng) -> Self {
        ResNet::new(Block::Basic, [2, 2, 2, 2], 10, rng)
    }

    /// `ResNet50()`: Bottlenecks [3, 4, 6, 3], 23,520,842 parameters.
    pub fn resnet50(rng: &mut Rng) -> Self {
        ResNet::new(Block::Bottleneck, [3, 4, 6, 3], 10, rng)
    }
}

/// `layer1` ... `layer4`.
const LAYER_NAMES: [&str; 4] = ["layer1", "layer2", "layer3", "layer4"];

impl<T: Element> Module<T> for ResNet<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let mut out = conv_bn(&self.conv1, &self.bn1, x, true, fwd);
        for layer in &self.layers {
            out = layer.forward(&out, fwd);
        }
        let out = AvgPool2d::new(4).forward(&out, fwd);
        let out = Flatten.forward(&out, fwd);
        self.linear.forward(&out, fwd)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        self.conv1.visit(&join(prefix, "conv1"), f);
        self.bn1.visit(&join(prefix, "bn1"), f);
        for (name, layer) in LAYER_NAMES.iter().zip(&self.layers) {
            layer.visit(&join(prefix, name), f);
        }
        self.linear.visit(&join(prefix, "linear"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        self.conv1.visit_mut(&join(prefix, "conv1"), f);
        self.bn1.visit_mut(&join(prefix, "bn1"), f);
        for (name, layer) in LAYER_NAMES.iter().zip(&mut self.layers) {
            layer.visit_mut(&join(prefix, name), f);
        }
        self.linear.visit_mut(&join(prefix, "linear"), f);
    }
}
