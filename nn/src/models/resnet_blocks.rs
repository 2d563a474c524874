//! The residual blocks of kuangliu's CIFAR ResNet (`models/resnet.py` of pytorch-cifar, as used
//! by TRADES and MART): `BasicBlock` (ResNet-18) and `Bottleneck` (ResNet-50).

use autograd::Var;
use tensor::{Conv2dGeometry, Element, Rng};

use crate::layers::{BatchNorm2d, Conv2d, conv_bn};
use crate::module::{Entry, EntryMut, Forward, Module, join};

/// Output channels per `planes` of a [`BasicBlock`] (PyTorch's `BasicBlock.expansion`).
pub const BASIC_EXPANSION: usize = 1;
/// Output channels per `planes` of a [`Bottleneck`] (PyTorch's `Bottleneck.expansion`).
pub const BOTTLENECK_EXPANSION: usize = 4;

/// A convolution without bias, PyTorch's default initialisation.
fn conv<T: Element>(
    in_ch: usize,
    out_ch: usize,
    kernel: usize,
    stride: usize,
    rng: &mut Rng,
) -> Conv2d<T> {
    Conv2d::new(
        in_ch,
        out_ch,
        kernel,
        Conv2dGeometry::new(stride, kernel / 2),
        false,
        rng,
    )
}

/// The shortcut of a block: the identity, or when the shape changes a projection
/// `Sequential(Conv2d 1x1 stride s, BatchNorm2d)`, its layers named `shortcut.0` and
/// `shortcut.1` as in PyTorch.
struct Shortcut<T: Element> {
    projection: Option<(Conv2d<T>, BatchNorm2d<T>)>,
}

impl<T: Element> Shortcut<T> {
    /// The identity when `stride == 1` and the channels stay, else the projection.
    fn new(in_ch: usize, out_ch: usize, stride: usize, rng: &mut Rng) -> Self {
        let projection = (stride != 1 || in_ch != out_ch).then(|| {
            (
                conv(in_ch, out_ch, 1, stride, rng),
                BatchNorm2d::new(out_ch),
            )
        });
        Shortcut { projection }
    }

    /// `x`, or `bn(conv(x))` (folded outside training, see [`conv_bn`]).
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        match &self.projection {
            Some((conv, bn)) => conv_bn(conv, bn, x, false, fwd),
            None => x.clone(),
        }
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        if let Some((conv, bn)) = &self.projection {
            conv.visit(&join(prefix, "0"), f);
            bn.visit(&join(prefix, "1"), f);
        }
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        if let Some((conv, bn)) = &mut self.projection {
            conv.visit_mut(&join(prefix, "0"), f);
            bn.visit_mut(&join(prefix, "1"), f);
        }
    }
}

/// `BasicBlock`: `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))` with 3x3 convolutions
/// (expansion 1: `planes` output channels).
pub struct BasicBlock<T: Element> {
    conv1: Conv2d<T>,
    bn1: BatchNorm2d<T>,
    conv2: Conv2d<T>,
    bn2: BatchNorm2d<T>,
    shortcut: Shortcut<T>,
}

impl<T: Element> BasicBlock<T> {
    /// `BasicBlock(in_planes, planes, stride)`.
    pub fn new(in_planes: usize, planes: usize, stride: usize, rng: &mut Rng) -> Self {
        BasicBlock {
            conv1: conv(in_planes, planes, 3, stride, rng),
            bn1: BatchNorm2d::new(planes),
            conv2: conv(planes, planes, 3, 1, rng),
            bn2: BatchNorm2d::new(planes),
            shortcut: Shortcut::new(in_planes, planes, stride, rng),
        }
    }
}

impl<T: Element> Module<T> for BasicBlock<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let out = conv_bn(&self.conv1, &self.bn1, x, true, fwd);
        let out = conv_bn(&self.conv2, &self.bn2, &out, false, fwd);
        out.add_relu(&self.shortcut.forward(x, fwd))
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        self.conv1.visit(&join(prefix, "conv1"), f);
        self.bn1.visit(&join(prefix, "bn1"), f);
        self.conv2.visit(&join(prefix, "conv2"), f);
        self.bn2.visit(&join(prefix, "bn2"), f);
        self.shortcut.visit(&join(prefix, "shortcut"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        self.conv1.visit_mut(&join(prefix, "conv1"), f);
        self.bn1.visit_mut(&join(prefix, "bn1"), f);
        self.conv2.visit_mut(&join(prefix, "conv2"), f);
        self.bn2.visit_mut(&join(prefix, "bn2"), f);
        self.shortcut.visit_mut(&join(prefix, "shortcut"), f);
    }
}

/// `Bottleneck`: 1x1 down to `planes`, 3x3 with the stride, 1x1 up to `4 * planes`, each
/// followed by BatchNorm (and ReLU, except the last before the residual sum).
pub struct Bottleneck<T: Element> {
    conv1: Conv2d<T>,
    bn1: BatchNorm2d<T>,
    conv2: Conv2d<T>,
    bn2: BatchNorm2d<T>,
    conv3: Conv2d<T>,
    bn3: BatchNorm2d<T>,
    shortcut: Shortcut<T>,
}

impl<T: Element> Bottleneck<T> {
    /// `Bottleneck(in_planes, planes, stride)`.
    pub fn new(in_planes: usize, planes: usize, stride: usize, rng: &mut Rng) -> Self {
        let out = BOTTLENECK_EXPANSION * planes;
        Bottleneck {
            conv1: conv(in_planes, planes, 1, 1, rng),
            bn1: BatchNorm2d::new(planes),
            conv2: conv(planes, planes, 3, stride, rng),
            bn2: BatchNorm2d::new(planes),
            conv3: conv(planes, out, 1, 1, rng),
            bn3: BatchNorm2d::new(out),
            shortcut: Shortcut::new(in_planes, out, stride, rng),
        }
    }
}

impl<T: Element> Module<T> for Bottleneck<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let out = conv_bn(&self.conv1, &self.bn1, x, true, fwd);
        let out = conv_bn(&self.conv2, &self.bn2, &out, true, fwd);
        let out = conv_bn(&self.conv3, &self.bn3, &out, false, fwd);
        out.add_relu(&self.shortcut.forward(x, fwd))
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        self.conv1.visit(&join(prefix, "conv1"), f);
        self.bn1.visit(&join(prefix, "bn1"), f);
        self.conv2.visit(&join(prefix, "conv2"), f);
        self.bn2.visit(&join(prefix, "bn2"), f);
        self.conv3.visit(&join(prefix, "conv3"), f);
        self.bn3.visit(&join(prefix, "bn3"), f);
        self.shortcut.visit(&join(prefix, "shortcut"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        self.conv1.visit_mut(&join(prefix, "conv1"), f);
        self.bn1.visit_mut(&join(prefix, "bn1"), f);
        self.conv2.visit_mut(&join(prefix, "conv2"), f);
        self.bn2.visit_mut(&join(prefix, "bn2"), f);
        self.conv3.visit_mut(&join(prefix, "conv3"), f);
        self.bn3.visit_mut(&join(prefix, "bn3"), f);
        self.shortcut.visit_mut(&join(prefix, "shortcut"), f);
    }
}
