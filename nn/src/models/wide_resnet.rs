//! The pre-activation WideResNet of TRADES and MART (`models/wideresnet.py`).

use autograd::Var;
use tensor::{Conv2dGeometry, Element, Rng, Tensor};

use crate::layers::init::default_uniform;
use crate::layers::{AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, Sequential};
use crate::module::{Entry, EntryMut, Forward, Module, join};

/// A convolution without bias initialised as `wideresnet.py`: weight
/// `N(0, 2 / (k * k * out_channels))`.
fn conv<T: Element>(
    in_ch: usize,
    out_ch: usize,
    kernel: usize,
    stride: usize,
    rng: &mut Rng,
) -> Conv2d<T> {
    let std = (2.0 / (kernel * kernel * out_ch) as f64).sqrt();
    let weight = rng.normal([out_ch, in_ch, kernel, kernel], 0.0, std);
    Conv2d::from_tensors(weight, None, Conv2dGeometry::new(stride, kernel / 2))
}

/// `wideresnet.py`'s `BasicBlock` (dropRate 0): bn1, relu1, conv1 3x3 with the stride, bn2,
/// relu2, conv2 3x3, plus the residual. When the width changes, `convShortcut` (1x1 with the
/// stride) is applied to the activated input `relu1(bn1(x))`; otherwise the residual is `x`.
pub struct WideBasicBlock<T: Element> {
    bn1: BatchNorm2d<T>,
    conv1: Conv2d<T>,
    bn2: BatchNorm2d<T>,
    conv2: Conv2d<T>,
    conv_shortcut: Option<Conv2d<T>>,
}

impl<T: Element> WideBasicBlock<T> {
    /// `BasicBlock(in_planes, out_planes, stride)`.
    pub fn new(in_planes: usize, out_planes: usize, stride: usize, rng: &mut Rng) -> Self {
        WideBasicBlock {
            bn1: BatchNorm2d::new(in_planes),
            conv1: conv(in_planes, out_planes, 3, stride, rng),
            bn2: BatchNorm2d::new(out_planes),
            conv2: conv(out_planes, out_planes, 3, 1, rng),
            conv_shortcut: (in_planes != out_planes)
                .then(|| conv(in_planes, out_planes, 1, stride, rng)),
        }
    }
}

impl<T: Element> Module<T> for WideBasicBlock<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let activated = self.bn1.forward(x, fwd).relu();
        let residual = match &self.conv_shortcut {
            Some(shortcut) => shortcut.forward(&activated, fwd),
            None => x.clone(),
        };
        let out = self.conv1.forward(&activated, fwd);
        let out = self.bn2.forward(&out, fwd).relu();
        residual.add(&self.conv2.forward(&out, fwd))
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        self.bn1.visit(&join(prefix, "bn1"), f);
        self.conv1.visit(&join(prefix, "conv1"), f);
        self.bn2.visit(&join(prefix, "bn2"), f);
        self.conv2.visit(&join(prefix, "conv2"), f);
        if let Some(shortcut) = &self.conv_shortcut {
            shortcut.visit(&join(prefix, "convShortcut"), f);
        }
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        self.bn1.visit_mut(&join(prefix, "bn1"), f);
        self.conv1.visit_mut(&join(prefix, "conv1"), f);
        self.bn2.visit_mut(&join(prefix, "bn2"), f);
        self.conv2.visit_mut(&join(prefix, "conv2"), f);
        if let Some(shortcut) = &mut self.conv_shortcut {
            shortcut.visit_mut(&join(prefix, "convShortcut"), f);
        }
    }
}

/// `NetworkBlock`: a group of `WideBasicBlock`s in `.layer` (a `Sequential`), the first one
/// changing the width and striding.
pub struct NetworkBlock<T: Element> {
    layer: Sequential<T>,
}

impl<T: Element> NetworkBlock<T> {
    /// `NetworkBlock(nb_layers, in_planes, out_planes, BasicBlock, stride)`.
    pub fn new(
        nb_layers: usize,
        in_planes: usize,
        out_planes: usize,
        stride: usize,
        rng: &mut Rng,
    ) -> Self {
        let blocks = (0..nb_layers)
            .map(|i| {
                let (inp, s) = if i == 0 {
                    (in_planes, stride)
                } else {
                    (out_planes, 1)
                };
                Box::new(WideBasicBlock::new(inp, out_planes, s, rng)) as Box<dyn Module<T>>
            })
            .collect();
        NetworkBlock {
            layer: Sequential::new(blocks),
        }
    }
}

impl<T: Element> Module<T> for NetworkBlock<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        self.layer.forward(x, fwd)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        self.layer.visit(&join(prefix, "layer"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        self.layer.visit_mut(&join(prefix, "layer"), f);
    }
}

/// WideResNet-`depth`-`widen_factor` (TRADES/MART `WideResNet`, dropRate 0): `conv1` 3x3 3->16
/// (no BN after it); `block1`, `block2`, `block3` of `(depth - 4) / 6` blocks at 16k/32k/64k
/// channels with strides 1/2/2; head `bn1`, ReLU, avg-pool 8, flatten, `fc` to the classes.
/// Initialisation as `wideresnet.py`: conv weights `N(0, 2 / (k * k * out))`, BN weight 1 and
/// bias 0, `fc` weight PyTorch's default and bias 0.
pub struct WideResNet<T: Element> {
    conv1: Conv2d<T>,
    block1: NetworkBlock<T>,
    sub_block1: Option<NetworkBlock<T>>,
    block2: NetworkBlock<T>,
    block3: NetworkBlock<T>,
    bn1: BatchNorm2d<T>,
    fc: Linear<T>,
}

impl<T: Element> WideResNet<T> {
    /// `WideResNet(depth, num_classes, widen_factor)` for `[3, 32, 32]` input. With
    /// `with_sub_block1` it also holds the unused `sub_block1` group (the structure of `block1`)
    /// that the published TRADES/MART checkpoints contain; it never runs in `forward`, and is
    /// drawn last, so the seed gives the same used weights either way.
    pub fn new(
        depth: usize,
        widen_factor: usize,
        num_classes: usize,
        with_sub_block1: bool,
        rng: &mut Rng,
    ) -> Self {
        assert!(
            depth >= 10 && (depth - 4).is_multiple_of(6),
            "WideResNet: depth {depth} is not 6n + 4"
        );
        let n = (depth - 4) / 6;
        let ch = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor];
        let conv1 = conv(3, ch[0], 3, 1, rng);
        let block1 = NetworkBlock::new(n, ch[0], ch[1], 1, rng);
        let block2 = NetworkBlock::new(n, ch[1], ch[2], 2, rng);
        let block3 = NetworkBlock::new(n, ch[2], ch[3], 2, rng);
        let fc_weight = default_uniform([num_classes, ch[3]], ch[3], rng);
        let fc = Linear::from_tensors(fc_weight, Tensor::zeros([num_classes]));
        let sub_block1 = with_sub_block1.then(|| NetworkBlock::new(n, ch[0], ch[1], 1, rng));
        WideResNet {
            conv1,
            block1,
            sub_block1,
            block2,
            block3,
            bn1: BatchNorm2d::new(ch[3]),
            fc,
        }
    }

    /// WRN-34-10 (46,160,474 parameters without `sub_block1`).
    pub fn wrn_34_10(with_sub_block1: bool, rng: &mut Rng) -> Self {
        WideResNet::new(34, 10, 10, with_sub_block1, rng)
    }

    /// WRN-28-10 (36,479,194 parameters without `sub_block1`).
    pub fn wrn_28_10(with_sub_block1: bool, rng: &mut Rng) -> Self {
        WideResNet::new(28, 10, 10, with_sub_block1, rng)
    }

    /// WRN-34-8 (29,551,578 parameters without `sub_block1`).
    pub fn wrn_34_8(with_sub_block1: bool, rng: &mut Rng) -> Self {
        WideResNet::new(34, 8, 10, with_sub_block1, rng)
    }
}

impl<T: Element> Module<T> for WideResNet<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let out = self.conv1.forward(x, fwd);
        let out = self.block1.forward(&out, fwd);
        let out = self.block2.forward(&out, fwd);
        let out = self.block3.forward(&out, fwd);
        let out = self.bn1.forward(&out, fwd).relu();
        let out = AvgPool2d::new(8).forward(&out, fwd);
        let out = Flatten.forward(&out, fwd);
        self.fc.forward(&out, fwd)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        self.conv1.visit(&join(prefix, "conv1"), f);
        self.block1.visit(&join(prefix, "block1"), f);
        if let Some(sub) = &self.sub_block1 {
            sub.visit(&join(prefix, "sub_block1"), f);
        }
        self.block2.visit(&join(prefix, "block2"), f);
        self.block3.visit(&join(prefix, "block3"), f);
        self.bn1.visit(&join(prefix, "bn1"), f);
        self.fc.visit(&join(prefix, "fc"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        self.conv1.visit_mut(&join(prefix, "conv1"), f);
        self.block1.visit_mut(&join(prefix, "block1"), f);
        if let Some(sub) = &mut self.sub_block1 {
            sub.visit_mut(&join(prefix, "sub_block1"), f);
        }
        self.block2.visit_mut(&join(prefix, "block2"), f);
        self.block3.visit_mut(&join(prefix, "block3"), f);
        self.bn1.visit_mut(&join(prefix, "bn1"), f);
        self.fc.visit_mut(&join(prefix, "fc"), f);
    }
}
