//! mnv2's own model files: safetensors (a JSON header, then raw little-endian float32 tensors)
//! with the architecture, labels and input normalisation in the header's metadata. Tensor names
//! follow the architecture's layer list (`layers.3.expand.weight`), so loading maps them back
//! onto `mnv2-arch` slots and checks every shape, like the other importers.

use mnv2_arch::{Arch, Layer};
use mnv2_model::{
    BlockWeights, ConvWeights, InputSpec, LayerWeights, Model, OutputKind, PoolKind, Preprocess, SsdExtraWeights,
    SsdPredictorWeights, SsdWeights, Task, Tensor,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

use crate::ImportError;

/// Every weight tensor by slot name: as stored for an int8 classifier, else dequantized.
fn slots(model: &Model) -> Result<Vec<(String, Tensor)>, ImportError> {
    let mut out = Vec::new();
    let keep = keeps_integers(model);
    let mut conv = |name: String, w: &ConvWeights| -> Result<(), ImportError> {
        for (suffix, t) in [("weight", &w.weights), ("bias", &w.bias)] {
            let t = if keep { t.clone() } else { Tensor::f32(t.shape.clone(), t.dequantize()?) };
            out.push((format!("{name}.{suffix}"), t));
        }
        Ok(())
    };
    for (name, w) in crate::int8_meta::layer_convs(model) {
        conv(name, w)?;
    }
    if let Task::Detect(h) = &model.task {
        for (i, e) in h.extras.iter().enumerate() {
            conv(format!("ssd.extras.{i}.reduce"), &e.reduce)?;
            conv(format!("ssd.extras.{i}.depthwise"), &e.depthwise)?;
            conv(format!("ssd.extras.{i}.expand"), &e.expand)?;
        }
        for (i, p) in h.predictors.iter().enumerate() {
            conv(format!("ssd.predictors.{i}.box_depthwise"), &p.box_depthwise)?;
            conv(format!("ssd.predictors.{i}.box_conv"), &p.box_conv)?;
            conv(format!("ssd.predictors.{i}.class_depthwise"), &p.class_depthwise)?;
            conv(format!("ssd.predictors.{i}.class_conv"), &p.class_conv)?;
        }
    }
    Ok(out)
}

/// Whether a model is saved with its integer weights (quantized classifiers) rather than
/// dequantized (detectors keep float files: the int8 engine does not run their heads).
/// A model mixing integer and float layers (a linear probe's float classifier on a quantized
/// backbone) is saved all float, as it is trained.
fn keeps_integers(model: &Model) -> bool {
    let convs = crate::int8_meta::layer_convs(model);
    let pooled = model.layers.iter().all(|l| !matches!(l, LayerWeights::Pool { output: None, .. }));
    convs.iter().all(|(_, w)| w.weights.quant.is_some() && w.output.is_some())
        && pooled
        && matches!(model.task, Task::Classify)
}

/// Serialises a classification or detection model (an int8 classifier with its integers and
/// their quantization in `mnv2.int8`; a detector's quantized weights dequantized).
pub fn model_to_safetensors(model: &Model, extra: &BTreeMap<String, String>) -> Result<Vec<u8>, ImportError> {
    if matches!(model.task, Task::Segment(_)) {
        return Err(ImportError::Unsupported("segmentation models cannot be saved".into()));
    }
    let a = &model.arch;
    let mut meta = Metadata::new();
    meta.insert("format".to_string(), "mnv2 1".to_string());
    let mut arch = json!({"width": a.width, "resolution": a.resolution, "classes": a.classes, "output_stride": a.output_stride, "divisor": a.divisor});
    // Written only when not TensorFlow's (files of TensorFlow-padded models stay as they were).
    if a.padding == mnv2_arch::Padding::Symmetric {
        arch["padding"] = json!("symmetric");
    }
    meta.insert("mnv2.arch".into(), arch.to_string());
    meta.extend(descriptive_metadata(model));
    let output = if matches!(model.output, OutputKind::Softmax { .. }) { "softmax" } else { "logits" };
    meta.insert("mnv2.output".into(), output.into());
    if matches!(model.task, Task::Detect(_)) {
        meta.insert("mnv2.task".into(), "detect".into());
    }
    if keeps_integers(model) {
        meta.insert("mnv2.int8".into(), crate::int8_meta::to_json(model).to_string());
    }
    meta.extend(extra.clone());
    let tensors: Vec<(String, &'static str, Vec<usize>, Vec<u8>)> = slots(model)?
        .into_iter()
        .map(|(name, t)| {
            let (dtype, bytes) = crate::int8_meta::raw(&t);
            (name, dtype, t.shape, bytes)
        })
        .collect();
    Ok(encode_raw(&tensors, &meta))
}

/// A float32 tensor read from a safetensors file.
#[derive(Debug, Clone, PartialEq)]
pub struct F32Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Tensors by name.
pub type Tensors = std::collections::HashMap<String, F32Tensor>;
/// The `__metadata__` strings.
pub type Metadata = BTreeMap<String, String>;

/// A safetensors file of float32 tensors (name, shape, values) and metadata strings: the 8-byte
/// header length, the JSON header (keys sorted, padded with spaces to a multiple of 8), the data.
pub fn encode(tensors: &[(String, Vec<usize>, &[f32])], metadata: &Metadata) -> Vec<u8> {
    let raw: Vec<(String, &'static str, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            (name.clone(), "F32", shape.clone(), values.iter().flat_map(|v| v.to_le_bytes()).collect())
        })
        .collect();
    encode_raw(&raw, metadata)
}

/// [`encode`] of tensors of any dtype given as (name, dtype, shape, little-endian bytes).
fn encode_raw(tensors: &[(String, &'static str, Vec<usize>, Vec<u8>)], metadata: &Metadata) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!(metadata));
    let mut offset = 0usize;
    for (name, dtype, shape, bytes) in tensors {
        let n = bytes.len();
        header.insert(name.clone(), json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}));
        offset += n;
    }
    let mut head = serde_json::to_vec(&Value::Object(header)).expect("JSON serialises");
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + head.len() + offset);
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    for (_, _, _, bytes) in tensors {
        out.extend_from_slice(bytes);
    }
    out
}

/// Writes `bytes` to `path` atomically: a temporary file beside it renamed over it, so a crash
/// leaves the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ImportError> {
    let io = |source| ImportError::Io { path: path.display().to_string(), source };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Every F32 (and I64, as floats) tensor of a safetensors file, and its metadata; other dtypes
/// are skipped.
pub fn read(bytes: &[u8]) -> Result<(Tensors, Metadata), ImportError> {
    let (header, data) = header(bytes)?;
    let meta = read_metadata(bytes)?;
    let mut tensors = Tensors::new();
    for (name, v) in header.iter().filter(|(name, _)| *name != "__metadata__") {
        let size = match v["dtype"].as_str() {
            Some("F32") => 4,
            Some("I64") => 8,
            _ => continue,
        };
        let (shape, raw) =
            tensor_bytes(name, v, data, size).map_err(|m| ImportError::Malformed(format!("safetensors: {m}")))?;
        let values = match size {
            4 => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
            _ => raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
        };
        tensors.insert(name.clone(), F32Tensor { shape, data: values });
    }
    Ok((tensors, meta))
}

/// Writes a model atomically (a temporary file renamed over `path`: a crash leaves the old file).
pub fn save_model(model: &Model, path: &Path, extra: &BTreeMap<String, String>) -> Result<(), ImportError> {
    write_atomic(path, &model_to_safetensors(model, extra)?)
}

/// The shape and data of tensor `name` (its header entry `entry`) in the data section `data`,
/// checked: a shape of whole numbers, two data offsets in order inside the data, and exactly
/// shape x `size` bytes between them (no overflow on the way).
pub fn tensor_bytes<'a>(
    name: &str,
    entry: &Value,
    data: &'a [u8],
    size: usize,
) -> Result<(Vec<usize>, &'a [u8]), String> {
    let whole = |v: &Value| v.as_u64().and_then(|n| usize::try_from(n).ok());
    let shape = entry["shape"]
        .as_array()
        .ok_or_else(|| format!("{name}: no shape"))?
        .iter()
        .map(|d| whole(d).ok_or_else(|| format!("{name}: bad shape")))
        .collect::<Result<Vec<usize>, String>>()?;
    let offsets = entry["data_offsets"].as_array().ok_or_else(|| format!("{name}: no data offsets"))?;
    let (Some(a), Some(b), 2) = (offsets.first().and_then(whole), offsets.get(1).and_then(whole), offsets.len()) else {
        return Err(format!("{name}: data offsets are not two positions"));
    };
    let raw = data.get(a..b).ok_or_else(|| format!("{name}: data outside the file"))?;
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if count.and_then(|c| c.checked_mul(size)) != Some(raw.len()) {
        return Err(format!("{name}: {} bytes of data for shape {shape:?}", raw.len()));
    }
    Ok((shape, raw))
}

/// Whether `bytes` look like a safetensors file.
pub fn is_safetensors(bytes: &[u8]) -> bool {
    bytes.len() > 9 && bytes[8] == b'{' && u64::from_le_bytes(bytes[..8].try_into().unwrap()) < bytes.len() as u64
}

/// The metadata strings of a safetensors file.
pub fn read_metadata(bytes: &[u8]) -> Result<BTreeMap<String, String>, ImportError> {
    let (header, _) = header(bytes)?;
    Ok(header
        .get("__metadata__")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default())
}

fn header(bytes: &[u8]) -> Result<(serde_json::Map<String, Value>, &[u8]), ImportError> {
    let bad = |m: &str| ImportError::Malformed(format!("safetensors: {m}"));
    let n = u64::from_le_bytes(bytes.get(..8).ok_or_else(|| bad("shorter than 8 bytes"))?.try_into().unwrap());
    let end = 8usize
        .checked_add(usize::try_from(n).map_err(|_| bad("header length"))?)
        .ok_or_else(|| bad("header length"))?;
    let text = bytes.get(8..end).ok_or_else(|| bad("truncated header"))?;
    let v: Value = serde_json::from_slice(text).map_err(|e| bad(&e.to_string()))?;
    match v {
        Value::Object(m) => Ok((m, &bytes[end..])),
        _ => Err(bad("header is not an object")),
    }
}

/// Loads a model written by [`save_model`].
pub fn load_safetensors(bytes: &[u8], name: &str) -> Result<Model, ImportError> {
    let bad = |m: String| ImportError::Malformed(format!("{name}: {m}"));
    let (header, data) = header(bytes)?;
    let meta = read_metadata(bytes)?;
    let arch = arch_of(&meta).map_err(bad)?;
    let int8: Option<Value> = meta
        .get("mnv2.int8")
        .map(|s| serde_json::from_str(s))
        .transpose()
        .map_err(|e| bad(format!("mnv2.int8: {e}")))?;
    let tensor = |key: &str| -> Result<Tensor, ImportError> {
        let t = header.get(key).ok_or_else(|| bad(format!("missing tensor {key}")))?;
        if let (Some(meta), Some(dtype)) = (&int8, t["dtype"].as_str().filter(|d| *d != "F32")) {
            let size = if dtype == "I32" { 4 } else { 1 };
            let (shape, raw) = tensor_bytes(key, t, data, size).map_err(bad)?;
            let values = crate::int8_meta::data(dtype, raw).ok_or_else(|| bad(format!("{key}: dtype {dtype}")))?;
            let quant = crate::int8_meta::tensor_quant(meta, key).map_err(bad)?;
            return Ok(Tensor { shape, data: values, quant: Some(quant) });
        }
        if t["dtype"] != "F32" {
            return Err(bad(format!("{key}: dtype {} (F32 expected)", t["dtype"])));
        }
        let (shape, raw) = tensor_bytes(key, t, data, 4).map_err(bad)?;
        Ok(Tensor::f32(
            shape,
            raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
        ))
    };
    let conv = |prefix: String| -> Result<ConvWeights, ImportError> {
        Ok(ConvWeights {
            weights: tensor(&format!("{prefix}.weight"))?,
            bias: tensor(&format!("{prefix}.bias"))?,
            output: None,
        })
    };
    let detect = meta.get("mnv2.task").map(String::as_str) == Some("detect");
    let ssd = mnv2_arch::SsdLite { backbone: arch };
    let layers = layer_weights(if detect { ssd.backbone_layers() } else { arch.layers() }, &conv)?;
    let task = if detect { Task::Detect(Box::new(ssd_weights(&ssd, &conv)?)) } else { Task::Classify };
    let (mean, std, preprocess) = input_of(&meta).map_err(bad)?;
    let output = if meta.get("mnv2.output").map(String::as_str) == Some("softmax") {
        OutputKind::Softmax { quant: None, requantized: None }
    } else {
        OutputKind::Logits
    };
    let labels = labels_of(&meta);
    let input = InputSpec { mean, std, preprocess, ..InputSpec::uniform(0.0, 1.0) };
    let mut model = Model { arch, layers, task, input, output, labels, name: name.into() };
    if let Some(meta) = &int8 {
        crate::int8_meta::apply(meta, &mut model).map_err(|e| bad(format!("mnv2.int8: {e}")))?;
    }
    model.validate()?;
    Ok(model)
}

/// The metadata that describes a model to its users, whatever the file format: `mnv2.input`
/// (normalisation and preprocessing) and `mnv2.labels` (a JSON list) when it has labels.
pub(crate) fn descriptive_metadata(model: &Model) -> Metadata {
    let mut meta = Metadata::new();
    meta.insert("mnv2.input".into(), input_json(&model.input).to_string());
    if let Some(labels) = &model.labels {
        meta.insert("mnv2.labels".into(), serde_json::to_string(labels).expect("strings serialise"));
    }
    meta
}

/// `mnv2.input` read back: mean, std and preprocessing (127.5, 127.5, crop then resize when absent).
pub(crate) fn input_of(meta: &Metadata) -> Result<([f32; 3], [f32; 3], Preprocess), String> {
    let input: Value =
        meta.get("mnv2.input").map_or(Ok(Value::Null), |s| serde_json::from_str(s)).map_err(|e| e.to_string())?;
    let (mean, std) = (per_channel(&input["mean"])?, per_channel(&input["std"])?);
    let preprocess = match input.get("preprocess").and_then(Value::as_str) {
        None | Some("crop_then_resize") => Preprocess::CropThenResize,
        Some("resize_then_crop") => Preprocess::ResizeThenCrop,
        Some(other) => return Err(format!("mnv2.input has an unknown preprocess {other:?}")),
    };
    Ok((mean, std, preprocess))
}

/// `mnv2.labels` read back (None when absent or not a list of strings).
pub(crate) fn labels_of(meta: &Metadata) -> Option<Vec<String>> {
    meta.get("mnv2.labels").and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
}

/// `mnv2.input`: one mean and std for TensorFlow-style models (as files have always had it),
/// three of each and the preprocessing for others.
fn input_json(i: &InputSpec) -> Value {
    let same = |v: &[f32; 3]| v.iter().all(|&x| x == v[0]);
    if same(&i.mean) && same(&i.std) && i.preprocess == Preprocess::CropThenResize {
        return json!({"mean": i.mean[0], "std": i.std[0]});
    }
    let preprocess = match i.preprocess {
        Preprocess::CropThenResize => "crop_then_resize",
        Preprocess::ResizeThenCrop => "resize_then_crop",
    };
    json!({"mean": i.mean, "std": i.std, "preprocess": preprocess})
}

/// A mean or std: one number for every channel, or three (absent: 127.5).
fn per_channel(v: &Value) -> Result<[f32; 3], String> {
    match v {
        Value::Null => Ok([127.5; 3]),
        Value::Number(n) => Ok([n.as_f64().unwrap_or(127.5) as f32; 3]),
        Value::Array(a) if a.len() == 3 && a.iter().all(Value::is_number) => {
            Ok([0, 1, 2].map(|c| a[c].as_f64().unwrap_or(0.0) as f32))
        }
        other => Err(format!("mnv2.input: mean or std {other}")),
    }
}

/// The architecture written in the `mnv2.arch` metadata.
fn arch_of(meta: &Metadata) -> Result<Arch, String> {
    let text = meta.get("mnv2.arch").ok_or("no mnv2.arch metadata (not an mnv2 model)")?;
    let arch_json: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let num = |k: &str| arch_json[k].as_f64().ok_or_else(|| format!("mnv2.arch has no {k}"));
    let (os, divisor) = (num("output_stride")? as u32, num("divisor")? as u32);
    let padding = match arch_json.get("padding").and_then(Value::as_str) {
        None | Some("tensor_flow_same") => mnv2_arch::Padding::TensorFlowSame,
        Some("symmetric") => mnv2_arch::Padding::Symmetric,
        Some(other) => return Err(format!("mnv2.arch has an unknown padding {other:?}")),
    };
    Arch::new(num("width")? as f32, num("resolution")? as u32, num("classes")? as u32)
        .and_then(|a| a.with_output_stride(os))
        .and_then(|a| a.with_divisor(divisor))
        .map(|a| a.with_padding(padding))
        .map_err(|e| e.to_string())
}

/// The weights of each layer of `layers`, from tensors named `layers.{i}[.part]`.
fn layer_weights(
    layers: Vec<Layer>,
    conv: &dyn Fn(String) -> Result<ConvWeights, ImportError>,
) -> Result<Vec<LayerWeights>, ImportError> {
    let one = |(i, l): (usize, &Layer)| -> Result<LayerWeights, ImportError> {
        Ok(match l {
            Layer::Stem(_) => LayerWeights::Stem(conv(format!("layers.{i}"))?),
            Layer::Head(_) => LayerWeights::Head(conv(format!("layers.{i}"))?),
            Layer::Classifier(_) => LayerWeights::Classifier(conv(format!("layers.{i}"))?),
            Layer::Pool { .. } => LayerWeights::Pool { kind: PoolKind::Mean, output: None },
            Layer::Bottleneck(b) => LayerWeights::Bottleneck(Box::new(BlockWeights {
                expand: b.has_expand().then(|| conv(format!("layers.{i}.expand"))).transpose()?,
                depthwise: conv(format!("layers.{i}.depthwise"))?,
                project: conv(format!("layers.{i}.project"))?,
                add_output: None,
            })),
        })
    };
    layers.iter().enumerate().map(one).collect()
}

/// SSDLite's extra layers and box and class predictors, from tensors named `ssd.*`.
fn ssd_weights(
    ssd: &mnv2_arch::SsdLite,
    conv: &dyn Fn(String) -> Result<ConvWeights, ImportError>,
) -> Result<SsdWeights, ImportError> {
    let extras = (0..mnv2_arch::EXTRA_DEPTHS.len())
        .map(|i| {
            Ok(SsdExtraWeights {
                reduce: conv(format!("ssd.extras.{i}.reduce"))?,
                depthwise: conv(format!("ssd.extras.{i}.depthwise"))?,
                expand: conv(format!("ssd.extras.{i}.expand"))?,
            })
        })
        .collect::<Result<_, ImportError>>()?;
    let predictors = (0..ssd.feature_maps().len())
        .map(|i| {
            Ok(SsdPredictorWeights {
                box_depthwise: conv(format!("ssd.predictors.{i}.box_depthwise"))?,
                box_conv: conv(format!("ssd.predictors.{i}.box_conv"))?,
                class_depthwise: conv(format!("ssd.predictors.{i}.class_depthwise"))?,
                class_conv: conv(format!("ssd.predictors.{i}.class_conv"))?,
            })
        })
        .collect::<Result<_, ImportError>>()?;
    Ok(SsdWeights { extras, predictors })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file of one tensor entry `entry` named `layers.0.weight` under an mnv2
    /// header, with eight data bytes.
    fn model_file(entry: &str) -> Vec<u8> {
        let arch = r#"{\"width\":1.0,\"resolution\":224,\"classes\":1001,\"output_stride\":32,\"divisor\":8}"#;
        let header = format!(r#"{{"__metadata__":{{"mnv2.arch":"{arch}"}},"layers.0.weight":{entry}}}"#);
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&[0; 8]);
        out
    }

    /// Offsets missing, reversed or outside, and shapes whose size overflows, are errors naming
    /// the tensor (the first two panicked on indexing before; an overflowing shape could pass the
    /// size check with wrapped arithmetic).
    #[test]
    fn malformed_tensor_entries_are_errors() {
        for entry in [
            r#"{"dtype":"F32","shape":[2],"data_offsets":[]}"#,
            r#"{"dtype":"F32","shape":[2],"data_offsets":[0]}"#,
            r#"{"dtype":"F32","shape":[2],"data_offsets":[8,0]}"#,
            r#"{"dtype":"F32","shape":[2],"data_offsets":[0,16]}"#,
            r#"{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}"#,
            r#"{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}"#,
        ] {
            let Err(err) = load_safetensors(&model_file(entry), "m") else { panic!("{entry} accepted") };
            let err = err.to_string();
            assert!(err.contains("layers.0.weight"), "{entry}: {err}");
        }
        let (shape, raw) = tensor_bytes("t", &serde_json::json!({"shape": [2], "data_offsets": [0, 8]}), &[1; 8], 4)
            .expect("a well-formed entry");
        assert_eq!((shape, raw.len()), (vec![2], 8));
    }

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    /// Malformed headers are errors of the generic reader, never panics.
    #[test]
    fn malformed_headers_are_errors_of_read() {
        for header in [
            r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[]}}"#,
            r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4]}}"#,
            r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
            r#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
            r#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
            r#"{"x":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#,
            r#"{"x":{"dtype":"F32","data_offsets":[0,4]}}"#,
            r#"[1,2]"#,
        ] {
            assert!(read(&file(header, &[0; 8])).is_err(), "{header}");
        }
        let good = file(r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, &[0, 0, 128, 63, 0, 0, 0, 64]);
        assert_eq!(read(&good).unwrap().0["x"].data, vec![1.0, 2.0]);
    }
}
