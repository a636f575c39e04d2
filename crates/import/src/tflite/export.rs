//! TFLite out: a classifier as the operators TFLite's converter writes for MobileNetV2, which the
//! importer in this module reads back. Float models: CONV_2D / DEPTHWISE_CONV_2D with fused
//! ReLU6, ADD, the global pool (MEAN or AVERAGE_POOL_2D), the classifier (FULLY_CONNECTED, or a
//! 1x1 CONV_2D and a RESHAPE) and SOFTMAX. Quantized models
//! keep their integers and quantization exactly (uint8 QAT models as uint8, int8 ones as int8
//! with per-channel weights, the input QUANTIZE and the output QUANTIZE where they have them),
//! so TFLite's integer kernels compute what the int8 engine computes. Symmetric (PyTorch)
//! padding that TensorFlow's "same" cannot express becomes a PAD before a VALID convolution.
//! Labels and the input's normalisation go in the model's metadata (`mnv2.labels`,
//! `mnv2.input`, as in mnv2's safetensors files).

use super::schema::{ACT_NONE, ACT_RELU6, PAD_SAME, PAD_VALID, dtype, op, options_type};
use crate::ImportError;
use crate::flatbuf_build::TableBuilder;
use mnv2_arch::{Bottleneck, Layer, Padding};
use mnv2_model::{
    BlockWeights, ConvWeights, LayerWeights, Model, OutputKind, PoolKind, Quant, Task, Tensor, TensorData,
};

/// The `.tflite` file of a classifier, float or quantized as the model is.
pub fn to_tflite(model: &Model) -> Result<Vec<u8>, ImportError> {
    if !matches!(model.task, Task::Classify) {
        return Err(ImportError::Unsupported("only classifiers can be exported to TFLite".into()));
    }
    // A 2-D classifier (from a Dense layer) is a FULLY_CONNECTED after a pool that drops the
    // spatial axes; a 4-D one a 1x1 CONV_2D after a pool that keeps them, then a RESHAPE.
    let fully_connected =
        matches!(model.layers.last(), Some(LayerWeights::Classifier(w)) if w.weights.shape.len() == 2);
    let mut g = Graph::new(activation_dtype(model)?, model.arch.padding, fully_connected);
    let (input, mut x) = g.input(model)?;
    for (n, (layer, weights)) in model.arch.layers().iter().zip(&model.layers).enumerate() {
        x = g.layer(n, layer, weights, x)?;
    }
    x = g.output(&model.output, x, model.arch.classes as i32)?;
    Ok(g.finish(input, x, model))
}

/// How the model's activations are stored: float32, or its integer type.
fn activation_dtype(model: &Model) -> Result<i8, ImportError> {
    let Some(LayerWeights::Stem(stem)) = model.layers.first() else {
        return Err(ImportError::Malformed("the model does not start with its stem".into()));
    };
    match (&stem.weights.data, &model.input.quant) {
        (TensorData::F32(_), None) => Ok(dtype::FLOAT32),
        (TensorData::U8(_), Some(_)) => Ok(dtype::UINT8),
        (TensorData::I8(_), Some(_)) => Ok(dtype::INT8),
        _ => Err(ImportError::Unsupported("a model partly quantized (float input, integer weights)".into())),
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
    /// The activations' element type.
    dtype: i8,
    padding: Padding,
    fully_connected: bool,
    tensors: Vec<TableBuilder>,
    /// Each tensor's quantization, as written.
    quants: Vec<Option<Quant>>,
    /// Buffer 0 is the empty sentinel tensors without data point at.
    buffers: Vec<TableBuilder>,
    codes: Vec<(i32, i32)>,
    operators: Vec<TableBuilder>,
}

impl Graph {
    fn new(dtype: i8, padding: Padding, fully_connected: bool) -> Graph {
        Graph {
            dtype,
            padding,
            fully_connected,
            tensors: Vec::new(),
            quants: Vec::new(),
            buffers: vec![TableBuilder::new()],
            codes: Vec::new(),
            operators: Vec::new(),
        }
    }

    /// The input tensor (float or quantized) and, after a requantizing QUANTIZE where the model
    /// has one, the tensor the stem reads.
    fn input(&mut self, model: &Model) -> Result<(i32, i32), ImportError> {
        let dtype = match (&model.input.quant, model.input.signed) {
            (None, _) => dtype::FLOAT32,
            (Some(_), false) => dtype::UINT8,
            (Some(_), true) => dtype::INT8,
        };
        let r = model.arch.resolution as i32;
        let input = self.tensor("input", &[1, r, r, 3], dtype, model.input.quant.as_ref(), None);
        let Some(q) = &model.input.requantized else { return Ok((input, input)) };
        let x = self.activation("input_requantized", &[1, r, r, 3], Some(q))?;
        self.op(op::QUANTIZE, &[input], x, None);
        Ok((input, x))
    }

    /// Layer `n` reading `x`; returns its output.
    fn layer(&mut self, n: usize, layer: &Layer, weights: &LayerWeights, x: i32) -> Result<i32, ImportError> {
        match (layer, weights) {
            (Layer::Stem(c), LayerWeights::Stem(w)) | (Layer::Head(c), LayerWeights::Head(w)) => {
                let conv = Conv { kind: Kind::Full, stride: c.stride, relu6: true, input: c.input.h };
                self.conv(&format!("layers.{n}"), x, w, conv, [c.output.h, c.output.w, c.output.c])
            }
            (Layer::Bottleneck(b), LayerWeights::Bottleneck(bw)) => self.block(&format!("layers.{n}"), b, bw, x),
            (Layer::Pool { input, .. }, LayerWeights::Pool { kind, output }) => {
                let c = input.c as i32;
                let shape: &[i32] = if self.fully_connected { &[1, c] } else { &[1, 1, 1, c] };
                let pooled = self.activation("pool", shape, output.as_ref())?;
                self.pool(*kind, x, pooled, input.h, input.w);
                Ok(pooled)
            }
            (Layer::Classifier(c), LayerWeights::Classifier(w)) => self.classifier(c, w, x),
            _ => Err(ImportError::Malformed("layer and weights differ in kind".into())),
        }
    }

    /// An inverted residual block: expansion, depthwise, projection, and the shortcut's ADD.
    fn block(&mut self, name: &str, b: &Bottleneck, bw: &BlockWeights, block_in: i32) -> Result<i32, ImportError> {
        if b.dilation != 1 {
            return Err(ImportError::Unsupported("dilated convolutions (output stride below 32)".into()));
        }
        let (dw_in, dw_out) = b.depthwise_shapes();
        let mut x = block_in;
        if let Some(e) = &bw.expand {
            let conv = Conv { kind: Kind::Full, stride: 1, relu6: true, input: b.input.h };
            x = self.conv(&format!("{name}.expand"), x, e, conv, [dw_in.h, dw_in.w, dw_in.c])?;
        }
        let conv = Conv { kind: Kind::Depthwise, stride: b.stride, relu6: true, input: dw_in.h };
        x = self.conv(&format!("{name}.depthwise"), x, &bw.depthwise, conv, [dw_out.h, dw_out.w, dw_out.c])?;
        let conv = Conv { kind: Kind::Full, stride: 1, relu6: false, input: dw_out.h };
        let o = b.output();
        x = self.conv(&format!("{name}.project"), x, &bw.project, conv, [o.h, o.w, o.c])?;
        if !b.residual {
            return Ok(x);
        }
        let shape = [1, o.h as i32, o.w as i32, o.c as i32];
        let sum = self.activation(&format!("{name}.add"), &shape, bw.add_output.as_ref())?;
        let options = TableBuilder::new().i8(0, ACT_NONE);
        self.op(op::ADD, &[block_in, x], sum, Some((options_type::ADD, options)));
        Ok(sum)
    }

    /// The classifier: FULLY_CONNECTED, or a 1x1 CONV_2D and a RESHAPE to [1, classes].
    fn classifier(&mut self, c: &mnv2_arch::Conv, w: &ConvWeights, x: i32) -> Result<i32, ImportError> {
        let (k, channels) = (c.output.c as i32, c.input.c as i32);
        if self.fully_connected {
            let weights = self.weights("classifier.weight", &[k, channels], &w.weights)?;
            let bias = self.weights("classifier.bias", &[k], &w.bias)?;
            let logits = self.activation("logits", &[1, k], w.output.as_ref())?;
            let options = (options_type::FULLY_CONNECTED, TableBuilder::new().i8(0, ACT_NONE));
            self.op(op::FULLY_CONNECTED, &[x, weights, bias], logits, Some(options));
            return Ok(logits);
        }
        let conv = Conv { kind: Kind::Full, stride: 1, relu6: false, input: 1 };
        let y = self.conv("classifier", x, w, conv, [1, 1, c.output.c])?;
        let logits = self.activation("logits", &[1, k], w.output.as_ref())?;
        let shape = self.constant("logits_shape", &[2], dtype::INT32, None, i32_bytes(&[1, k]));
        let options = (options_type::RESHAPE, TableBuilder::new().i32s(0, &[1, k]));
        self.op(op::RESHAPE, &[y, shape], logits, Some(options));
        Ok(logits)
    }

    /// The softmax, and the QUANTIZE after it, where the model ends in them.
    fn output(&mut self, output: &OutputKind, x: i32, k: i32) -> Result<i32, ImportError> {
        let OutputKind::Softmax { quant, requantized } = output else { return Ok(x) };
        let probabilities = self.activation("probabilities", &[1, k], quant.as_ref())?;
        let options = (options_type::SOFTMAX, TableBuilder::new().f32(0, 1.0));
        self.op(op::SOFTMAX, &[x], probabilities, Some(options));
        let Some(q) = requantized else { return Ok(probabilities) };
        // The final QUANTIZE flips signedness (int8 softmax to uint8, as TFLite writes it).
        let flipped = if self.dtype == dtype::INT8 { dtype::UINT8 } else { dtype::INT8 };
        let out = self.tensor("output", &[1, k], flipped, Some(q), None);
        self.op(op::QUANTIZE, &[probabilities], out, None);
        Ok(out)
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
        let dtype = self.dtype;
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
        if self.dtype != dtype::INT8 {
            return 1;
        }
        match code {
            op::CONV_2D | op::DEPTHWISE_CONV_2D => 3,
            op::ADD | op::MEAN | op::SOFTMAX | op::AVERAGE_POOL_2D | op::PAD => 2,
            _ => 1,
        }
    }

    /// A convolution with its weights, bias and fused activation.
    fn conv(&mut self, name: &str, x: i32, w: &ConvWeights, c: Conv, out: [u32; 3]) -> Result<i32, ImportError> {
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
        // Input channels are the last axis of both weight layouts.
        let (x, pad_mode) = self.pad(name, x, c.input, kernel, c.stride, shape[3])?;
        let y = self.activation(name, &[1, out[0] as i32, out[1] as i32, out[2] as i32], w.output.as_ref())?;
        let act = if c.relu6 { ACT_RELU6 } else { ACT_NONE };
        let stride = c.stride as i32;
        let (code, options) = match c.kind {
            Kind::Full => {
                let t = TableBuilder::new().i8(0, pad_mode).i32(1, stride).i32(2, stride).i8(3, act);
                (op::CONV_2D, (options_type::CONV_2D, t.i32(4, 1).i32(5, 1)))
            }
            Kind::Depthwise => {
                let t = TableBuilder::new().i8(0, pad_mode).i32(1, stride).i32(2, stride).i32(3, 1).i8(4, act);
                (op::DEPTHWISE_CONV_2D, (options_type::DEPTHWISE_CONV_2D, t.i32(5, 1).i32(6, 1)))
            }
        };
        self.op(code, &[x, weights, bias], y, Some(options));
        Ok(y)
    }

    /// The tensor a convolution over `x` reads and its padding option: `x` itself and "same"
    /// where TensorFlow's padding is the model's, else `x` after a PAD of the model's amounts
    /// (keeping its quantization) and "valid".
    fn pad(
        &mut self,
        name: &str,
        x: i32,
        input: u32,
        kernel: u32,
        stride: u32,
        channels: i32,
    ) -> Result<(i32, i8), ImportError> {
        let (before, after) = self.padding.before_after(input, kernel, stride);
        if (before, after) == Padding::TensorFlowSame.before_after(input, kernel, stride) {
            return Ok((x, PAD_SAME));
        }
        let (before, after) = (before as i32, after as i32);
        let paddings = i32_bytes(&[0, 0, before, after, before, after, 0, 0]);
        let p = self.constant(&format!("{name}.paddings"), &[4, 2], dtype::INT32, None, paddings);
        let size = input as i32 + before + after;
        let quant = self.quants[x as usize].clone();
        let padded = self.activation(&format!("{name}.padded"), &[1, size, size, channels], quant.as_ref())?;
        self.op(op::PAD, &[x, p], padded, None);
        Ok((padded, PAD_VALID))
    }

    /// The global pool over `h` x `w` (MEAN keeping the [1, 1, 1, C] shape unless a
    /// FULLY_CONNECTED follows).
    fn pool(&mut self, kind: PoolKind, x: i32, out: i32, h: u32, w: u32) {
        let keep_dims = !self.fully_connected;
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
