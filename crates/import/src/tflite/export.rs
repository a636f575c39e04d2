//! TFLite out: a classifier as the operators TFLite's converter writes for MobileNetV2, which the
//! importer in this module reads back. Float models: CONV_2D / DEPTHWISE_CONV_2D with fused
//! ReLU6, ADD, the global pool, a 1x1 CONV_2D classifier, RESHAPE and SOFTMAX. Quantized models
//! keep their integers and quantization exactly (uint8 QAT models as uint8, int8 ones as int8
//! with per-channel weights, the input QUANTIZE and the output QUANTIZE where they have them),
//! so TFLite's integer kernels compute what the int8 engine computes. Symmetric (PyTorch)
//! padding that TensorFlow's "same" cannot express becomes a PAD before a VALID convolution.
//! Labels and the input's normalisation go in the model's metadata (`mnv2.labels`,
//! `mnv2.input`, as in mnv2's safetensors files).

use super::schema::{ACT_NONE, ACT_RELU6, PAD_SAME, PAD_VALID, dtype, op, options_type};
use crate::ImportError;
use crate::flatbuf_build::TableBuilder;
use mnv2_arch::{Layer, Padding};
use mnv2_model::{ConvWeights, LayerWeights, Model, OutputKind, PoolKind, Quant, Task, Tensor, TensorData};

/// The `.tflite` file of a classifier, float or quantized as the model is.
pub fn to_tflite(model: &Model) -> Result<Vec<u8>, ImportError> {
    if !matches!(model.task, Task::Classify) {
        return Err(ImportError::Unsupported("only classifiers can be exported to TFLite".into()));
    }
    let arch = &model.arch;
    let mut g = Graph::new(Arithmetic::of(model)?);
    let input_dtype = match (&model.input.quant, model.input.signed) {
        (None, _) => dtype::FLOAT32,
        (Some(_), false) => dtype::UINT8,
        (Some(_), true) => dtype::INT8,
    };
    let r = arch.resolution as i32;
    let input = g.tensor("input", &[1, r, r, 3], input_dtype, model.input.quant.as_ref(), None);
    let mut x = input;
    if let Some(q) = &model.input.requantized {
        x = g.activation("input_requantized", &[1, r, r, 3], Some(q))?;
        g.op(op::QUANTIZE, &[input], x, None);
    }
    // A 2-D classifier (from a Dense layer) is a FULLY_CONNECTED after a pool that drops the
    // spatial axes; a 4-D one a 1x1 CONV_2D after a pool that keeps them, then a RESHAPE.
    let fully_connected =
        matches!(model.layers.last(), Some(LayerWeights::Classifier(w)) if w.weights.shape.len() == 2);
    for (n, (layer, weights)) in arch.layers().iter().zip(&model.layers).enumerate() {
        x = match (layer, weights) {
            (Layer::Stem(c), LayerWeights::Stem(w)) | (Layer::Head(c), LayerWeights::Head(w)) => {
                let conv = Conv { kind: Kind::Full, stride: c.stride, relu6: true, input: c.input.h };
                let out = [c.output.h, c.output.w, c.output.c];
                g.conv(&format!("layers.{n}"), x, w, conv, out, arch.padding)?
            }
            (Layer::Bottleneck(b), LayerWeights::Bottleneck(bw)) => {
                if b.dilation != 1 {
                    return Err(ImportError::Unsupported("dilated convolutions (output stride below 32)".into()));
                }
                let block_in = x;
                let name = format!("layers.{n}");
                let (dw_in, dw_out) = b.depthwise_shapes();
                if let (Some(e), Some(c)) = (&bw.expand, b.expand()) {
                    let conv = Conv { kind: Kind::Full, stride: 1, relu6: true, input: c.input.h };
                    x = g.conv(&format!("{name}.expand"), x, e, conv, [dw_in.h, dw_in.w, dw_in.c], arch.padding)?;
                }
                let conv = Conv { kind: Kind::Depthwise, stride: b.stride, relu6: true, input: dw_in.h };
                let out = [dw_out.h, dw_out.w, dw_out.c];
                x = g.conv(&format!("{name}.depthwise"), x, &bw.depthwise, conv, out, arch.padding)?;
                let conv = Conv { kind: Kind::Full, stride: 1, relu6: false, input: dw_out.h };
                let o = b.output();
                x = g.conv(&format!("{name}.project"), x, &bw.project, conv, [o.h, o.w, o.c], arch.padding)?;
                if b.residual {
                    let sum = g.activation(
                        &format!("{name}.add"),
                        &[1, o.h as i32, o.w as i32, o.c as i32],
                        bw.add_output.as_ref(),
                    )?;
                    let options = TableBuilder::new().i8(0, ACT_NONE);
                    g.op(op::ADD, &[block_in, x], sum, Some((options_type::ADD, options)));
                    sum
                } else {
                    x
                }
            }
            (Layer::Pool { input, .. }, LayerWeights::Pool { kind, output }) => {
                let shape: &[i32] = if fully_connected { &[1, input.c as i32] } else { &[1, 1, 1, input.c as i32] };
                let pooled = g.activation("pool", shape, output.as_ref())?;
                g.pool(*kind, x, pooled, input.h, input.w, !fully_connected);
                pooled
            }
            (Layer::Classifier(c), LayerWeights::Classifier(w)) if fully_connected => {
                let weights = g.weights("classifier.weight", &[c.output.c as i32, c.input.c as i32], &w.weights)?;
                let bias = g.weights("classifier.bias", &[c.output.c as i32], &w.bias)?;
                let logits = g.activation("logits", &[1, c.output.c as i32], w.output.as_ref())?;
                let options = TableBuilder::new().i8(0, ACT_NONE);
                g.op(op::FULLY_CONNECTED, &[x, weights, bias], logits, Some((options_type::FULLY_CONNECTED, options)));
                logits
            }
            (Layer::Classifier(c), LayerWeights::Classifier(w)) => {
                let conv = Conv { kind: Kind::Full, stride: 1, relu6: false, input: 1 };
                let y = g.conv("classifier", x, w, conv, [1, 1, c.output.c], arch.padding)?;
                let k = c.output.c as i32;
                let logits = g.activation("logits", &[1, k], w.output.as_ref())?;
                let shape = g.constant("logits_shape", &[2], dtype::INT32, None, i32_bytes(&[1, k]));
                let options = TableBuilder::new().i32s(0, &[1, k]);
                g.op(op::RESHAPE, &[y, shape], logits, Some((options_type::RESHAPE, options)));
                logits
            }
            _ => return Err(ImportError::Malformed("layer and weights differ in kind".into())),
        };
    }
    let k = arch.classes as i32;
    if let OutputKind::Softmax { quant, requantized } = &model.output {
        let probabilities = g.activation("probabilities", &[1, k], quant.as_ref())?;
        g.op(op::SOFTMAX, &[x], probabilities, Some((options_type::SOFTMAX, TableBuilder::new().f32(0, 1.0))));
        x = probabilities;
        if let Some(q) = requantized {
            // The final QUANTIZE flips signedness (int8 softmax to uint8, as TFLite writes it).
            let flipped = if g.arithmetic.dtype == dtype::INT8 { dtype::UINT8 } else { dtype::INT8 };
            let out = g.tensor("output", &[1, k], flipped, Some(q), None);
            g.op(op::QUANTIZE, &[x], out, None);
            x = out;
        }
    }
    Ok(g.finish(input, x, model))
}

/// How activations are stored: float32, or the model's integer type.
struct Arithmetic {
    dtype: i8,
}

impl Arithmetic {
    fn of(model: &Model) -> Result<Arithmetic, ImportError> {
        let Some(LayerWeights::Stem(stem)) = model.layers.first() else {
            return Err(ImportError::Malformed("the model does not start with its stem".into()));
        };
        let dtype = match (&stem.weights.data, &model.input.quant) {
            (TensorData::F32(_), None) => dtype::FLOAT32,
            (TensorData::U8(_), Some(_)) => dtype::UINT8,
            (TensorData::I8(_), Some(_)) => dtype::INT8,
            _ => {
                return Err(ImportError::Unsupported("a model partly quantized (float input, integer weights)".into()));
            }
        };
        Ok(Arithmetic { dtype })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Full,
    Depthwise,
}

/// One convolution's geometry: kind, stride, fused ReLU6, input height (= width).
#[derive(Clone, Copy)]
struct Conv {
    kind: Kind,
    stride: u32,
    relu6: bool,
    input: u32,
}

struct Graph {
    arithmetic: Arithmetic,
    tensors: Vec<TableBuilder>,
    /// Each tensor's quantization, as written.
    quants: Vec<Option<Quant>>,
    /// Buffer 0 is the empty sentinel tensors without data point at.
    buffers: Vec<TableBuilder>,
    codes: Vec<(i32, i32)>,
    operators: Vec<TableBuilder>,
}

impl Graph {
    fn new(arithmetic: Arithmetic) -> Graph {
        Graph {
            arithmetic,
            tensors: Vec::new(),
            quants: Vec::new(),
            buffers: vec![TableBuilder::new()],
            codes: Vec::new(),
            operators: Vec::new(),
        }
    }

    /// A tensor (with its data when constant); returns its index.
    fn tensor(&mut self, name: &str, shape: &[i32], dtype: i8, quant: Option<&Quant>, data: Option<Vec<u8>>) -> i32 {
        let buffer = match data {
            Some(bytes) => {
                self.buffers.push(TableBuilder::new().bytes(0, bytes, 16));
                self.buffers.len() as u32 - 1
            }
            None => 0,
        };
        let mut t = TableBuilder::new().i32s(0, shape).i8(1, dtype).u32(2, buffer).string(3, name);
        if let Some(q) = quant {
            let params = TableBuilder::new().f32s(2, &q.scale).i64s(3, &q.zero_point).i32(6, q.axis as i32);
            t = t.table(4, params);
        }
        self.tensors.push(t);
        self.quants.push(quant.cloned());
        self.tensors.len() as i32 - 1
    }

    fn constant(&mut self, name: &str, shape: &[i32], dtype: i8, quant: Option<&Quant>, bytes: Vec<u8>) -> i32 {
        self.tensor(name, shape, dtype, quant, Some(bytes))
    }

    /// An activation tensor of the model's arithmetic; quantized models must say how.
    fn activation(&mut self, name: &str, shape: &[i32], quant: Option<&Quant>) -> Result<i32, ImportError> {
        let dtype = self.arithmetic.dtype;
        if dtype != dtype::FLOAT32 && quant.is_none() {
            return Err(ImportError::Malformed(format!(
                "{name}: a quantized model without this output's quantization"
            )));
        }
        Ok(self.tensor(name, shape, dtype, quant.filter(|_| dtype != dtype::FLOAT32), None))
    }

    fn op(&mut self, code: i32, inputs: &[i32], output: i32, options: Option<(u8, TableBuilder)>) {
        let version = self.version(code);
        let index = match self.codes.iter().position(|&(c, _)| c == code) {
            Some(i) => i,
            None => {
                self.codes.push((code, version));
                self.codes.len() - 1
            }
        };
        let mut o = TableBuilder::new().u32(0, index as u32).i32s(1, inputs).i32s(2, &[output]);
        if let Some((kind, table)) = options {
            o = o.u8(3, kind).table(4, table);
        }
        self.operators.push(o);
    }

    /// The operator versions TFLite's converter writes for these tensor types.
    fn version(&self, code: i32) -> i32 {
        if self.arithmetic.dtype != dtype::INT8 {
            return 1;
        }
        match code {
            op::CONV_2D | op::DEPTHWISE_CONV_2D => 3,
            op::ADD | op::MEAN | op::SOFTMAX | op::AVERAGE_POOL_2D | op::PAD => 2,
            _ => 1,
        }
    }

    /// A convolution with its weights, bias and fused activation; symmetric padding that
    /// "same" does not reproduce becomes an explicit PAD.
    fn conv(
        &mut self,
        name: &str,
        mut x: i32,
        w: &ConvWeights,
        c: Conv,
        out: [u32; 3],
        padding: Padding,
    ) -> Result<i32, ImportError> {
        let s = &w.weights.shape;
        let kernel = match s.len() {
            4 => s[1] as u32,
            2 => 1,
            _ => return Err(ImportError::Malformed(format!("{name}: weight shape {s:?}"))),
        };
        // Ours: OHWI (2-D [O, I] for 1x1), depthwise [1, kh, kw, C]: TFLite's own layouts.
        let shape: Vec<i32> =
            if s.len() == 2 { vec![s[0] as i32, 1, 1, s[1] as i32] } else { s.iter().map(|&d| d as i32).collect() };
        let weights = self.weights(&format!("{name}.weight"), &shape, &w.weights)?;
        let bias = self.weights(&format!("{name}.bias"), &[w.bias.len() as i32], &w.bias)?;
        let wanted = padding.before_after(c.input, kernel, c.stride);
        let mut pad_mode = PAD_SAME;
        if wanted != Padding::TensorFlowSame.before_after(c.input, kernel, c.stride) {
            let (before, after) = (wanted.0 as i32, wanted.1 as i32);
            let paddings = i32_bytes(&[0, 0, before, after, before, after, 0, 0]);
            let p = self.constant(&format!("{name}.paddings"), &[4, 2], dtype::INT32, None, paddings);
            let padded_size = (c.input as i32) + before + after;
            // Input channels are the last axis of both weight layouts; PAD keeps its input's quantization.
            let channels = shape[3];
            let input_quant = self.quants[x as usize].clone();
            let size = [1, padded_size, padded_size, channels];
            let padded = self.activation(&format!("{name}.padded"), &size, input_quant.as_ref())?;
            self.op(op::PAD, &[x, p], padded, None);
            x = padded;
            pad_mode = PAD_VALID;
        }
        let y = self.activation(name, &[1, out[0] as i32, out[1] as i32, out[2] as i32], w.output.as_ref())?;
        let act = if c.relu6 { ACT_RELU6 } else { ACT_NONE };
        let stride = c.stride as i32;
        let (code, options) = match c.kind {
            Kind::Full => (
                op::CONV_2D,
                (
                    options_type::CONV_2D,
                    TableBuilder::new().i8(0, pad_mode).i32(1, stride).i32(2, stride).i8(3, act).i32(4, 1).i32(5, 1),
                ),
            ),
            Kind::Depthwise => (
                op::DEPTHWISE_CONV_2D,
                (
                    options_type::DEPTHWISE_CONV_2D,
                    TableBuilder::new()
                        .i8(0, pad_mode)
                        .i32(1, stride)
                        .i32(2, stride)
                        .i32(3, 1)
                        .i8(4, act)
                        .i32(5, 1)
                        .i32(6, 1),
                ),
            ),
        };
        self.op(code, &[x, weights, bias], y, Some(options));
        Ok(y)
    }

    /// The global pool over `h` x `w` (MEAN keeping the [1, 1, 1, C] shape or not).
    fn pool(&mut self, kind: PoolKind, x: i32, out: i32, h: u32, w: u32, keep_dims: bool) {
        match kind {
            PoolKind::Average => {
                let options = TableBuilder::new()
                    .i8(0, PAD_VALID)
                    .i32(1, 1)
                    .i32(2, 1)
                    .i32(3, w as i32)
                    .i32(4, h as i32)
                    .i8(5, ACT_NONE);
                self.op(op::AVERAGE_POOL_2D, &[x], out, Some((options_type::POOL_2D, options)));
            }
            PoolKind::Mean => {
                let axes = self.constant("pool_axes", &[2], dtype::INT32, None, i32_bytes(&[1, 2]));
                self.op(
                    op::MEAN,
                    &[x, axes],
                    out,
                    Some((options_type::REDUCER, TableBuilder::new().u8(0, keep_dims as u8))),
                );
            }
        }
    }

    /// A constant tensor of the model's values, as stored (float, or integers with their
    /// quantization).
    fn weights(&mut self, name: &str, shape: &[i32], t: &Tensor) -> Result<i32, ImportError> {
        let (dtype, bytes) = match &t.data {
            TensorData::F32(v) => (dtype::FLOAT32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::I32(v) => (dtype::INT32, i32_bytes(v)),
            TensorData::U8(v) => (dtype::UINT8, v.clone()),
            TensorData::I8(v) => (dtype::INT8, v.iter().map(|&b| b as u8).collect()),
        };
        if dtype != dtype::FLOAT32 && t.quant.is_none() {
            return Err(ImportError::Malformed(format!("{name}: integers without quantization")));
        }
        let n: i32 = shape.iter().product();
        if n as usize != t.len() {
            return Err(ImportError::Malformed(format!("{name}: {} values for shape {shape:?}", t.len())));
        }
        Ok(self.constant(name, shape, dtype, t.quant.as_ref(), bytes))
    }

    fn finish(self, input: i32, output: i32, model: &Model) -> Vec<u8> {
        let mut buffers = self.buffers;
        let mut metadata = Vec::new();
        for (name, value) in crate::safetensors::descriptive_metadata(model) {
            buffers.push(TableBuilder::new().bytes(0, value.into_bytes(), 16));
            metadata.push(TableBuilder::new().string(0, &name).u32(1, buffers.len() as u32 - 1));
        }
        let codes = self
            .codes
            .iter()
            .map(|&(code, version)| TableBuilder::new().i8(0, code.min(127) as i8).i32(2, version).i32(3, code))
            .collect();
        let subgraph = TableBuilder::new()
            .tables(0, self.tensors)
            .i32s(1, &[input])
            .i32s(2, &[output])
            .tables(3, self.operators)
            .string(4, "main");
        TableBuilder::new()
            .u32(0, 3)
            .tables(1, codes)
            .tables(2, vec![subgraph])
            .string(3, "mnv2")
            .tables(4, buffers)
            .tables(6, metadata)
            .finish(b"TFL3")
    }
}

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
