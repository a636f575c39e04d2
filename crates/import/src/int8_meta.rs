//! The quantization of an int8 model in mnv2's safetensors files: the integer tensors are stored
//! as they are (I8, U8, I32) and this metadata (`mnv2.int8`) holds each one's scales and zero
//! points and every activation's quantization, by the same slot names as the tensors.

use mnv2_model::{LayerWeights, Model, OutputKind, Quant, Tensor, TensorData};
use serde_json::{Map, Value, json};

fn quant_json(q: &Quant) -> Value {
    json!({"scale": q.scale, "zero_point": q.zero_point, "axis": q.axis})
}

fn quant_of(v: &Value) -> Result<Quant, String> {
    let floats = v["scale"].as_array().ok_or("a quantization without scales")?;
    let zps = v["zero_point"].as_array().ok_or("a quantization without zero points")?;
    let scale: Vec<f32> = floats
        .iter()
        .map(|s| s.as_f64().map(|s| s as f32).ok_or("a scale that is not a number"))
        .collect::<Result<_, _>>()?;
    let zero_point: Vec<i64> =
        zps.iter().map(|z| z.as_i64().ok_or("a zero point that is not an integer")).collect::<Result<_, _>>()?;
    if scale.is_empty() || scale.len() != zero_point.len() || scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err("scales and zero points that do not pair up, or a scale that is not positive".into());
    }
    let axis = v["axis"].as_u64().filter(|&a| a < 4).ok_or("an axis out of range")? as usize;
    Ok(Quant { scale, zero_point, axis })
}

fn opt(v: &Value) -> Result<Option<Quant>, String> {
    if v.is_null() { Ok(None) } else { quant_of(v).map(Some) }
}

/// The slot names and convolutions of a model's layers, as the tensors are named
/// (`layers.3.expand`).
pub fn layer_convs(model: &Model) -> Vec<(String, &mnv2_model::ConvWeights)> {
    let mut out = Vec::new();
    for (i, l) in model.layers.iter().enumerate() {
        match l {
            LayerWeights::Stem(w) | LayerWeights::Head(w) | LayerWeights::Classifier(w) => {
                out.push((format!("layers.{i}"), w))
            }
            LayerWeights::Bottleneck(b) => {
                if let Some(e) = &b.expand {
                    out.push((format!("layers.{i}.expand"), e));
                }
                out.push((format!("layers.{i}.depthwise"), &b.depthwise));
                out.push((format!("layers.{i}.project"), &b.project));
            }
            LayerWeights::Pool { .. } => {}
        }
    }
    out
}

/// `mnv2.int8` for a quantized classifier.
pub fn to_json(model: &Model) -> Value {
    let mut tensors = Map::new();
    let mut outputs = Map::new();
    for (name, w) in layer_convs(model) {
        for (suffix, t) in [("weight", &w.weights), ("bias", &w.bias)] {
            if let Some(q) = &t.quant {
                tensors.insert(format!("{name}.{suffix}"), quant_json(q));
            }
        }
        if let Some(q) = &w.output {
            outputs.insert(name, quant_json(q));
        }
    }
    let mut adds = Map::new();
    let mut pool = Value::Null;
    for (i, l) in model.layers.iter().enumerate() {
        match l {
            LayerWeights::Bottleneck(b) => {
                if let Some(q) = &b.add_output {
                    adds.insert(format!("layers.{i}"), quant_json(q));
                }
            }
            LayerWeights::Pool { output: Some(q), .. } => pool = quant_json(q),
            _ => {}
        }
    }
    let q = |q: &Option<Quant>| q.as_ref().map_or(Value::Null, quant_json);
    let (softmax, softmax_requantized) = match &model.output {
        OutputKind::Softmax { quant, requantized } => (q(quant), q(requantized)),
        OutputKind::Logits => (Value::Null, Value::Null),
    };
    json!({
        "tensors": tensors, "outputs": outputs, "adds": adds, "pool": pool,
        "input": q(&model.input.quant), "input_requantized": q(&model.input.requantized), "input_signed": model.input.signed,
        "softmax": softmax, "softmax_requantized": softmax_requantized,
    })
}

/// The quantization of tensor `name` (an integer tensor must have one).
pub fn tensor_quant(meta: &Value, name: &str) -> Result<Quant, String> {
    quant_of(&meta["tensors"][name]).map_err(|e| format!("{name}: {e}"))
}

/// Puts the activations' quantization of `meta` onto a model whose integer weights are loaded.
pub fn apply(meta: &Value, model: &mut Model) -> Result<(), String> {
    for (i, l) in model.layers.iter_mut().enumerate() {
        let out = |name: String| opt(&meta["outputs"][&name]).map_err(|e| format!("{name}: {e}"));
        match l {
            LayerWeights::Stem(w) | LayerWeights::Head(w) | LayerWeights::Classifier(w) => {
                w.output = out(format!("layers.{i}"))?
            }
            LayerWeights::Bottleneck(b) => {
                if let Some(e) = &mut b.expand {
                    e.output = out(format!("layers.{i}.expand"))?;
                }
                b.depthwise.output = out(format!("layers.{i}.depthwise"))?;
                b.project.output = out(format!("layers.{i}.project"))?;
                b.add_output = opt(&meta["adds"][format!("layers.{i}")])?;
            }
            LayerWeights::Pool { output, .. } => *output = opt(&meta["pool"])?,
        }
    }
    model.input.quant = opt(&meta["input"])?;
    model.input.requantized = opt(&meta["input_requantized"])?;
    model.input.signed = meta["input_signed"].as_bool().unwrap_or(false);
    if let OutputKind::Softmax { quant, requantized } = &mut model.output {
        *quant = opt(&meta["softmax"])?;
        *requantized = opt(&meta["softmax_requantized"])?;
    }
    Ok(())
}

/// A tensor's safetensors dtype and little-endian bytes.
pub fn raw(t: &Tensor) -> (&'static str, Vec<u8>) {
    match &t.data {
        TensorData::F32(v) => ("F32", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::U8(v) => ("U8", v.clone()),
        TensorData::I8(v) => ("I8", v.iter().map(|&x| x as u8).collect()),
        TensorData::I32(v) => ("I32", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    }
}

/// Integer tensor data of `dtype` from its bytes.
pub fn data(dtype: &str, bytes: &[u8]) -> Option<TensorData> {
    Some(match dtype {
        "U8" => TensorData::U8(bytes.to_vec()),
        "I8" => TensorData::I8(bytes.iter().map(|&b| b as i8).collect()),
        "I32" => {
            TensorData::I32(bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
        }
        _ => return None,
    })
}
