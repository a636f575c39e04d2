//! Post-training quantization as the TFLite int8 specification has it: weights int8 symmetric
//! per output channel (zero point 0; depthwise along its channel axis), biases int32 at input
//! scale x weight scale, activations int8 asymmetric per tensor from calibrated ranges, the
//! input uint8 pixel bytes requantized to int8 inside (as TFLite's converter writes it), a
//! softmax output at 1/256. The result has the structure of TFLite's int8 PTQ models, which the
//! int8 engine runs.

use crate::{
    BlockWeights, ConvWeights, InputSpec, LayerWeights, Model, ModelError, OutputKind, Quant, Task, Tensor, TensorData,
};

/// Calibrated real ranges (min, max) of every tensor the int8 model quantizes.
#[derive(Debug, Clone, Default)]
pub struct Ranges {
    /// Each convolution's output in network order (stem, per block [expand,] depthwise,
    /// projection before the shortcut, head).
    pub convs: Vec<(f32, f32)>,
    /// Per bottleneck, the residual sum (None without a shortcut).
    pub adds: Vec<Option<(f32, f32)>>,
    pub pooled: (f32, f32),
    pub logits: (f32, f32),
}

/// The int8 quantization of a real range (widened to hold 0, as TFLite nudges it).
pub fn activation_quant((lo, hi): (f32, f32)) -> Quant {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = ((hi - lo) / 255.0).max(1e-8);
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i64;
    Quant::per_tensor(scale, zp)
}

/// `model` (float weights, one input mean and std for every channel) quantized with `ranges`.
pub fn quantize(model: &Model, ranges: &Ranges) -> Result<Model, ModelError> {
    let bad = |m: String| ModelError::Quantize(m);
    if !matches!(model.task, Task::Classify) {
        return Err(bad("only classifiers can be quantized".into()));
    }
    let (mean, std) = (model.input.mean, model.input.std);
    if mean.iter().any(|&m| m != mean[0]) || std.iter().any(|&s| s != std[0]) {
        return Err(bad(
            "the input is normalised per channel (torchvision), which one int8 input quantization cannot express"
                .into(),
        ));
    }
    // Pixel bytes in: real = (byte - mean) / std = scale * (byte - zp).
    let in_u8 = Quant::per_tensor(1.0 / std[0], mean[0].round().clamp(0.0, 255.0) as i64);
    let in_i8 = Quant::per_tensor(in_u8.scale[0], in_u8.zero_point[0] - 128);
    let mut chain = Chain { ranges: ranges.convs.iter(), current: in_i8.clone() };
    let mut adds = ranges.adds.iter();
    let mut layers = Vec::new();
    for l in &model.layers {
        layers.push(match l {
            LayerWeights::Stem(w) => LayerWeights::Stem(chain.conv(w, false)?),
            LayerWeights::Bottleneck(b) => {
                let expand = b.expand.as_ref().map(|e| chain.conv(e, false)).transpose()?;
                let depthwise = chain.conv(&b.depthwise, true)?;
                let project = chain.conv(&b.project, false)?;
                let add = adds.next().ok_or_else(|| bad("fewer add ranges than blocks".into()))?;
                let add_output = add.map(|r| {
                    chain.current = activation_quant(r);
                    chain.current.clone()
                });
                LayerWeights::Bottleneck(Box::new(BlockWeights { expand, depthwise, project, add_output }))
            }
            LayerWeights::Head(w) => LayerWeights::Head(chain.conv(w, false)?),
            LayerWeights::Pool { kind, .. } => {
                chain.current = activation_quant(ranges.pooled);
                LayerWeights::Pool { kind: *kind, output: Some(chain.current.clone()) }
            }
            LayerWeights::Classifier(w) => {
                let out = activation_quant(ranges.logits);
                LayerWeights::Classifier(quantize_conv(w, false, &chain.current, out)?)
            }
        });
    }
    let output = match model.output {
        OutputKind::Logits => OutputKind::Logits,
        OutputKind::Softmax { .. } => OutputKind::Softmax {
            quant: Some(Quant::per_tensor(1.0 / 256.0, -128)),
            requantized: Some(Quant::per_tensor(1.0 / 256.0, 0)),
        },
    };
    let input = InputSpec { quant: Some(in_u8), requantized: Some(in_i8), signed: false, ..model.input.clone() };
    let q = Model { layers, input, output, ..model.clone() };
    q.validate()?;
    Ok(q)
}

/// The walk through the network: the next conv's calibrated range and its input's quantization.
struct Chain<'a> {
    ranges: std::slice::Iter<'a, (f32, f32)>,
    current: Quant,
}

impl Chain<'_> {
    /// The next conv quantized; its output becomes the current activation.
    fn conv(&mut self, w: &ConvWeights, depthwise: bool) -> Result<ConvWeights, ModelError> {
        let range =
            self.ranges.next().ok_or_else(|| ModelError::Quantize("fewer conv ranges than convolutions".into()))?;
        let out = activation_quant(*range);
        let c = quantize_conv(w, depthwise, &self.current, out.clone())?;
        self.current = out;
        Ok(c)
    }
}

/// One conv: int8 weights per output channel, int32 bias, the output's quantization.
fn quantize_conv(w: &ConvWeights, depthwise: bool, input: &Quant, output: Quant) -> Result<ConvWeights, ModelError> {
    let TensorData::F32(values) = &w.weights.data else {
        return Err(ModelError::Quantize("the model's weights are already integers".into()));
    };
    let TensorData::F32(bias) = &w.bias.data else {
        return Err(ModelError::Quantize("the model's biases are already integers".into()));
    };
    // Depthwise [1, kh, kw, C]: channels innermost; others [O, ...]: channels outermost.
    let shape = if w.weights.shape.len() == 2 {
        vec![w.weights.shape[0], 1, 1, w.weights.shape[1]]
    } else {
        w.weights.shape.clone()
    };
    let channels = if depthwise { shape[3] } else { shape[0] };
    let channel_of = |i: usize| if depthwise { i % channels } else { i / (values.len() / channels) };
    let mut max = vec![0f32; channels];
    for (i, v) in values.iter().enumerate() {
        max[channel_of(i)] = max[channel_of(i)].max(v.abs());
    }
    let scales: Vec<f32> = max.iter().map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 }).collect();
    let q: Vec<i8> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v / scales[channel_of(i)]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    let bias_scales: Vec<f32> = scales.iter().map(|s| s * input.scale[0]).collect();
    let qb: Vec<i32> = bias
        .iter()
        .zip(&bias_scales)
        .map(|(b, s)| (*b as f64 / *s as f64).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32)
        .collect();
    let axis = if depthwise { 3 } else { 0 };
    Ok(ConvWeights {
        weights: Tensor {
            shape,
            data: TensorData::I8(q),
            quant: Some(Quant { scale: scales, zero_point: vec![0; channels], axis }),
        },
        bias: Tensor {
            shape: vec![channels],
            data: TensorData::I32(qb),
            quant: Some(Quant { scale: bias_scales, zero_point: vec![0; channels], axis: 0 }),
        },
        output: Some(output),
    })
}
