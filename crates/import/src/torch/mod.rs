//! PyTorch models onto the architecture: torchvision's MobileNetV2 as a `state_dict` (`.pth`,
//! a zip of a restricted pickle and raw storages) or as ONNX (see `crate::onnx`), both given
//! here as the 52 convolutions in network order (each with its batch norm or bias) and the
//! classifier. Width and classes come from the shapes, every shape is checked against the
//! architecture, batch norms are folded, and the model pads symmetrically as PyTorch does.

pub mod pickle;
pub mod pth;

use crate::ImportError;
use mnv2_arch::{Arch, Layer, Padding};
use mnv2_model::{BlockWeights, ConvWeights, InputSpec, LayerWeights, Model, OutputKind, PoolKind, Task, Tensor};

/// A convolution as PyTorch stores it: weight OIHW, and a bias or a batch norm (or both).
#[derive(Debug, Clone)]
pub struct TorchConv {
    /// Where it came from (a parameter or node name), for messages.
    pub name: String,
    /// [out, in / groups, kh, kw].
    pub shape: [usize; 4],
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub bn: Option<BatchNorm>,
    /// Stride and whether a ReLU6 follows, where the source states them (ONNX graphs; a
    /// `state_dict` has only names).
    pub stride: Option<usize>,
    pub relu6: Option<bool>,
}

/// Batch-norm parameters and running statistics.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub eps: f32,
}

/// The classifier: weights [classes, features] row-major, that shape, and the bias.
pub type Fc = (Vec<f32>, [usize; 2], Vec<f32>);

/// A whole network: the convolutions in order and the classifier.
pub struct TorchNet {
    pub convs: Vec<TorchConv>,
    pub fc: Fc,
    /// The convs whose output a residual Add sums, where the source states it.
    pub residual_after: Option<Vec<usize>>,
}

/// The widths tried first (the published ones); then every width in steps of 0.01.
const COMMON_WIDTHS: [f32; 9] = [1.0, 0.5, 0.75, 0.35, 1.3, 1.4, 0.25, 1.5, 2.0];

/// The model of `net` at `resolution` (ONNX files state it; a `state_dict` does not: 224).
pub fn to_model(net: TorchNet, resolution: u32, name: &str) -> Result<Model, ImportError> {
    let classes = net.fc.1[0];
    if classes == 0 || classes > 100_000 {
        return Err(ImportError::NotMobileNetV2(format!("a classifier of {classes} classes")));
    }
    let widths = COMMON_WIDTHS.into_iter().chain((10..=300).map(|k| k as f32 / 100.0));
    let arch = widths
        .filter_map(|w| Arch::new(w, resolution, classes as u32).ok())
        .map(|a| a.with_padding(Padding::Symmetric))
        .find(|a| expected(a).iter().map(|e| e.0).eq(net.convs.iter().map(|c| c.shape)))
        .ok_or_else(|| mismatch_message(&net, resolution, classes))?;
    check_structure(&net, &arch)?;
    let head = arch.layers().iter().find_map(|l| if let Layer::Head(c) = l { Some(c.output.c as usize) } else { None });
    if net.fc.1[1] != head.unwrap_or(0) {
        return Err(ImportError::NotMobileNetV2(format!(
            "the classifier takes {} features; the convolutions give {}",
            net.fc.1[1],
            head.unwrap_or(0)
        )));
    }
    let mut convs = net.convs.into_iter().map(fold);
    let mut next = || convs.next().expect("shapes checked: one conv per slot").map_err(ImportError::Malformed);
    let mut layers = Vec::new();
    for layer in arch.layers() {
        layers.push(match layer {
            Layer::Stem(_) => LayerWeights::Stem(next()?),
            Layer::Bottleneck(b) => {
                let expand = if b.has_expand() { Some(next()?) } else { None };
                let (depthwise, project) = (next()?, next()?);
                LayerWeights::Bottleneck(Box::new(BlockWeights { expand, depthwise, project, add_output: None }))
            }
            Layer::Head(_) => LayerWeights::Head(next()?),
            Layer::Pool { .. } => LayerWeights::Pool { kind: PoolKind::Mean, output: None },
            Layer::Classifier(_) => {
                let (w, shape, b) = net.fc.clone();
                LayerWeights::Classifier(ConvWeights {
                    weights: Tensor::f32(shape.to_vec(), w),
                    bias: Tensor::f32(vec![classes], b),
                    output: None,
                })
            }
        });
    }
    // torchvision's preprocessing: resize 256, crop 224, ImageNet mean and std per channel.
    let input = InputSpec::torchvision();
    let model = Model {
        arch,
        layers,
        task: Task::Classify,
        input,
        output: OutputKind::Logits,
        labels: None,
        name: name.into(),
    };
    model.validate()?;
    Ok(model)
}

/// The architecture's convolutions in order: OIHW shape, stride, ReLU6 after, residual after.
fn expected(a: &Arch) -> Vec<([usize; 4], usize, bool, bool)> {
    let mut out = Vec::new();
    for layer in a.layers() {
        match layer {
            Layer::Stem(c) | Layer::Head(c) => {
                let k = c.kernel as usize;
                out.push(([c.output.c as usize, c.input.c as usize, k, k], c.stride as usize, true, false));
            }
            Layer::Bottleneck(b) => {
                let (cin, hidden, cout) = (b.input.c as usize, b.hidden as usize, b.out as usize);
                if b.has_expand() {
                    out.push(([hidden, cin, 1, 1], 1, true, false));
                }
                out.push(([hidden, 1, 3, 3], b.stride as usize, true, false));
                out.push(([cout, hidden, 1, 1], 1, false, b.residual));
            }
            _ => {}
        }
    }
    out
}

/// Strides, ReLU6 placement and residual sums as the architecture has them, where stated.
fn check_structure(net: &TorchNet, arch: &Arch) -> Result<(), ImportError> {
    let bad = |m: String| ImportError::NotMobileNetV2(m);
    let slots = expected(arch);
    for (c, (_, stride, relu6, _)) in net.convs.iter().zip(&slots) {
        if c.stride.is_some_and(|s| s != *stride) {
            return Err(bad(format!("{}: stride {:?}, MobileNetV2 has {stride} there", c.name, c.stride)));
        }
        if c.relu6.is_some_and(|r| r != *relu6) {
            let what = if *relu6 { "needs a Clip(0, 6) after it" } else { "is linear (no Clip after it)" };
            return Err(bad(format!("{}: this conv {what}", c.name)));
        }
    }
    if let Some(adds) = &net.residual_after {
        let want: Vec<usize> = slots.iter().enumerate().filter(|(_, s)| s.3).map(|(i, _)| i).collect();
        if *adds != want {
            return Err(bad(format!("residual sums after convs {adds:?}; MobileNetV2 has them after {want:?}")));
        }
    }
    Ok(())
}

fn mismatch_message(net: &TorchNet, resolution: u32, classes: usize) -> ImportError {
    let first = net.convs.first().map_or("no convolutions".to_string(), |c| format!("{} {:?}", c.name, c.shape));
    ImportError::NotMobileNetV2(format!(
        "{} convolutions (first: {first}) match no MobileNetV2 width at {resolution}x{resolution} with {classes} classes \
         (MobileNetV2 has 52)",
        net.convs.len()
    ))
}

/// A convolution with its batch norm folded in, in the model's layouts: full convs OHWI,
/// depthwise [1, 3, 3, C], pointwise [O, 1, 1, I].
fn fold(c: TorchConv) -> Result<ConvWeights, String> {
    let [o, i, kh, kw] = c.shape;
    let (mut scale, mut shift) = (vec![1.0f32; o], c.bias.clone().unwrap_or_else(|| vec![0.0; o]));
    if shift.len() != o {
        return Err(format!("{}: bias of {} for {o} channels", c.name, shift.len()));
    }
    if let Some(bn) = &c.bn {
        if [&bn.gamma, &bn.beta, &bn.mean, &bn.var].iter().any(|v| v.len() != o) {
            return Err(format!("{}: batch norm sizes differ from the {o} channels", c.name));
        }
        for ch in 0..o {
            let s = bn.gamma[ch] / (bn.var[ch] + bn.eps).sqrt();
            shift[ch] = bn.beta[ch] + (shift[ch] - bn.mean[ch]) * s;
            scale[ch] = s;
        }
    }
    let depthwise = i == 1 && kh == 3;
    let mut w = vec![0.0f32; c.weight.len()];
    let shape = if depthwise {
        for ch in 0..o {
            for k in 0..kh * kw {
                w[k * o + ch] = c.weight[ch * kh * kw + k] * scale[ch];
            }
        }
        vec![1, kh, kw, o]
    } else {
        for a in 0..o {
            for y in 0..kh {
                for x in 0..kw {
                    for b in 0..i {
                        w[((a * kh + y) * kw + x) * i + b] = c.weight[((a * i + b) * kh + y) * kw + x] * scale[a];
                    }
                }
            }
        }
        vec![o, kh, kw, i]
    };
    Ok(ConvWeights { weights: Tensor::f32(shape, w), bias: Tensor::f32(vec![o], shift), output: None })
}
