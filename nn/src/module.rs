//! The `Module` trait, parameters, and the forward context that carries the mode.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use autograd::{Tape, Var};
use tensor::gpu::GpuError;
use tensor::{Device, Element, Pool2dGeometry, Rng, Shape, Tensor};

/// How a forward pass treats batch statistics, dropout and parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics (running statistics updated), dropout on, parameters recorded.
    Train,
    /// Running statistics, dropout off, parameters constant.
    Eval,
    /// As `Eval`, for crafting adversarial examples: nothing in the model changes, and only
    /// the input's gradient is ever asked for.
    Attack,
}

/// A stable identity for a parameter, so gradients find their parameter after backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(usize);

/// A trainable tensor with a stable identity.
#[derive(Clone, Debug)]
pub struct Param<T: Element> {
    id: ParamId,
    value: Tensor<T>,
}

impl<T: Element> Param<T> {
    /// A parameter with a fresh identity.
    pub fn new(value: Tensor<T>) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Param {
            id: ParamId(NEXT.fetch_add(1, Ordering::Relaxed)),
            value,
        }
    }

    /// Its identity.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// Its current value.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// Mutable access for optimisers and checkpoint loading: the one place parameters change.
    pub fn value_mut(&mut self) -> &mut Tensor<T> {
        &mut self.value
    }
}

/// One `state_dict` entry seen by [`Module::visit`].
pub enum Entry<'a, T: Element> {
    /// A trainable parameter.
    Param(&'a Param<T>),
    /// A float buffer (e.g. BatchNorm's running mean).
    Buffer(&'a Tensor<T>),
    /// An integer counter buffer (BatchNorm's `num_batches_tracked`, int64 in PyTorch).
    Count(i64),
}

/// One `state_dict` entry seen by [`Module::visit_mut`].
pub enum EntryMut<'a, T: Element> {
    /// A trainable parameter.
    Param(&'a mut Param<T>),
    /// A float buffer.
    Buffer(&'a mut Tensor<T>),
    /// An integer counter buffer.
    Count(&'a mut i64),
}

/// A layer or model: a forward pass over `Var`s and a visitor over its named state.
pub trait Module<T: Element> {
    /// Runs the module on `x` under the mode and tape of `fwd`.
    fn forward<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T>;

    /// `relu(self.forward(x))`, the module followed by a ReLU. A layer that can apply the ReLU
    /// inside its own op overrides this with the same values and gradients ([`Conv2d`]'s
    /// [`Var::conv2d_relu`]); [`Sequential`] calls it for a child followed by a [`ReLU`].
    ///
    /// [`Conv2d`]: crate::layers::Conv2d
    /// [`Sequential`]: crate::layers::Sequential
    /// [`ReLU`]: crate::layers::ReLU
    fn forward_relu<'t>(&self, x: &Var<'t, T>, fwd: &mut Forward<'t, T>) -> Var<'t, T> {
        self.forward(x, fwd).relu()
    }

    /// `max_pool2d(relu(self.forward(x)), pool)`, the module followed by a ReLU and a max
    /// pooling. A layer that can pool inside its own op overrides this with the same values and
    /// gradients ([`Conv2d`]'s [`Var::conv2d_relu_max_pool`]); [`Sequential`] calls it for a
    /// child followed by a [`ReLU`] and a [`MaxPool2d`].
    ///
    /// [`Conv2d`]: crate::layers::Conv2d
    /// [`Sequential`]: crate::layers::Sequential
    /// [`ReLU`]: crate::layers::ReLU
    /// [`MaxPool2d`]: crate::layers::MaxPool2d
    fn forward_relu_max_pool<'t>(
        &self,
        x: &Var<'t, T>,
        pool: Pool2dGeometry,
        fwd: &mut Forward<'t, T>,
    ) -> Var<'t, T> {
        self.forward_relu(x, fwd).max_pool2d(pool)
    }

    /// True for [`crate::layers::ReLU`]: a module that [`Module::forward_relu`] of the module
    /// before it may stand in for.
    fn is_relu(&self) -> bool {
        false
    }

    /// The windows of a [`crate::layers::MaxPool2d`]: a module that
    /// [`Module::forward_relu_max_pool`] of the two modules before it may stand in for.
    fn max_pool_geometry(&self) -> Option<Pool2dGeometry> {
        None
    }

    /// Calls `f` with the PyTorch `state_dict` name (prefixed by `prefix`) of every parameter
    /// and buffer, in `state_dict` order.
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, T>));

    /// As [`Module::visit`], with mutable access.
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, T>));

    /// Moves every parameter and buffer to `device` (as `model.to(device)` in PyTorch). A device
    /// that cannot be opened, or f64 for a GPU, is an error (the model may then be partly
    /// moved: drop it or move it back).
    fn to_device(&mut self, device: Device) -> Result<(), GpuError> {
        let mut failure = None;
        self.visit_mut("", &mut |_, entry| {
            if failure.is_some() {
                return;
            }
            let tensor = match entry {
                EntryMut::Param(p) => p.value_mut(),
                EntryMut::Buffer(b) => b,
                EntryMut::Count(_) => return,
            };
            match tensor.to_device(device) {
                Ok(moved) => *tensor = moved,
                Err(e) => failure = Some(e),
            }
        });
        failure.map_or(Ok(()), Err)
    }
}

/// `prefix.name`, or `name` at the top level.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Number of trainable parameter elements of a module.
pub fn parameter_count<T: Element>(module: &dyn Module<T>) -> usize {
    let mut n = 0;
    module.visit("", &mut |_, e| {
        if let Entry::Param(p) = e {
            n += p.value().numel();
        }
    });
    n
}

/// The device of the model's first parameter or buffer (the CPU for a model without any).
pub fn device_of<T: Element>(model: &dyn Module<T>) -> Device {
    let mut device = None;
    model.visit("", &mut |_, entry| {
        let found = match entry {
            Entry::Param(p) => p.value().device(),
            Entry::Buffer(b) => b.device(),
            Entry::Count(_) => return,
        };
        device.get_or_insert(found);
    });
    device.unwrap_or(Device::Cpu)
}

/// Every `state_dict` name and shape, in order (integer counters have shape `[]`).
pub fn state_dict_shapes<T: Element>(module: &dyn Module<T>) -> Vec<(String, Shape)> {
    let mut out = Vec::new();
    module.visit("", &mut |name, e| {
        let shape = match e {
            Entry::Param(p) => p.value().shape().clone(),
            Entry::Buffer(b) => b.shape().clone(),
            Entry::Count(_) => Shape::scalar(),
        };
        out.push((name.to_string(), shape));
    });
    out
}

/// Gradients of a loss with respect to the parameters a forward pass recorded.
pub type ParamGrads<T> = HashMap<ParamId, Tensor<T>>;

/// The context of one forward pass: the mode, the tape parameters are recorded on, and the
/// random stream dropout draws from.
pub struct Forward<'t, T: Element> {
    mode: Mode,
    tape: Option<&'t Tape<T>>,
    leaves: RefCell<Vec<(ParamId, Var<'t, T>)>>,
    rng: Rng,
}

impl<'t, T: Element> Forward<'t, T> {
    /// Training: batch statistics, dropout from `rng`, parameters recorded on `tape` so that
    /// [`Forward::param_grads`] can return their gradients.
    pub fn train(tape: &'t Tape<T>, rng: Rng) -> Self {
        Forward {
            mode: Mode::Train,
            tape: Some(tape),
            leaves: RefCell::new(Vec::new()),
            rng,
        }
    }

    /// Evaluation: running statistics, no dropout, parameters constant.
    pub fn eval() -> Self {
        Forward {
            mode: Mode::Eval,
            tape: None,
            leaves: RefCell::new(Vec::new()),
            rng: Rng::new(0),
        }
    }

    /// Crafting an attack: as evaluation, and nothing in the model may change.
    pub fn attack() -> Self {
        Forward {
            mode: Mode::Attack,
            ..Forward::eval()
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The parameter as a Var: a leaf on the tape in training (the same leaf every time it is
    /// used in this pass), a constant otherwise.
    pub fn param(&self, p: &Param<T>) -> Var<'t, T> {
        let Some(tape) = self.tape else {
            return Var::constant(p.value().clone());
        };
        let mut leaves = self.leaves.borrow_mut();
        if let Some((_, v)) = leaves.iter().find(|(id, _)| *id == p.id()) {
            return v.clone();
        }
        let v = tape.var(p.value().clone());
        leaves.push((p.id(), v.clone()));
        v
    }

    /// A dropout keep-mask scaled by `1 / (1 - p)` (inverted dropout, as PyTorch), drawn on
    /// `device` (the input's).
    pub fn dropout_mask(&mut self, shape: Shape, p: f64, device: Device) -> Tensor<T> {
        let scale = T::from_f64_lossy(1.0 / (1.0 - p));
        self.rng
            .bernoulli_on::<T>(device, shape, 1.0 - p)
            .mul_scalar(scale)
    }

    /// Gradients of `loss` with respect to every parameter this pass recorded.
    pub fn param_grads(&self, loss: &Var<'t, T>) -> ParamGrads<T> {
        let tape = self
            .tape
            .expect("param_grads: this forward pass recorded no parameters");
        let leaves = self.leaves.borrow();
        let vars: Vec<&Var<'t, T>> = leaves.iter().map(|(_, v)| v).collect();
        let grads = tape.backward(loss, &vars);
        leaves.iter().map(|(id, _)| *id).zip(grads).collect()
    }
}
