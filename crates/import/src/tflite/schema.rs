//! The part of the TFLite schema (`schema.fbs`) that MobileNetV2 graphs use, read into plain structs.
//! Field ids follow the schema's declaration order (a union takes two ids: type and value).

use crate::ImportError;
use crate::flatbuf::Table;
use mnv2_model::Quant;

/// Builtin operator codes used by MobileNetV2 graphs.
pub mod op {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const RESHAPE: i32 = 22;
    pub const RESIZE_BILINEAR: i32 = 23;
    pub const SOFTMAX: i32 = 25;
    pub const MEAN: i32 = 40;
    pub const PAD: i32 = 34;
    pub const SQUEEZE: i32 = 43;
    pub const ARG_MAX: i32 = 56;
    pub const QUANTIZE: i32 = 114;

    pub fn name(code: i32) -> String {
        match code {
            ADD => "ADD".into(),
            CONCATENATION => "CONCATENATION".into(),
            RESIZE_BILINEAR => "RESIZE_BILINEAR".into(),
            ARG_MAX => "ARG_MAX".into(),
            AVERAGE_POOL_2D => "AVERAGE_POOL_2D".into(),
            CONV_2D => "CONV_2D".into(),
            DEPTHWISE_CONV_2D => "DEPTHWISE_CONV_2D".into(),
            DEQUANTIZE => "DEQUANTIZE".into(),
            FULLY_CONNECTED => "FULLY_CONNECTED".into(),
            RESHAPE => "RESHAPE".into(),
            SOFTMAX => "SOFTMAX".into(),
            MEAN => "MEAN".into(),
            PAD => "PAD".into(),
            SQUEEZE => "SQUEEZE".into(),
            QUANTIZE => "QUANTIZE".into(),
            other => format!("builtin operator {other}"),
        }
    }
}

/// The `BuiltinOptions` union's type tags of the options tables written by the exporter.
pub mod options_type {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const ADD: u8 = 11;
    pub const RESHAPE: u8 = 17;
    pub const REDUCER: u8 = 27;
}

/// TFLite tensor element types.
pub mod dtype {
    pub const FLOAT32: i8 = 0;
    pub const INT32: i8 = 2;
    pub const UINT8: i8 = 3;
    pub const INT8: i8 = 9;
}

/// Fused activation function.
pub const ACT_NONE: i8 = 0;
pub const ACT_RELU: i8 = 1;
pub const ACT_RELU6: i8 = 3;
/// Padding enum.
pub const PAD_SAME: i8 = 0;
pub const PAD_VALID: i8 = 1;

/// Options of the operators we accept (defaults where absent, as FlatBuffers defines).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Options {
    pub padding: i8,
    pub stride_w: i32,
    pub stride_h: i32,
    pub dilation_w: i32,
    pub dilation_h: i32,
    pub depth_multiplier: i32,
    pub filter_w: i32,
    pub filter_h: i32,
    pub activation: i8,
    pub beta: f32,
    pub keep_dims: bool,
    pub weights_format: i8,
    pub axis: i32,
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

#[derive(Debug, Clone)]
pub struct Operator {
    pub code: i32,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: Options,
}

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub shape: Vec<i32>,
    pub dtype: i8,
    pub buffer: u32,
    pub name: String,
    pub quant: Option<Quant>,
}

/// Where a buffer's bytes are.
#[derive(Debug, Clone, Copy)]
pub struct BufferRef {
    pub start: usize,
    pub len: usize,
}

/// A TFLite model's first subgraph with its buffers.
#[derive(Debug, Clone)]
pub struct Graph {
    pub tensors: Vec<TensorInfo>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub operators: Vec<Operator>,
    pub buffers: Vec<BufferRef>,
    /// The model's `mnv2.*` metadata entries (as mnv2's exporter writes them), as text.
    pub metadata: std::collections::BTreeMap<String, String>,
}

impl Graph {
    pub fn parse(buf: &[u8]) -> Result<Graph, ImportError> {
        if buf.len() < 8 || &buf[4..8] != b"TFL3" {
            return Err(ImportError::UnknownFormat("no TFL3 file identifier".into()));
        }
        let model = Table::root(buf)?;
        let version = model.u32(0, 0)?;
        if version != 3 {
            return Err(ImportError::Unsupported(format!("TFLite schema version {version} (only 3 is known)")));
        }
        let codes = model
            .tables(1)?
            .iter()
            .map(|c| Ok((c.i8(0, 0)? as i32).max(c.i32(3, 0)?)))
            .collect::<Result<Vec<i32>, ImportError>>()?;
        let subgraphs = model.tables(2)?;
        let sg = subgraphs.first().ok_or_else(|| ImportError::Malformed("the model has no subgraph".into()))?;
        let buffers = model.tables(4)?.iter().map(|b| buffer_ref(b, buf)).collect::<Result<Vec<_>, _>>()?;
        let tensors = sg.tables(0)?.iter().map(tensor_info).collect::<Result<Vec<_>, _>>()?;
        let operators = sg
            .tables(3)?
            .iter()
            .map(|o| {
                let index = o.u32(0, 0)? as usize;
                let code = *codes
                    .get(index)
                    .ok_or_else(|| ImportError::Malformed(format!("operator code index {index} out of range")))?;
                let options = match o.table(4)? {
                    Some(t) => options(code, &t)?,
                    None => Options::default(),
                };
                Ok(Operator { code, inputs: o.i32s(1)?, outputs: o.i32s(2)?, options })
            })
            .collect::<Result<Vec<_>, ImportError>>()?;
        let mut metadata = std::collections::BTreeMap::new();
        for m in model.tables(6)? {
            let Some(name) = m.string(0)?.filter(|n| n.starts_with("mnv2.")) else { continue };
            let index = m.u32(1, 0)? as usize;
            let b = buffers
                .get(index)
                .ok_or_else(|| ImportError::Malformed(format!("metadata {name}: buffer {index} out of range")))?;
            metadata.insert(name, String::from_utf8_lossy(&buf[b.start..b.start + b.len]).into_owned());
        }
        Ok(Graph { tensors, inputs: sg.i32s(1)?, outputs: sg.i32s(2)?, operators, buffers, metadata })
    }

    pub fn tensor(&self, id: i32) -> Result<&TensorInfo, ImportError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.tensors.get(i))
            .ok_or_else(|| ImportError::Malformed(format!("tensor index {id} out of range")))
    }
}

fn buffer_ref(b: &Table, file: &[u8]) -> Result<BufferRef, ImportError> {
    if let Some(v) = b.vector(0, 1)? {
        return Ok(BufferRef { start: v.offset(), len: v.len() });
    }
    // Large models keep the data outside the flatbuffer: offset and size from the file start.
    let (offset, size) = (b.u64(1, 0)?, b.u64(2, 0)?);
    if offset > 1 {
        let end = offset.checked_add(size).filter(|&e| e <= file.len() as u64);
        if end.is_none() {
            return Err(ImportError::Malformed(format!("buffer at {offset}+{size} lies outside the file")));
        }
        return Ok(BufferRef { start: offset as usize, len: size as usize });
    }
    Ok(BufferRef { start: 0, len: 0 })
}

fn tensor_info(t: &Table) -> Result<TensorInfo, ImportError> {
    let quant = match t.table(4)? {
        Some(q) => {
            let scale = q.f32s(2)?;
            let zero_point = q.i64s(3)?;
            let axis = q.i32(6, 0)?;
            if scale.is_empty() {
                None
            } else {
                let zero_point = if zero_point.is_empty() { vec![0; scale.len()] } else { zero_point };
                Some(Quant { scale, zero_point, axis: axis.max(0) as usize })
            }
        }
        None => None,
    };
    Ok(TensorInfo {
        shape: t.i32s(0)?,
        dtype: t.i8(1, 0)?,
        buffer: t.u32(2, 0)?,
        name: t.string(3)?.unwrap_or_default(),
        quant,
    })
}

fn options(code: i32, t: &Table) -> Result<Options, ImportError> {
    let mut o = Options { dilation_w: 1, dilation_h: 1, beta: 1.0, ..Options::default() };
    match code {
        op::CONV_2D => {
            o.padding = t.i8(0, 0)?;
            o.stride_w = t.i32(1, 0)?;
            o.stride_h = t.i32(2, 0)?;
            o.activation = t.i8(3, 0)?;
            o.dilation_w = t.i32(4, 1)?;
            o.dilation_h = t.i32(5, 1)?;
        }
        op::DEPTHWISE_CONV_2D => {
            o.padding = t.i8(0, 0)?;
            o.stride_w = t.i32(1, 0)?;
            o.stride_h = t.i32(2, 0)?;
            o.depth_multiplier = t.i32(3, 0)?;
            o.activation = t.i8(4, 0)?;
            o.dilation_w = t.i32(5, 1)?;
            o.dilation_h = t.i32(6, 1)?;
        }
        op::AVERAGE_POOL_2D => {
            o.padding = t.i8(0, 0)?;
            o.stride_w = t.i32(1, 0)?;
            o.stride_h = t.i32(2, 0)?;
            o.filter_w = t.i32(3, 0)?;
            o.filter_h = t.i32(4, 0)?;
            o.activation = t.i8(5, 0)?;
        }
        op::FULLY_CONNECTED => {
            o.activation = t.i8(0, 0)?;
            o.weights_format = t.i8(1, 0)?;
        }
        op::SOFTMAX => o.beta = t.f32(0, 0.0)?,
        op::ADD => o.activation = t.i8(0, 0)?,
        op::MEAN => o.keep_dims = t.u8(0, 0)? != 0,
        op::CONCATENATION => {
            o.axis = t.i32(0, 0)?;
            o.activation = t.i8(1, 0)?;
        }
        op::RESIZE_BILINEAR => {
            o.align_corners = t.u8(2, 0)? != 0;
            o.half_pixel_centers = t.u8(3, 0)? != 0;
        }
        _ => {}
    }
    Ok(o)
}
