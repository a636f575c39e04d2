//! ONNX in: a MobileNetV2 graph as PyTorch's exporters write it (the TorchScript one: Conv with
//! folded batch norms, Clip with Constant bounds, GlobalAveragePool, Flatten, Gemm; the
//! torch.export one: Clip bounds as initializers, ReduceMean, Reshape, Gemm without bias) or
//! with BatchNormalization nodes and MatMul + Add. The graph is walked node by node: each
//! convolution must read the previous one's output (or a residual sum), every attribute must be
//! one MobileNetV2 has, residual Adds must join a block's output to its input, and the
//! convolutions then go onto the architecture through `crate::torch` (shapes, strides and ReLU6
//! placement checked there). Anything else is refused with the node's name.

mod export;
mod proto;

pub use export::to_onnx;

use crate::ImportError;
use crate::torch::{BatchNorm, Fc, TorchConv, TorchNet};
use mnv2_model::Model;
use prost::Message;
use proto::{AttributeProto, GraphProto, NodeProto, TensorProto};
use std::collections::HashMap;

/// Whether `bytes` start like an ONNX ModelProto (field 1, ir_version, as a varint).
pub fn looks_like_onnx(bytes: &[u8], name: &str) -> bool {
    name.ends_with(".onnx") || (bytes.first() == Some(&0x08) && bytes.get(1).is_some_and(|&v| (3..=20).contains(&v)))
}

/// Loads an ONNX MobileNetV2 classifier.
pub fn load_onnx(bytes: &[u8], name: &str) -> Result<Model, ImportError> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| ImportError::Malformed(format!("{name}: ONNX: {e}")))?;
    if let Some(op) = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        && !(7..=23).contains(&op.version)
    {
        return Err(ImportError::Unsupported(format!("{name}: ONNX opset {}", op.version)));
    }
    let graph = model.graph.ok_or_else(|| ImportError::Malformed(format!("{name}: no graph")))?;
    let not = |m: String| ImportError::NotMobileNetV2(format!("{name}: {m}"));
    let (input, resolution) = image_input(&graph).map_err(not)?;
    let net = Walk::new(&graph, input).map_err(not)?.run().map_err(not)?;
    crate::torch::to_model(net, resolution, name)
}

/// The graph's one input that is not an initializer (the image), and its height (= width) from
/// its declared NCHW shape.
fn image_input(g: &GraphProto) -> Result<(String, u32), String> {
    let inits: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<_> = g.input.iter().filter(|i| !inits.contains(&i.name.as_str())).collect();
    let [input] = inputs[..] else { return Err(format!("{} graph inputs; a classifier has one image", inputs.len())) };
    let dims: Vec<Option<i64>> = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.iter().map(|d| d.dim_value).collect())
        .unwrap_or_default();
    match dims[..] {
        [_, Some(3), Some(h), Some(w)] if h == w && (32..=4096).contains(&h) => Ok((input.name.clone(), h as u32)),
        _ => Err(format!("input {} has shape {dims:?}; expected [batch, 3, S, S]", input.name)),
    }
}

/// A float tensor from an initializer or a Constant.
#[derive(Clone)]
struct Value {
    dims: Vec<usize>,
    data: Vec<f32>,
}

fn tensor_value(t: &TensorProto) -> Result<Value, String> {
    if t.data_location == 1 {
        return Err(format!("{}: data in an external file (save the model as one file)", t.name));
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("{}: dimension {d}", t.name)))
        .collect::<Result<_, _>>()?;
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| format!("{}: too large", t.name))?;
    let data: Vec<f32> = match t.data_type {
        1 if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
        }
        1 => t.float_data.clone(),
        7 if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
        }
        7 => t.int64_data.iter().map(|&v| v as f32).collect(),
        other => return Err(format!("{}: element type {other} (float32 or int64 expected)", t.name)),
    };
    if data.len() != n {
        return Err(format!("{}: {} values for shape {dims:?}", t.name, data.len()));
    }
    Ok(Value { dims, data })
}

fn attr<'a>(n: &'a NodeProto, key: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == key)
}

/// One pass over the nodes in order.
struct Walk<'a> {
    nodes: &'a [NodeProto],
    values: HashMap<String, Value>,
    /// The activation the next node must read.
    current: String,
    /// Each conv's input activation, and whether a Clip(0, 6) followed it.
    conv_inputs: Vec<String>,
    convs: Vec<TorchConv>,
    /// (index of the conv whose output was summed, the other operand's name).
    adds: Vec<(usize, String)>,
}

impl<'a> Walk<'a> {
    /// A walk from the image input `current`, with every initializer read (a bad one is an error
    /// naming it, not a missing value later).
    fn new(g: &'a GraphProto, current: String) -> Result<Walk<'a>, String> {
        let values =
            g.initializer.iter().map(|t| Ok((t.name.clone(), tensor_value(t)?))).collect::<Result<_, String>>()?;
        Ok(Walk { nodes: &g.node, values, current, conv_inputs: Vec::new(), convs: Vec::new(), adds: Vec::new() })
    }

    fn run(mut self) -> Result<TorchNet, String> {
        let mut fc: Option<Fc> = None;
        let mut pooled = false;
        for n in self.nodes {
            let at = |m: String| format!("node {:?} ({}): {m}", n.name, n.op_type);
            if !(n.domain.is_empty() || n.domain == "ai.onnx") {
                return Err(at(format!("operator domain {:?}", n.domain)));
            }
            let out = n.output.first().cloned().unwrap_or_default();
            if n.op_type == "Constant" {
                let t =
                    attr(n, "value").and_then(|a| a.t.as_ref()).ok_or_else(|| at("not a tensor constant".into()))?;
                self.values.insert(out, tensor_value(t).map_err(at)?);
                continue;
            }
            let reads_current = n.input.first() == Some(&self.current);
            match n.op_type.as_str() {
                "Conv" if !pooled && reads_current => self.conv(n).map_err(at)?,
                "BatchNormalization" if reads_current => self.batch_norm(n).map_err(at)?,
                "Clip" if reads_current => self.clip(n).map_err(at)?,
                "Add" if fc.is_none() && n.input.len() == 2 && n.input.contains(&self.current) => {
                    self.residual(n).map_err(at)?
                }
                "Add" if fc.is_some() && reads_current => {
                    let b = self.value(n.input.get(1)).map_err(at)?;
                    let f = fc.as_mut().expect("checked");
                    if b.data.len() != f.1[0] {
                        return Err(at(format!("a bias of {} for {} classes", b.data.len(), f.1[0])));
                    }
                    f.2.iter_mut().zip(&b.data).for_each(|(x, y)| *x += y);
                }
                "GlobalAveragePool" if reads_current && !pooled => pooled = true,
                "ReduceMean" if reads_current && !pooled => {
                    let axes: Vec<i64> = match attr(n, "axes") {
                        Some(a) => a.ints.clone(),
                        None => self.value(n.input.get(1)).map_err(at)?.data.iter().map(|&v| v as i64).collect(),
                    };
                    let mut spatial: Vec<i64> = axes.iter().map(|&a| if a < 0 { a + 4 } else { a }).collect();
                    spatial.sort_unstable();
                    if spatial != [2, 3] {
                        return Err(at(format!("a mean over axes {axes:?}, not the spatial ones")));
                    }
                    pooled = true;
                }
                "Flatten" | "Reshape" | "Squeeze" | "Identity" if reads_current && pooled && fc.is_none() => {}
                "Gemm" | "MatMul" if reads_current && pooled && fc.is_none() => {
                    fc = Some(self.classifier(n).map_err(at)?)
                }
                _ => {
                    return Err(at(format!(
                        "not part of a MobileNetV2 here (it reads {:?}; the network's activation is {:?})",
                        n.input, self.current
                    )));
                }
            }
            self.current = out;
        }
        let fc = fc.ok_or("no classifier (Gemm or MatMul) after the pooling")?;
        self.check_residuals()?;
        let residual_after = Some(self.adds.iter().map(|(i, _)| *i).collect());
        Ok(TorchNet { convs: self.convs, fc, residual_after })
    }

    /// A shortcut: the Add of the current activation and a block's input.
    fn residual(&mut self, n: &NodeProto) -> Result<(), String> {
        let other = n.input.iter().find(|i| **i != self.current).cloned().unwrap_or_default();
        if self.convs.is_empty() || !self.conv_inputs.contains(&other) {
            return Err("an Add that is not a block's residual".into());
        }
        self.adds.push((self.convs.len() - 1, other));
        Ok(())
    }

    fn value(&self, name: Option<&String>) -> Result<&Value, String> {
        let name = name.ok_or("a missing input")?;
        self.values.get(name).ok_or_else(|| format!("{name} is not a constant or initializer"))
    }

    fn conv(&mut self, n: &NodeProto) -> Result<(), String> {
        let w = self.value(n.input.get(1))?.clone();
        let [o, i, kh, kw] = w.dims[..] else { return Err(format!("weight shape {:?}", w.dims)) };
        let bias = match n.input.get(2).filter(|s| !s.is_empty()) {
            Some(b) => Some(self.value(Some(b))?.data.clone()),
            None => None,
        };
        let ints = |k: &str| attr(n, k).map(|a| a.ints.clone());
        let stride = ints("strides").unwrap_or(vec![1, 1]);
        let group = attr(n, "group").map_or(1, |a| a.i);
        let pad = (kh / 2) as i64;
        if stride.len() != 2 || stride[0] != stride[1] || !(1..=2).contains(&stride[0]) {
            return Err(format!("strides {stride:?}"));
        }
        if ints("dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
            return Err("dilated convolution".into());
        }
        if attr(n, "auto_pad").is_some_and(|a| !a.s.is_empty() && a.s != b"NOTSET") {
            return Err("auto_pad (PyTorch writes explicit pads)".into());
        }
        if ints("pads").unwrap_or(vec![0; 4]) != vec![pad; 4] || kh != kw {
            return Err(format!("pads {:?} for a {kh}x{kw} kernel (symmetric {pad} expected)", ints("pads")));
        }
        if !(group == 1 || (group as usize == o && i == 1)) {
            return Err(format!("group {group} (1, or one per channel for a depthwise conv)"));
        }
        self.conv_inputs.push(self.current.clone());
        self.convs.push(TorchConv {
            name: n.name.clone(),
            shape: [o, i, kh, kw],
            weight: w.data,
            bias,
            bn: None,
            stride: Some(stride[0] as usize),
            relu6: Some(false),
        });
        Ok(())
    }

    fn batch_norm(&mut self, n: &NodeProto) -> Result<(), String> {
        let get = |k: usize| self.value(n.input.get(k)).map(|v| v.data.clone());
        let bn = BatchNorm {
            gamma: get(1)?,
            beta: get(2)?,
            mean: get(3)?,
            var: get(4)?,
            eps: attr(n, "epsilon").map_or(1e-5, |a| a.f),
        };
        let last = self.convs.last_mut().ok_or("a batch norm before any conv")?;
        if last.bn.is_some() || last.relu6 == Some(true) {
            return Err("a batch norm that does not follow a conv".into());
        }
        last.bn = Some(bn);
        Ok(())
    }

    fn clip(&mut self, n: &NodeProto) -> Result<(), String> {
        let bound = |k: usize, key: &str| -> Result<f32, String> {
            match n.input.get(k).filter(|s| !s.is_empty()) {
                Some(name) => self.value(Some(name))?.data.first().copied().ok_or("an empty bound".into()),
                None => attr(n, key).map(|a| a.f).ok_or(format!("no {key}")),
            }
        };
        let (lo, hi) = (bound(1, "min")?, bound(2, "max")?);
        if (lo, hi) != (0.0, 6.0) {
            return Err(format!("Clip({lo}, {hi}); MobileNetV2 clips to (0, 6)"));
        }
        let summed = self.adds.last().is_some_and(|(i, _)| *i + 1 == self.convs.len());
        let last = self.convs.last_mut().ok_or("a Clip before any conv")?;
        if last.relu6 == Some(true) || summed {
            return Err("a Clip that does not follow a conv".into());
        }
        last.relu6 = Some(true);
        Ok(())
    }

    /// [classes, features] weights and bias from Gemm (transB 1, or 0 with [features, classes])
    /// or MatMul ([features, classes]; its bias comes from the Add after it).
    fn classifier(&self, n: &NodeProto) -> Result<Fc, String> {
        let w = self.value(n.input.get(1))?;
        let [a, b] = w.dims[..] else { return Err(format!("weight shape {:?}", w.dims)) };
        let trans_b = n.op_type == "Gemm" && attr(n, "transB").is_some_and(|t| t.i == 1);
        if n.op_type == "Gemm" {
            let one = |k: &str| attr(n, k).is_none_or(|v| v.f == 1.0);
            if attr(n, "transA").is_some_and(|t| t.i != 0) || !one("alpha") || !one("beta") {
                return Err("Gemm with transA, alpha or beta".into());
            }
        }
        let (classes, features) = if trans_b { (a, b) } else { (b, a) };
        let weights = if trans_b {
            w.data.clone()
        } else {
            (0..classes * features).map(|k| w.data[(k % features) * classes + k / features]).collect()
        };
        let bias = match n.input.get(2).filter(|s| !s.is_empty()) {
            Some(c) => self.value(Some(c))?.data.clone(),
            None => vec![0.0; classes],
        };
        if bias.len() != classes {
            return Err(format!("a bias of {} for {classes} classes", bias.len()));
        }
        Ok((weights, [classes, features], bias))
    }

    /// Every Add joins a projection (a conv without Clip) to the input of the block it ends.
    fn check_residuals(&self) -> Result<(), String> {
        for (conv, other) in &self.adds {
            let c = &self.convs[*conv];
            let block_start = self.conv_inputs.iter().position(|i| i == other).expect("checked when read");
            if c.relu6 == Some(true) || c.shape[2] != 1 || !(2..=3).contains(&(conv + 1 - block_start)) {
                return Err(format!("the Add after {} does not close an inverted residual block", c.name));
            }
        }
        Ok(())
    }
}
