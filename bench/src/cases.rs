//! The kernel benchmark cases: their shapes, the work one run does, and how to run one on our
//! tensors, on any device. The same list feeds criterion, the `kernels` command and (as JSON) the
//! PyTorch script.

use serde_json::{Value, json};
use std::hint::black_box;
use tensor::gpu::GpuError;
use tensor::{Conv2dGeometry, Device, Rng};

/// One run of a prepared case: the kernel, then (on a GPU) a wait until it has finished, so that
/// a clock around the call times the work rather than the launch. An error when the device fails.
pub type Run = Box<dyn FnMut() -> Result<(), GpuError>>;

/// How much work one run of a case does; it also fixes the unit the rate is reported in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Floating-point operations (a multiply-add counts as 2): rates in GFLOP/s.
    Flops(u64),
    /// Bytes read plus bytes written: rates in GB/s.
    Bytes(u64),
}

impl Work {
    /// GFLOP/s or GB/s when one run takes `seconds`.
    pub fn rate(self, seconds: f64) -> f64 {
        let (Work::Flops(amount) | Work::Bytes(amount)) = self;
        amount as f64 / seconds / 1e9
    }

    /// [`Work::rate`] as the tables print it, narrow: `198.4 GF/s` or `20.3 GB/s`, and from
    /// 1000 up in tera (`51.2 TF/s`, a GPU's sgemm; `3.0 TB/s`, its memory).
    pub fn rate_text(self, seconds: f64) -> String {
        let giga = self.rate(seconds);
        let (value, prefix) = if giga >= 1000.0 {
            (giga / 1000.0, 'T')
        } else {
            (giga, 'G')
        };
        let per = match self {
            Work::Flops(_) => "F/s",
            Work::Bytes(_) => "B/s",
        };
        format!("{value:>6.1} {prefix}{per}")
    }
}

/// Which of the three convolution kernels a case times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPass {
    /// `conv2d`: input and weight to output.
    Forward,
    /// `conv2d_grad_input`: output gradient and weight to input gradient.
    GradInput,
    /// `conv2d_grad_weight`: output gradient and input to weight gradient.
    GradWeight,
}

impl ConvPass {
    /// The name used in case names and in the JSON sent to PyTorch.
    pub fn name(self) -> &'static str {
        match self {
            ConvPass::Forward => "conv2d_fwd",
            ConvPass::GradInput => "conv2d_grad_input",
            ConvPass::GradWeight => "conv2d_grad_weight",
        }
    }
}

/// One convolution layer of a model: square images and a square kernel, no bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvLayer {
    /// Short model name for the case name: `cnn` (SmallCNN) or `r18` (ResNet-18).
    pub net: &'static str,
    /// Images per batch.
    pub batch: usize,
    /// Input channels.
    pub in_ch: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Input height and width.
    pub size: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

impl ConvLayer {
    /// Output height and width.
    pub fn out_size(&self) -> usize {
        (self.size + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// FLOPs of any one of the three passes: `2 N O C KH KW OH OW`.
    pub fn flops(&self) -> u64 {
        let o = self.out_size();
        (2 * self.batch * self.out_ch * self.in_ch * self.kernel * self.kernel * o * o) as u64
    }

    fn label(&self) -> String {
        format!(
            "{}_{}to{}_{}x{}_k{}s{}",
            self.net, self.in_ch, self.out_ch, self.size, self.size, self.kernel, self.stride
        )
    }
}

/// The convolution layers of SmallCNN (TRADES' MNIST model) at batch 128, input 1x28x28.
pub fn smallcnn_layers() -> Vec<ConvLayer> {
    let layer = |in_ch, out_ch, size| ConvLayer {
        net: "cnn",
        batch: 128,
        in_ch,
        out_ch,
        size,
        kernel: 3,
        stride: 1,
        padding: 0,
    };
    // 28 -> 26 -> 24, max-pool to 12 -> 10 -> 8.
    vec![
        layer(1, 32, 28),
        layer(32, 32, 26),
        layer(32, 64, 12),
        layer(64, 64, 10),
    ]
}

/// The distinct convolution layers of ResNet-18 (CIFAR variant) at batch 32, input 3x32x32:
/// the stem, each stage's 3x3 convs (the first of a stage with stride 2) and the 1x1 stride-2
/// shortcuts.
pub fn resnet18_layers() -> Vec<ConvLayer> {
    let layer = |in_ch, out_ch, size, kernel, stride| ConvLayer {
        net: "r18",
        batch: 32,
        in_ch,
        out_ch,
        size,
        kernel,
        stride,
        padding: kernel / 2,
    };
    vec![
        layer(3, 64, 32, 3, 1),
        layer(64, 64, 32, 3, 1),
        layer(64, 128, 32, 3, 2),
        layer(128, 128, 16, 3, 1),
        layer(128, 256, 16, 3, 2),
        layer(256, 256, 8, 3, 1),
        layer(256, 512, 8, 3, 2),
        layer(512, 512, 4, 3, 1),
        layer(64, 128, 32, 1, 2),
        layer(128, 256, 16, 1, 2),
        layer(256, 512, 8, 1, 2),
    ]
}

/// One benchmark case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Square f32 matrix product `[n, n] x [n, n]`.
    Sgemm { n: usize },
    /// One convolution pass over one layer.
    Conv { pass: ConvPass, layer: ConvLayer },
    /// Elementwise sum of two f32 vectors of `len` elements.
    Add { len: usize },
    /// ReLU of an f32 vector of `len` elements.
    Relu { len: usize },
    /// Softmax along the last axis of `[rows, cols]`.
    Softmax { rows: usize, cols: usize },
    /// Copy of `len` f32 into an existing buffer: the memory bandwidth reference.
    Memcpy { len: usize },
}

/// `len` as "1M" or "16M" when it is a whole number of 2^20.
fn mega(len: usize) -> String {
    if len.is_multiple_of(1 << 20) {
        format!("{}M", len >> 20)
    } else {
        len.to_string()
    }
}

impl Case {
    /// The kind of kernel: criterion's group name and the first half of [`Case::name`].
    pub fn group(&self) -> &'static str {
        match self {
            Case::Sgemm { .. } => "sgemm",
            Case::Conv { pass, .. } => pass.name(),
            Case::Add { .. } => "add",
            Case::Relu { .. } => "relu",
            Case::Softmax { .. } => "softmax",
            Case::Memcpy { .. } => "memcpy",
        }
    }

    /// The shape part of the name, criterion's benchmark id.
    pub fn id(&self) -> String {
        match self {
            Case::Sgemm { n } => n.to_string(),
            Case::Conv { layer, .. } => layer.label(),
            Case::Add { len } | Case::Relu { len } | Case::Memcpy { len } => mega(*len),
            Case::Softmax { rows, cols } => format!("{rows}x{cols}"),
        }
    }

    /// The unique name `group/id`, as criterion and the comparison table show it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.group(), self.id())
    }

    /// True for a case too slow for the default list on the CPU but milliseconds on a GPU: the
    /// 4096^3 sgemm (about 0.7 s a run on two cores), the size the GPU goal is stated at.
    pub fn is_large(&self) -> bool {
        matches!(*self, Case::Sgemm { n } if n >= 4096)
    }

    /// The work of one run.
    pub fn work(&self) -> Work {
        const F32: usize = size_of::<f32>();
        match *self {
            Case::Sgemm { n } => Work::Flops(2 * (n as u64).pow(3)),
            Case::Conv { layer, .. } => Work::Flops(layer.flops()),
            Case::Add { len } => Work::Bytes((3 * len * F32) as u64),
            Case::Relu { len } | Case::Memcpy { len } => Work::Bytes((2 * len * F32) as u64),
            Case::Softmax { rows, cols } => Work::Bytes((2 * rows * cols * F32) as u64),
        }
    }

    /// The case as the PyTorch script reads it.
    pub fn to_json(&self) -> Value {
        let mut value = match *self {
            Case::Sgemm { n } => json!({ "n": n }),
            Case::Conv { layer, .. } => json!({
                "batch": layer.batch,
                "in_ch": layer.in_ch,
                "out_ch": layer.out_ch,
                "size": layer.size,
                "kernel": layer.kernel,
                "stride": layer.stride,
                "padding": layer.padding,
            }),
            Case::Add { len } | Case::Relu { len } | Case::Memcpy { len } => json!({ "len": len }),
            Case::Softmax { rows, cols } => json!({ "rows": rows, "cols": cols }),
        };
        value["name"] = json!(self.name());
        value["op"] = json!(self.group());
        value
    }

    /// Builds the inputs (seeded random values, drawn on the CPU and moved to `device`) and
    /// returns a closure that runs the kernel once on `device`. An error when the device cannot
    /// be opened or is full.
    pub fn prepare(&self, device: Device) -> Result<Run, GpuError> {
        let mut rng = Rng::new(0);
        let mut uniform = |dims: &[usize]| rng.uniform::<f32>(dims, -1.0, 1.0).to_device(device);
        let mut kernel: Run = match *self {
            Case::Sgemm { n } => {
                let (a, b) = (uniform(&[n, n])?, uniform(&[n, n])?);
                Box::new(move || consume(a.matmul(&b)))
            }
            Case::Conv { pass, layer } => {
                let (n, c, o, s, k) = (
                    layer.batch,
                    layer.in_ch,
                    layer.out_ch,
                    layer.size,
                    layer.kernel,
                );
                let os = layer.out_size();
                let geom = Conv2dGeometry::new(layer.stride, layer.padding);
                let x = uniform(&[n, c, s, s])?;
                let w = uniform(&[o, c, k, k])?;
                let dy = uniform(&[n, o, os, os])?;
                match pass {
                    ConvPass::Forward => Box::new(move || consume(x.conv2d(&w, None, geom))),
                    ConvPass::GradInput => {
                        let shape = x.shape().clone();
                        Box::new(move || consume(dy.conv2d_grad_input(&w, &shape, geom)))
                    }
                    ConvPass::GradWeight => {
                        let shape = w.shape().clone();
                        Box::new(move || consume(dy.conv2d_grad_weight(&x, &shape, geom)))
                    }
                }
            }
            Case::Add { len } => {
                let (a, b) = (uniform(&[len])?, uniform(&[len])?);
                Box::new(move || consume(a.add(&b)))
            }
            Case::Relu { len } => {
                let a = uniform(&[len])?;
                Box::new(move || consume(a.relu()))
            }
            Case::Softmax { rows, cols } => {
                let a = uniform(&[rows, cols])?;
                Box::new(move || consume(a.softmax(1)))
            }
            Case::Memcpy { len } => {
                let src = uniform(&[len])?;
                match src.as_gpu() {
                    // On a GPU: a device-to-device copy into a fresh buffer (from the cache).
                    Some(src) => Box::new(move || consume(src.duplicate()?)),
                    None => {
                        let src = src.to_vec();
                        let mut dst = vec![0.0f32; len];
                        Box::new(move || {
                            dst.copy_from_slice(black_box(&src));
                            black_box(&mut dst);
                            Ok(())
                        })
                    }
                }
            }
        };
        Ok(Box::new(move || {
            kernel()?;
            device.synchronize()
        }))
    }
}

/// Hands a kernel's result to `black_box`, so that the optimiser cannot skip computing it, and
/// frees it.
fn consume<T>(value: T) -> Result<(), GpuError> {
    drop(black_box(value));
    Ok(())
}

/// Every kernel case, in table order: sgemm (4096 last, see [`Case::is_large`]), the three conv
/// passes over SmallCNN then ResNet-18 layers, add, relu, softmax, and last the memcpy reference.
pub fn kernel_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = [128, 256, 512, 1024, 2048, 4096]
        .into_iter()
        .map(|n| Case::Sgemm { n })
        .collect();
    let layers: Vec<ConvLayer> = smallcnn_layers()
        .into_iter()
        .chain(resnet18_layers())
        .collect();
    for pass in [ConvPass::Forward, ConvPass::GradInput, ConvPass::GradWeight] {
        cases.extend(layers.iter().map(|&layer| Case::Conv { pass, layer }));
    }
    const M: usize = 1 << 20;
    cases.extend([
        Case::Add { len: M },
        Case::Add { len: 16 * M },
        Case::Relu { len: M },
        Case::Relu { len: 16 * M },
        Case::Softmax {
            rows: 128,
            cols: 10,
        },
        Case::Memcpy { len: 16 * M },
    ]);
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let cases = kernel_cases();
        let mut names: Vec<String> = cases.iter().map(Case::name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases.len());
    }

    #[test]
    fn layer_sizes_follow_the_models() {
        let cnn: Vec<usize> = smallcnn_layers().iter().map(ConvLayer::out_size).collect();
        assert_eq!(cnn, [26, 24, 10, 8]);
        let r18: Vec<usize> = resnet18_layers().iter().map(ConvLayer::out_size).collect();
        assert_eq!(r18, [32, 32, 16, 16, 8, 8, 4, 4, 16, 8, 4]);
    }

    #[test]
    fn small_cases_run() {
        let tiny = ConvLayer {
            net: "t",
            batch: 2,
            in_ch: 3,
            out_ch: 4,
            size: 5,
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        for pass in [ConvPass::Forward, ConvPass::GradInput, ConvPass::GradWeight] {
            Case::Conv { pass, layer: tiny }
                .prepare(Device::Cpu)
                .unwrap()()
            .unwrap();
        }
        Case::Sgemm { n: 8 }.prepare(Device::Cpu).unwrap()().unwrap();
        Case::Memcpy { len: 8 }.prepare(Device::Cpu).unwrap()().unwrap();
        assert_eq!(Case::Sgemm { n: 8 }.work(), Work::Flops(1024));
        assert_eq!(Work::Flops(2_000_000_000).rate_text(0.01), " 200.0 GF/s");
        assert_eq!(Work::Bytes(3_000_000_000).rate_text(0.001), "   3.0 TB/s");
    }

    #[test]
    fn small_cases_run_on_the_simulator() {
        let tiny = [
            Case::Sgemm { n: 8 },
            Case::Softmax { rows: 4, cols: 10 },
            Case::Memcpy { len: 8 },
        ];
        for case in tiny {
            case.prepare(Device::Sim).unwrap()().unwrap();
        }
    }
}
