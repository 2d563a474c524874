//! The two ways a freshly built model's weights can be drawn: as the reference code of the
//! paper draws them, or as PyTorch's layers do by default.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tensor::{Element, Rng};

use crate::layers::init::default_uniform;
use crate::module::{Entry, EntryMut, Module};

/// How a model's weights start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// The TRADES/MART reference code's initialisation of each model (MART.md, "Models"):
    /// SmallCNN Kaiming-normal convolutions, zero biases and a zero last layer; WideResNet
    /// `wideresnet.py`'s normal convolutions and zero `fc` bias; ResNet PyTorch's default
    /// (MART's `resnet.py` keeps it). What the paper's presets use.
    #[default]
    Trades,
    /// PyTorch's default for every layer: each convolution's and linear layer's weight and
    /// bias `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, BatchNorm weight 1 and bias 0. A short Adam
    /// run from it is markedly more robust (MART.md, "Measured here").
    Torch,
}

impl Init {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Init::Trades => "trades",
            Init::Torch => "torch",
        }
    }
}

impl FromStr for Init {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "trades" => Ok(Init::Trades),
            "torch" => Ok(Init::Torch),
            other => Err(format!(
                "unknown initialisation '{other}': expected torch or trades"
            )),
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parameter's layer and its own name: (`classifier.fc1`, `bias`) for `classifier.fc1.bias`.
fn split(name: &str) -> (&str, &str) {
    name.rsplit_once('.').unwrap_or(("", name))
}

/// Redraws `model`'s weights as PyTorch's default initialisation does: every parameter named
/// `weight` with two or more axes (a convolution's `[O, C, KH, KW]` or a linear layer's
/// `[out, in]`) and the `bias` beside it from `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, with
/// `fan_in` the product of the weight's axes after the first, in the model's `state_dict`
/// order. One-axis weights (BatchNorm's) and buffers are left as built (weight 1, bias 0 and
/// the running statistics in every model here). For a model still on the CPU, as built.
pub fn reinit_torch_default<T: Element>(model: &mut dyn Module<T>, rng: &mut Rng) {
    let mut fan_ins: HashMap<String, usize> = HashMap::new();
    model.visit("", &mut |name, entry| {
        if let (Entry::Param(p), (layer, "weight")) = (entry, split(name)) {
            let dims = p.value().dims();
            if dims.len() >= 2 {
                fan_ins.insert(layer.to_string(), dims[1..].iter().product());
            }
        }
    });
    model.visit_mut("", &mut |name, entry| {
        let (layer, leaf) = split(name);
        if let (EntryMut::Param(p), "weight" | "bias") = (entry, leaf)
            && let Some(&fan_in) = fan_ins.get(layer)
        {
            let value = p.value_mut();
            *value = default_uniform(value.shape().clone(), fan_in, rng);
        }
    });
}
