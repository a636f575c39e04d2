//! A parsed frozen GraphDef: nodes by name and their constant tensors as float32.

use super::proto::{DT_FLOAT, DT_INT32, GraphDef, NodeDef, TensorProto, attr_value::Value};
use crate::ImportError;
use prost::Message;
use std::collections::HashMap;

pub struct Graph {
    nodes: Vec<NodeDef>,
    by_name: HashMap<String, usize>,
}

/// A constant: its shape and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Graph {
    pub fn parse(bytes: &[u8]) -> Result<Graph, ImportError> {
        let def = GraphDef::decode(bytes).map_err(|e| ImportError::Malformed(format!("GraphDef protobuf: {e}")))?;
        if def.node.is_empty() {
            return Err(ImportError::Malformed("GraphDef without nodes".into()));
        }
        let by_name = def.node.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
        Ok(Graph { nodes: def.node, by_name })
    }

    pub fn node(&self, name: &str) -> Option<&NodeDef> {
        self.by_name.get(name).map(|&i| &self.nodes[i])
    }

    /// The value of the Const node `name`, following Identity nodes (frozen graphs read weights
    /// through `<var>/read` identities).
    pub fn constant(&self, name: &str) -> Result<Constant, ImportError> {
        let mut node = self.node(name).ok_or_else(|| ImportError::NotMobileNetV2(format!("no node {name}")))?;
        for _ in 0..8 {
            if node.op != "Identity" {
                break;
            }
            let src = node.input.first().map(|s| input_node(s)).unwrap_or_default();
            node = self.node(src).ok_or_else(|| ImportError::Malformed(format!("{name}: dangling input {src}")))?;
        }
        if node.op != "Const" {
            return Err(ImportError::NotMobileNetV2(format!("{name} is a {}, not a constant", node.op)));
        }
        match node.attr.get("value").and_then(|a| a.value.as_ref()) {
            Some(Value::Tensor(t)) => tensor_values(t).map_err(|e| ImportError::Malformed(format!("{name}: {e}"))),
            _ => Err(ImportError::Malformed(format!("constant {name} without a tensor value"))),
        }
    }
}

/// The node an input string names (`^ctrl`, `node:1` -> `node`).
pub fn input_node(input: &str) -> &str {
    let s = input.strip_prefix('^').unwrap_or(input);
    s.split(':').next().unwrap_or(s)
}

/// Most values a constant stored as one repeated value may expand to.
const MAX_FILLED_VALUES: usize = 1 << 24;

fn tensor_values(t: &TensorProto) -> Result<Constant, String> {
    let dims = t.tensor_shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or_default();
    let mut shape = Vec::with_capacity(dims.len());
    for d in dims {
        shape.push(usize::try_from(d.size).map_err(|_| format!("negative dimension {}", d.size))?);
    }
    let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape overflows")?;
    let values: Vec<f32> = match t.dtype {
        DT_FLOAT if !t.tensor_content.is_empty() => {
            t.tensor_content.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
        DT_FLOAT => t.float_val.clone(),
        DT_INT32 if !t.tensor_content.is_empty() => {
            t.tensor_content.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32).collect()
        }
        DT_INT32 => t.int_val.iter().map(|&v| v as f32).collect(),
        other => return Err(format!("tensor of data type {other}, expected float32")),
    };
    // Protobuf stores a tensor filled with one value as that single value: a few bytes may
    // declare any size, so the fill is capped far above any MobileNetV2 tensor (SSDLite's largest
    // holds 0.4 M values) before it is allocated.
    let values = match values.len() {
        n if n == len => values,
        1 if len > MAX_FILLED_VALUES => {
            return Err(format!("a tensor of shape {shape:?} filled from one value (more than any MobileNetV2 has)"));
        }
        1 => vec![values[0]; len],
        n => return Err(format!("{n} values for shape {shape:?}")),
    };
    Ok(Constant { shape, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfgraph::proto::{Dim, TensorShapeProto};

    fn filled(dims: &[i64]) -> TensorProto {
        TensorProto {
            dtype: DT_FLOAT,
            tensor_shape: Some(TensorShapeProto {
                dim: dims.iter().map(|&size| Dim { size }).collect(),
                unknown_rank: false,
            }),
            tensor_content: Vec::new(),
            float_val: vec![0.5],
            int_val: Vec::new(),
        }
    }

    /// A constant of one repeated value expands to its shape, but a few bytes declaring billions
    /// of values are refused before anything is allocated (this aborted the process before).
    #[test]
    fn one_value_fills_its_shape_within_a_cap() {
        assert_eq!(tensor_values(&filled(&[2, 3])).unwrap().values, vec![0.5; 6]);
        let err = tensor_values(&filled(&[100_000, 100_000, 100])).unwrap_err();
        assert!(err.contains("filled from one value"), "{err}");
        assert!(tensor_values(&filled(&[i64::MAX, i64::MAX])).unwrap_err().contains("overflows"));
        assert!(tensor_values(&filled(&[-1])).unwrap_err().contains("negative"));
    }
}
