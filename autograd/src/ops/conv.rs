//! Convolution and pooling, whose gradients are the tensor crate's dedicated kernels.

use tensor::{Conv2dGeometry, Element, Pool2dGeometry, Tensor};

use crate::var::Var;

impl<'t, T: Element> Var<'t, T> {
    /// 2-D convolution of NCHW `self` with OIHW `weight` and an optional bias `[O]`.
    /// Asking only for the input's gradient runs no weight-gradient kernel.
    pub fn conv2d(
        &self,
        weight: &Var<'t, T>,
        bias: Option<&Var<'t, T>>,
        geom: Conv2dGeometry,
    ) -> Var<'t, T> {
        let value = self
            .value()
            .conv2d(weight.value(), bias.map(|b| b.value()), geom);
        self.conv_op("conv2d", weight, bias, geom, value, false)
    }

    /// `relu(conv2d(self, weight, bias))` as one op ([`tensor::Tensor::conv2d_relu`]), with
    /// the values and gradients of the pair: the backward masks the output gradient where the
    /// output is not positive (where the convolution was not), then runs the convolution's;
    /// asked for the input's gradient alone, it runs
    /// [`tensor::Tensor::conv2d_relu_grad_input`], which masks as it reads.
    pub fn conv2d_relu(
        &self,
        weight: &Var<'t, T>,
        bias: Option<&Var<'t, T>>,
        geom: Conv2dGeometry,
    ) -> Var<'t, T> {
        let value = self
            .value()
            .conv2d_relu(weight.value(), bias.map(|b| b.value()), geom);
        self.conv_op("conv2d_relu", weight, bias, geom, value, true)
    }

    /// `max_pool2d(relu(conv2d(self, weight, bias)), pool)` as one op
    /// ([`tensor::Tensor::conv2d_relu_max_pool`]), with the values and gradients of the three:
    /// the backward masks the pooled gradient where the pooled output is not positive, sends it
    /// to the recorded positions and runs the convolution's gradients; asked for the input's
    /// gradient alone, it runs [`tensor::Tensor::conv2d_relu_max_pool_grad_input`], which reads
    /// the pooled gradient in place where it can.
    pub fn conv2d_relu_max_pool(
        &self,
        weight: &Var<'t, T>,
        bias: Option<&Var<'t, T>>,
        geom: Conv2dGeometry,
        pool: Pool2dGeometry,
    ) -> Var<'t, T> {
        let (x, w) = (self.value().clone(), weight.value().clone());
        let (pooled, indices) = x.conv2d_relu_max_pool(&w, bias.map(|b| b.value()), geom, pool);
        let kept = pooled.clone();
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        Var::from_op("conv2d_relu_max_pool", &inputs, pooled, move |g, need| {
            let only_input = need[0] && !need[1..].contains(&true);
            if only_input {
                let mut grads = vec![None; need.len()];
                grads[0] = Some(g.conv2d_relu_max_pool_grad_input(
                    &kept,
                    &indices,
                    &w,
                    x.shape(),
                    geom,
                    pool,
                ));
                return grads;
            }
            let output = geom.output_dims(x.dims(), w.dims()).into();
            let dy = g
                .relu_grad(&kept)
                .max_pool2d_backward(&indices, &output, pool);
            conv_grads(&dy, (&x, &w), geom, need)
        })
    }

    /// Records a convolution (followed by ReLU when `relu` holds) whose output is `value`.
    fn conv_op(
        &self,
        op: &str,
        weight: &Var<'t, T>,
        bias: Option<&Var<'t, T>>,
        geom: Conv2dGeometry,
        value: Tensor<T>,
        relu: bool,
    ) -> Var<'t, T> {
        let (x, w) = (self.value().clone(), weight.value().clone());
        let y = relu.then(|| value.clone());
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        Var::from_op(op, &inputs, value, move |g, need| {
            let only_input = need[0] && !need[1..].contains(&true);
            if let (Some(y), true) = (&y, only_input) {
                // An attack's backward: the mask goes into the input gradient's own pass.
                let mut grads = vec![None; need.len()];
                grads[0] = Some(g.conv2d_relu_grad_input(y, &w, x.shape(), geom));
                return grads;
            }
            let masked = y.as_ref().map(|y| g.relu_grad(y));
            conv_grads(masked.as_ref().unwrap_or(g), (&x, &w), geom, need)
        })
    }

    /// Max pooling; the gradient goes to the recorded position of each window's maximum.
    pub fn max_pool2d(&self, geom: Pool2dGeometry) -> Var<'t, T> {
        let shape = self.shape().clone();
        let (value, index) = self.value().max_pool2d(geom);
        self.unary_op("max_pool2d", value, move |g| {
            g.max_pool2d_backward(&index, &shape, geom)
        })
    }

    /// Average pooling; the gradient is spread evenly over each window.
    pub fn avg_pool2d(&self, geom: Pool2dGeometry) -> Var<'t, T> {
        let shape = self.shape().clone();
        self.unary_op("avg_pool2d", self.value().avg_pool2d(geom), move |g| {
            g.avg_pool2d_backward(&shape, geom)
        })
    }
}

/// The gradients a convolution of `x` by `w` (with a bias when `need` has three entries) sends
/// to the operands `need` asks for, for its output gradient `g`.
fn conv_grads<T: Element>(
    g: &Tensor<T>,
    (x, w): (&Tensor<T>, &Tensor<T>),
    geom: Conv2dGeometry,
    need: &[bool],
) -> Vec<Option<Tensor<T>>> {
    let mut grads = vec![
        need[0].then(|| g.conv2d_grad_input(w, x.shape(), geom)),
        need[1].then(|| g.conv2d_grad_weight(x, w.shape(), geom)),
    ];
    if need.len() == 3 {
        grads.push(need[2].then(|| g.sum_axis(3, false).sum_axis(2, false).sum_axis(0, false)));
    }
    grads
}
