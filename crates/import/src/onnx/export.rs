//! ONNX out: a classifier as the graph PyTorch's TorchScript exporter writes (opset 17, NCHW,
//! dynamic batch): Conv with the batch norms folded and explicit pads (TensorFlow's "same"
//! written as the asymmetric pads it is), Clip(0, 6) with initializer bounds, Add for the
//! shortcuts, GlobalAveragePool, Flatten, Gemm, and Softmax where the model ends in one.
//! Quantized models are written dequantized (float32). Labels and normalisation go in the
//! model's metadata properties.

use super::proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetId, StringPair, TensorProto, TensorShape,
    TensorType, TypeProto, ValueInfo,
};
use crate::ImportError;
use mnv2_arch::{Layer, Padding};
use mnv2_model::{ConvWeights, LayerWeights, Model, OutputKind, Task};
use prost::Message;

/// The ONNX file of a float (or dequantized) classifier.
pub fn to_onnx(model: &Model) -> Result<Vec<u8>, ImportError> {
    if !matches!(model.task, Task::Classify) {
        return Err(ImportError::Unsupported("only classifiers can be exported to ONNX".into()));
    }
    let mut g = Graph::default();
    g.initializer("clip_min", vec![], vec![0.0]);
    g.initializer("clip_max", vec![], vec![6.0]);
    let layers = model.arch.layers();
    let mut x = "input".to_string();
    for (n, (layer, weights)) in layers.iter().zip(&model.layers).enumerate() {
        x = match (layer, weights) {
            (Layer::Stem(c), LayerWeights::Stem(w)) | (Layer::Head(c), LayerWeights::Head(w)) => {
                let pads = pads(model.arch.padding, c.input.h, c.kernel, c.stride);
                let y = g.conv(&format!("layers.{n}"), &x, w, Kind::Full, c.stride, pads)?;
                g.clip(&y)
            }
            (Layer::Bottleneck(b), LayerWeights::Bottleneck(bw)) => {
                let block_in = x.clone();
                if let Some(e) = &bw.expand {
                    x = g.conv(&format!("layers.{n}.expand"), &x, e, Kind::Pointwise, 1, [0; 4])?;
                    x = g.clip(&x);
                }
                let pads = pads(model.arch.padding, b.input.h, 3, b.stride);
                x = g.conv(&format!("layers.{n}.depthwise"), &x, &bw.depthwise, Kind::Depthwise, b.stride, pads)?;
                x = g.clip(&x);
                x = g.conv(&format!("layers.{n}.project"), &x, &bw.project, Kind::Pointwise, 1, [0; 4])?;
                if b.residual { g.node("Add", &[&block_in, &x], vec![]) } else { x }
            }
            (Layer::Pool { .. }, LayerWeights::Pool { .. }) => {
                let pooled = g.node("GlobalAveragePool", &[&x], vec![]);
                g.node("Flatten", &[&pooled], vec![int("axis", 1)])
            }
            (Layer::Classifier(_), LayerWeights::Classifier(w)) => {
                let (values, bias) = (w.weights.dequantize()?, w.bias.dequantize()?);
                let classes = bias.len();
                g.initializer("classifier.weight", vec![classes as i64, (values.len() / classes) as i64], values);
                g.initializer("classifier.bias", vec![classes as i64], bias);
                g.node("Gemm", &[&x, "classifier.weight", "classifier.bias"], vec![int("transB", 1)])
            }
            _ => return Err(ImportError::Malformed("layer and weights differ in kind".into())),
        };
    }
    let output = match model.output {
        OutputKind::Softmax { .. } => g.node("Softmax", &[&x], vec![int("axis", 1)]),
        OutputKind::Logits => x,
    };
    let r = model.arch.resolution as i64;
    let graph = GraphProto {
        node: g.nodes,
        name: "mnv2".into(),
        initializer: g.initializers,
        input: vec![value_info("input", &[None, Some(3), Some(r), Some(r)])],
        output: vec![value_info(&output, &[None, Some(model.arch.classes as i64)])],
    };
    let m = ModelProto {
        ir_version: 8,
        producer_name: "mnv2".into(),
        graph: Some(graph),
        opset_import: vec![OperatorSetId { domain: String::new(), version: 17 }],
        metadata_props: metadata(model),
    };
    Ok(m.encode_to_vec())
}

/// Labels and the input's normalisation, as metadata properties.
fn metadata(model: &Model) -> Vec<StringPair> {
    let mut props = vec![
        StringPair { key: "mnv2.mean".into(), value: format!("{:?}", model.input.mean) },
        StringPair { key: "mnv2.std".into(), value: format!("{:?}", model.input.std) },
        StringPair { key: "mnv2.input".into(), value: "NCHW float32: (pixel byte - mean[c]) / std[c]".into() },
    ];
    if let Some(labels) = &model.labels {
        props.push(StringPair { key: "mnv2.labels".into(), value: labels.join("\n") });
    }
    props
}

/// Pads as ONNX orders them: [top, left, bottom, right].
fn pads(padding: Padding, input: u32, kernel: u32, stride: u32) -> [i64; 4] {
    let (before, after) = padding.before_after(input, kernel, stride);
    let (before, after) = (before as i64, after as i64);
    [before, before, after, after]
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Full,
    Depthwise,
    Pointwise,
}

#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    fn initializer(&mut self, name: &str, dims: Vec<i64>, values: Vec<f32>) {
        let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto { dims, data_type: 1, name: name.into(), raw_data, ..Default::default() });
    }

    /// A node of `op` reading `inputs`; returns its output's name.
    fn node(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let name = format!("{op}_{}", self.nodes.len());
        let output = format!("{name}_output");
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name,
            op_type: op.into(),
            attribute,
            domain: String::new(),
        });
        output
    }

    fn clip(&mut self, x: &str) -> String {
        self.node("Clip", &[x, "clip_min", "clip_max"], vec![])
    }

    /// A conv with its weights in ONNX's OIHW (depthwise: [C, 1, kh, kw], group C).
    fn conv(
        &mut self,
        name: &str,
        x: &str,
        w: &ConvWeights,
        kind: Kind,
        stride: u32,
        pads: [i64; 4],
    ) -> Result<String, ImportError> {
        let values = w.weights.dequantize()?;
        let bias = w.bias.dequantize()?;
        let s = &w.weights.shape;
        let (o, k, i) = match (kind, s.len()) {
            (Kind::Depthwise, 4) => (s[3], s[1], 1),
            (_, 4) => (s[0], s[1], s[3]),
            (_, 2) => (s[0], 1, s[1]),
            _ => return Err(ImportError::Malformed(format!("{name}: weight shape {s:?}"))),
        };
        let mut oihw = vec![0f32; values.len()];
        for a in 0..o {
            for y in 0..k {
                for xx in 0..k {
                    for b in 0..i {
                        // Ours: OHWI, depthwise [1, kh, kw, C].
                        let from =
                            if kind == Kind::Depthwise { (y * k + xx) * o + a } else { ((a * k + y) * k + xx) * i + b };
                        oihw[((a * i + b) * k + y) * k + xx] = values[from];
                    }
                }
            }
        }
        let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
        self.initializer(&wn, vec![o as i64, i as i64, k as i64, k as i64], oihw);
        self.initializer(&bn, vec![o as i64], bias);
        let group = if kind == Kind::Depthwise { o as i64 } else { 1 };
        let attrs = vec![
            ints("kernel_shape", &[k as i64, k as i64]),
            ints("strides", &[stride as i64, stride as i64]),
            ints("pads", &pads),
            ints("dilations", &[1, 1]),
            int("group", group),
        ];
        Ok(self.node("Conv", &[x, &wn, &bn], attrs))
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i, r#type: 2, ..Default::default() }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: v.to_vec(), r#type: 7, ..Default::default() }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfo {
    let dim = dims
        .iter()
        .map(|d| match d {
            Some(v) => Dimension { dim_value: Some(*v), dim_param: None },
            None => Dimension { dim_value: None, dim_param: Some("batch".into()) },
        })
        .collect();
    ValueInfo {
        name: name.into(),
        r#type: Some(TypeProto { tensor_type: Some(TensorType { elem_type: 1, shape: Some(TensorShape { dim }) }) }),
    }
}
