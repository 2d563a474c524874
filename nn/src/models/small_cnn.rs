//! TRADES' `SmallCNN` (`models/small_cnn.py`): the MNIST model of the MART paper.

use autograd::Var;
use tensor::{Conv2dGeometry, Element, Rng, Tensor};

use crate::layers::init::kaiming_normal;
use crate::layers::{Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential};
use crate::module::{Entry, EntryMut, Forward, Module, join};

/// Four 3x3 convolutions and three fully connected layers for `[1, 28, 28]` input, 10 classes,
/// 312,202 parameters; `state_dict` names `feature_extractor.conv1.weight` ...
/// `classifier.fc3.bias`, as TRADES' `SmallCNN`.
pub struct SmallCnn<T: Element> {
    /// conv1 (1->32), relu1, conv2 (32->32), relu2, maxpool1, conv3 (32->64), relu3,
    /// conv4 (64->64), relu4, maxpool2.
    pub feature_extractor: Sequential<T>,
    /// fc1 (1024->200), relu1, drop (0.5), fc2 (200->200), relu2, fc3 (200->10).
    pub classifier: Sequential<T>,
}

/// A 3x3 convolution, stride 1, no padding, initialised as TRADES: Kaiming-normal weight, zero bias.
fn conv<T: Element>(in_ch: usize, out_ch: usize, rng: &mut Rng) -> Box<dyn Module<T>> {
    let weight = kaiming_normal([out_ch, in_ch, 3, 3], in_ch * 9, rng);
    let bias = Tensor::zeros([out_ch]);
    Box::new(Conv2d::from_tensors(
        weight,
        Some(bias),
        Conv2dGeometry::new(1, 0),
    ))
}

impl<T: Element> SmallCnn<T> {
    /// `SmallCNN(drop=0.5)` with TRADES' initialisation: conv weights Kaiming-normal
    /// (`N(0, 2 / fan_in)`), conv biases 0, fc1 and fc2 PyTorch's default, fc3 all zeros.
    pub fn new(rng: &mut Rng) -> Self {
        let feature_extractor = Sequential::named(vec![
            ("conv1", conv(1, 32, rng)),
            ("relu1", Box::new(ReLU)),
            ("conv2", conv(32, 32, rng)),
            ("relu2", Box::new(ReLU)),
            ("maxpool1", Box::new(MaxPool2d::new(2))),
            ("conv3", conv(32, 64, rng)),
            ("relu3", Box::new(ReLU)),
            ("conv4", conv(64, 64, rng)),
            ("relu4", Box::new(ReLU)),
            ("maxpool2", Box::new(MaxPool2d::new(2))),
        ]);
        let fc3 = Linear::from_tensors(Tensor::zeros([10, 200]), Tensor::zeros([10]));
        let classifier = Sequential::named(vec![
            (
                "fc1",
                Box::new(Linear::new(64 * 4 * 4, 200, rng)) as Box<dyn Module<T>>,
            ),
            ("relu1", Box::new(ReLU)),
            ("drop", Box::new(Dropout::new(0.5))),
            ("fc2", Box::new(Linear::new(200, 200, rng))),
            ("relu2", Box::new(ReLU)),
            ("fc3", Box::new(fc3)),
        ]);
        SmallCnn {
            feature_extractor,
            classifier,
        }
    }
}

impl<T: Element> Module<T> for SmallCnn<T> {
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        let features = self.feature_extractor.forward(x, fwd);
        let flat = Module::<T>::forward(&Flatten, &features, fwd);
        self.classifier.forward(&flat, fwd)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>)) {
        self.feature_extractor
            .visit(&join(prefix, "feature_extractor"), f);
        self.classifier.visit(&join(prefix, "classifier"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>)) {
        self.feature_extractor
            .visit_mut(&join(prefix, "feature_extractor"), f);
        self.classifier.visit_mut(&join(prefix, "classifier"), f);
    }
}
