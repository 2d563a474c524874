//! The op kinds the backends' entry points take: which elementwise op, which reduction, which
//! softmax, which random draw. Each backend maps a kind to its kernel in one `match`.

/// A binary elementwise op with numpy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `max(a + b, 0)` (0 where the sum is NaN, as the ReLU): a residual block's sum and ReLU
    /// in one pass.
    AddRelu,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// NaN-propagating maximum.
    Maximum,
    /// NaN-propagating minimum.
    Minimum,
    /// 1 where `a > b`, else 0.
    Gt,
    /// 1 where `a >= b`, else 0.
    Ge,
    /// 1 where `a < b`, else 0.
    Lt,
    /// 1 where `a <= b`, else 0.
    Le,
    /// 1 where `a == b`, else 0.
    Eq,
}

impl BinaryOp {
    /// The op's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::AddRelu => "add_relu",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Eq => "eq_mask",
        }
    }
}

/// A unary elementwise op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `e^x`.
    Exp,
    /// Natural logarithm.
    Log,
    /// Square root.
    Sqrt,
    /// Absolute value.
    Abs,
    /// -1, 0 or 1 by the sign.
    Sign,
    /// `max(x, 0)`.
    Relu,
    /// `x * x`.
    Square,
}

impl UnaryOp {
    /// The op's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Relu => "relu",
            UnaryOp::Square => "square",
        }
    }
}

/// An elementwise op with one scalar parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarOp {
    /// `x + s`.
    Add,
    /// `x * s`.
    Mul,
    /// `x^s`.
    Pow,
}

impl ScalarOp {
    /// The op's name in messages (and its GPU kernel's).
    pub fn name(self) -> &'static str {
        match self {
            ScalarOp::Add => "add_scalar",
            ScalarOp::Mul => "mul_scalar",
            ScalarOp::Pow => "powf",
        }
    }
}

/// A reduction (along one axis, or over all elements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// The sum.
    Sum,
    /// The mean.
    Mean,
    /// The maximum (NaN-propagating).
    Max,
    /// The minimum (NaN-propagating).
    Min,
}

impl ReduceOp {
    /// The name of the reduction along an axis, in messages: `sum_axis`, `mean_axis`, ...
    pub fn axis_name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum_axis",
            ReduceOp::Mean => "mean_axis",
            ReduceOp::Max => "max_axis",
            ReduceOp::Min => "min_axis",
        }
    }

    /// The name of the reduction over all elements, in messages: `sum_all`, `mean_all`, ...
    pub fn all_name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum_all",
            ReduceOp::Mean => "mean_all",
            ReduceOp::Max => "max_all",
            ReduceOp::Min => "min_all",
        }
    }
}

/// A softmax-family op along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxOp {
    /// `exp(x) / sum exp(x)`.
    Softmax,
    /// `x - logsumexp(x)`.
    LogSoftmax,
}

impl SoftmaxOp {
    /// The op's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            SoftmaxOp::Softmax => "softmax",
            SoftmaxOp::LogSoftmax => "log_softmax",
        }
    }
}

/// A seeded random draw (the same numbers on every backend for the same `tensor::Rng` state).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Draw {
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound (excluded).
        high: f64,
    },
    /// Normal (Box-Muller).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// -1 or +1 with equal probability.
    Rademacher,
    /// 1 with probability `p`, else 0.
    Bernoulli {
        /// Probability of a 1.
        p: f64,
    },
}

impl Draw {
    /// The name of the `Rng` method that draws it on a device, for messages.
    pub fn on_name(self) -> &'static str {
        match self {
            Draw::Uniform { .. } => "uniform_on",
            Draw::Normal { .. } => "normal_on",
            Draw::Rademacher => "rademacher_on",
            Draw::Bernoulli { .. } => "bernoulli_on",
        }
    }
}
