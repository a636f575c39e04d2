//! Quantization parameters as TFLite's integer kernels derive them: per-tensor activations in
//! the u8 representation, weights with their zero points removed, per-channel requantization
//! multipliers and roundings, fused activations as output clamps.

use super::*;

/// An activation's quantization in the u8 representation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ActQ {
    pub scale: f32,
    pub zero_point: i32,
}

pub(super) fn act_q(q: &Option<Quant>, signed: bool, what: &str) -> Result<ActQ, EngineError> {
    let q = q.as_ref().ok_or_else(|| EngineError::Weights(format!("{what}: activation without quantization")))?;
    if q.scale.len() != 1 || q.zero_point.len() != 1 || !(q.scale[0] > 0.0 && q.scale[0].is_finite()) {
        return Err(EngineError::Weights(format!("{what}: activations must be quantized per tensor")));
    }
    let zp = q.zero_point[0] + if signed { 128 } else { 0 };
    if !(0..=255).contains(&zp) {
        return Err(EngineError::Weights(format!("{what}: zero point {} out of range", q.zero_point[0])));
    }
    Ok(ActQ { scale: q.scale[0], zero_point: zp as i32 })
}

/// Weights with their zero point removed, and the scale of each of `channels` output channels
/// (channel `c` of element `i` is `(i / inner) % channels` along the quantized axis).
pub(super) fn weights_i16(t: &Tensor, channels: usize, what: &str) -> Result<(Vec<i16>, Vec<f32>), EngineError> {
    let q = t.quant.as_ref().ok_or_else(|| EngineError::Weights(format!("{what}: weights without quantization")))?;
    let per_channel = q.scale.len() > 1;
    if q.scale.len() != q.zero_point.len() || (per_channel && q.scale.len() != channels) {
        return Err(EngineError::Weights(format!("{what}: {} scales for {channels} channels", q.scale.len())));
    }
    let inner: usize = t.shape.iter().skip(q.axis + 1).product();
    let channel = |i: usize| {
        if per_channel { (i / inner.max(1)) % channels } else { 0 }
    };
    let values: Vec<i64> = match &t.data {
        TensorData::U8(v) => v.iter().map(|&x| x as i64).collect(),
        TensorData::I8(v) => v.iter().map(|&x| x as i64).collect(),
        _ => {
            return Err(EngineError::Weights(format!("{what}: weights are not 8-bit")));
        }
    };
    let w = values.iter().enumerate().map(|(i, &x)| (x - q.zero_point[channel(i)]) as i16).collect();
    let scales = if per_channel { q.scale.clone() } else { vec![q.scale[0]; channels] };
    Ok((w, scales))
}

pub(super) fn bias_i32(t: &Tensor, n: usize, what: &str) -> Result<Vec<i32>, EngineError> {
    match &t.data {
        TensorData::I32(v) if v.len() == n => Ok(v.clone()),
        TensorData::F32(v) if v.len() == n && v.iter().all(|&x| x == 0.0) => Ok(vec![0; n]),
        _ => Err(EngineError::Weights(format!("{what}: bias is not int32 with {n} values"))),
    }
}

/// The real multiplier `input_scale * weight_scale / output_scale` as TFLite computes it: for
/// uint8 models through `GetQuantizedConvolutionMultipler`, whose product of the two scales is
/// taken in float32 before the division in double; for int8 (per-channel) models all in double.
/// The difference is visible: layer 28 of `mobilenet_v2_1.0_224_quant` on the grey fox has an
/// accumulator of 13327 that becomes 157 with the float product (as TFLite) and 158 without.
pub(super) fn conv_multiplier(input_scale: f32, weight_scale: f32, output_scale: f32, signed: bool) -> f64 {
    let product = if signed { input_scale as f64 * weight_scale as f64 } else { (input_scale * weight_scale) as f64 };
    product / output_scale as f64
}

/// The final rounding of TFLite's kernels: uint8 (per-tensor) kernels round ties away from zero,
/// the int8 per-channel ones toward +infinity. Found against the reference: `rounding_half_up`
/// in the int8 layer test fails on layer 3 of `tf2_mobilenet_v2_1.0_224_ptq` with the other.
pub(super) fn rounding_for(signed: bool) -> Rounding {
    if signed { Rounding::HalfUp } else { Rounding::AwayFromZero }
}

/// Weights, bias, per-channel requantization and output stage of a conv-like layer.
pub(super) struct QConvParts {
    pub w: Vec<i16>,
    pub bias: Vec<i32>,
    pub requant: Vec<Requant>,
    pub stage: OutputStage,
    pub output: ActQ,
}

/// The activation fused into a conv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Act {
    None,
    Relu,
    Relu6,
}

impl From<bool> for Act {
    /// `true`: ReLU6 (the backbone's activation), `false`: none.
    fn from(relu6: bool) -> Act {
        if relu6 { Act::Relu6 } else { Act::None }
    }
}

pub(super) fn stage_for(output: ActQ, act: Act) -> OutputStage {
    match act {
        Act::Relu => OutputStage { zero_point: output.zero_point, min: output.zero_point.max(0), max: 255 },
        _ => OutputStage::new(output.zero_point, output.scale, act == Act::Relu6),
    }
}

pub(super) fn conv_parts(
    cw: &ConvWeights,
    n: usize,
    input: ActQ,
    act: impl Into<Act>,
    signed: bool,
    what: &str,
) -> Result<QConvParts, EngineError> {
    let (w, scales) = weights_i16(&cw.weights, n, what)?;
    let bias = bias_i32(&cw.bias, n, what)?;
    let output = act_q(&cw.output, signed, what)?;
    let rounding = rounding_for(signed);
    let requant = scales
        .iter()
        .map(|&s| Requant::with_rounding(conv_multiplier(input.scale, s, output.scale, signed), rounding))
        .collect();
    let stage = stage_for(output, act.into());
    Ok(QConvParts { w, bias, requant, stage, output })
}

pub(super) fn pack_pointwise(
    isa: Isa,
    cw: &ConvWeights,
    input: ActQ,
    act: impl Into<Act>,
    signed: bool,
    what: &str,
) -> Result<(QPackedB, ActQ), EngineError> {
    let n = cw.weights.shape[0];
    let k = *cw.weights.shape.last().unwrap_or(&0);
    let p = conv_parts(cw, n, input, act, signed, what)?;
    let w = &p.w;
    let packed = QPackedB::new(isa, k, n, |kk, j| w[j * k + kk], &p.bias, input.zero_point, p.requant, p.stage);
    Ok((packed, p.output))
}
