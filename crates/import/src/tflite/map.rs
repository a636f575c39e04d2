//! Walks a TFLite graph in execution order against the layer list of a candidate architecture.

use mnv2_arch::{Arch, Bottleneck, Conv, DeepLab, Layer, Padding, Shape};
use mnv2_model::{
    BlockWeights, ConvWeights, DeepLabWeights, InputSpec, LayerWeights, Model, OutputKind, PoolKind, Quant, Task,
    Tensor, TensorData,
};

use super::schema::{ACT_NONE, ACT_RELU, ACT_RELU6, Graph, Operator, PAD_SAME, PAD_VALID, TensorInfo, dtype, op};
use crate::ImportError;

/// Width multipliers of the published family and common variants, tried in turn.
pub(crate) const WIDTHS: [f32; 9] = [1.0, 0.75, 0.5, 0.35, 1.3, 1.4, 0.25, 1.5, 2.0];

pub fn map_graph(g: &Graph, file: &[u8], name: &str) -> Result<Model, ImportError> {
    let input = g.tensor(*g.inputs.first().ok_or_else(|| not_mnv2("the graph has no input"))?)?;
    let output = g.tensor(*g.outputs.first().ok_or_else(|| not_mnv2("the graph has no output"))?)?;
    if g.inputs.len() != 1 || g.outputs.len() != 1 {
        return Err(not_mnv2("expected one input and one output"));
    }
    let (h, w, c) = match input.shape[..] {
        [_, h, w, c] => (h, w, c),
        _ => {
            return Err(not_mnv2(&format!("input shape {:?} is not NHWC", input.shape)));
        }
    };
    if h != w || c != 3 || h <= 0 {
        return Err(not_mnv2(&format!("input {h}x{w}x{c}: expected a square RGB image")));
    }
    // A segmentation graph ends in ARG_MAX; its classes are the last conv's outputs.
    let segment = g.operators.last().is_some_and(|o| o.code == op::ARG_MAX);
    let classes = if segment {
        let last_conv = g.operators.iter().rev().find(|o| o.code == op::CONV_2D);
        last_conv.and_then(|o| o.inputs.get(1)).and_then(|&t| g.tensor(t).ok()).map_or(0, |t| t.shape[0])
    } else {
        *output.shape.last().unwrap_or(&0)
    };
    if classes <= 0 {
        return Err(not_mnv2(&format!("output shape {:?}", output.shape)));
    }
    let strides: &[u32] = if segment { &[16, 8] } else { &[32] };
    // Explicit PADs before VALID convolutions: PyTorch's symmetric padding, as mnv2 exports it.
    let padding =
        if g.operators.iter().any(|o| o.code == op::PAD) { Padding::Symmetric } else { Padding::TensorFlowSame };
    // Try each width; when none fits, report the error of the one that got furthest.
    let mut best: Option<(usize, ImportError)> = None;
    let divisors: &[u32] = if segment { &[8, 1] } else { &[8] };
    let candidates = strides.iter().flat_map(|&s| divisors.iter().flat_map(move |&d| WIDTHS.map(|w| (s, d, w))));
    for (output_stride, divisor, width) in candidates {
        {
            let arch = Arch::new(width, h as u32, classes as u32)
                .and_then(|a| a.with_output_stride(output_stride))
                .and_then(|a| a.with_divisor(divisor))
                .map(|a| a.with_padding(padding))
                .map_err(|e| not_mnv2(&e.to_string()))?;
            let mut walker = Walker::new(g, file, padding);
            match walker.walk(&arch, segment) {
                Ok((layers, input_spec, output_kind, task)) => {
                    let model = Model {
                        arch,
                        layers,
                        task,
                        input: input_spec,
                        output: output_kind,
                        labels: None,
                        name: name.into(),
                    };
                    model.validate()?;
                    return Ok(model);
                }
                Err(e) if best.as_ref().is_none_or(|(n, _)| walker.next > *n) => best = Some((walker.next, e)),
                Err(_) => {}
            }
        }
    }
    Err(best.map(|(_, e)| e).unwrap_or_else(|| not_mnv2("no width multiplier fits")))
}

fn not_mnv2(msg: &str) -> ImportError {
    ImportError::NotMobileNetV2(msg.to_string())
}

/// A cursor over the operators, following the activation tensor from op to op.
struct Walker<'a> {
    g: &'a Graph,
    file: &'a [u8],
    next: usize,
    cur: i32,
    /// Operators at or after `next` already taken out of order (branching heads).
    taken: Vec<usize>,
    /// The candidate architecture's padding (symmetric when the graph has PADs).
    arch_padding: Padding,
}

impl<'a> Walker<'a> {
    fn new(g: &'a Graph, file: &'a [u8], arch_padding: Padding) -> Walker<'a> {
        Walker { g, file, next: 0, cur: g.inputs[0], taken: Vec::new(), arch_padding }
    }

    fn peek(&self) -> Option<&'a Operator> {
        self.g.operators.get(self.next)
    }

    /// Takes the next operator, which must be `code` and read the current activation first.
    fn take(&mut self, code: i32, what: &str) -> Result<&'a Operator, ImportError> {
        let at = self.next;
        let o = self.peek().ok_or_else(|| not_mnv2(&format!("graph ends before the {what}")))?;
        if o.code != code {
            return Err(not_mnv2(&format!(
                "operator {at}: found {}, expected {} for the {what}",
                op::name(o.code),
                op::name(code)
            )));
        }
        if o.inputs.first() != Some(&self.cur) || o.outputs.len() != 1 {
            return Err(not_mnv2(&format!("operator {at} ({what}) does not follow the previous layer")));
        }
        self.next += 1;
        self.cur = o.outputs[0];
        Ok(o)
    }

    fn walk(
        &mut self,
        arch: &Arch,
        segment: bool,
    ) -> Result<(Vec<LayerWeights>, InputSpec, OutputKind, Task), ImportError> {
        let input = self.g.tensor(self.cur)?.clone();
        let mut requantized = None;
        if self.peek().map(|o| o.code) == Some(op::QUANTIZE) {
            let q = self.take(op::QUANTIZE, "input quantization")?;
            requantized = self.g.tensor(q.outputs[0])?.quant.clone();
        }
        let input_spec = input_spec(&input, requantized)?;
        let mut layers = Vec::new();
        let list = if segment { arch.features() } else { arch.layers() };
        for layer in list {
            let weights = match layer {
                Layer::Stem(c) => LayerWeights::Stem(self.conv(&c, "stem")?),
                Layer::Bottleneck(b) => LayerWeights::Bottleneck(Box::new(self.block(&b)?)),
                Layer::Head(c) => LayerWeights::Head(self.conv(&c, "last 1x1 conv")?),
                Layer::Pool { input, .. } => {
                    let (kind, output) = self.pool(input.h, input.w)?;
                    LayerWeights::Pool { kind, output }
                }
                Layer::Classifier(c) => LayerWeights::Classifier(self.classifier(&c)?),
            };
            layers.push(weights);
        }
        if segment {
            let head = self.deeplab_head(arch)?;
            return Ok((layers, input_spec, OutputKind::Logits, Task::Segment(Box::new(head))));
        }
        let output = self.tail()?;
        if self.next != self.g.operators.len() {
            return Err(not_mnv2(&format!(
                "{} operators left after the classifier",
                self.g.operators.len() - self.next
            )));
        }
        if self.cur != self.g.outputs[0] {
            return Err(not_mnv2("the last operator does not produce the graph output"));
        }
        Ok((layers, input_spec, output, Task::Classify))
    }

    /// The next operator not yet taken whose first input is `input` and whose code is `code`.
    fn take_from(&mut self, code: i32, input: i32, what: &str) -> Result<&'a Operator, ImportError> {
        let found = (self.next..self.g.operators.len()).find(|i| {
            !self.taken.contains(i)
                && self.g.operators[*i].code == code
                && self.g.operators[*i].inputs.first() == Some(&input)
        });
        let i = found.ok_or_else(|| not_mnv2(&format!("no {} operator for the {what}", op::name(code))))?;
        let o = &self.g.operators[i];
        if o.outputs.len() != 1 {
            return Err(not_mnv2(&format!("operator {i} ({what}) has {} outputs", o.outputs.len())));
        }
        self.taken.push(i);
        self.cur = o.outputs[0];
        Ok(o)
    }

    /// A head 1x1 conv with the given activation, read from `input`.
    fn head_conv(&mut self, input: i32, relu: bool, out: u32, what: &str) -> Result<(ConvWeights, i32), ImportError> {
        let o = self.take_from(op::CONV_2D, input, what)?;
        let want = if relu { ACT_RELU } else { ACT_NONE };
        if o.options.activation != want || o.options.stride_h != 1 || o.options.stride_w != 1 {
            return Err(not_mnv2(&format!("{what}: options {:?}", o.options)));
        }
        let w = self.weights(o, what, true)?;
        if w.weights.shape.first() != Some(&(out as usize)) {
            return Err(not_mnv2(&format!("{what}: weights {:?}, expected {out} outputs", w.weights.shape)));
        }
        Ok((w, o.outputs[0]))
    }

    /// Mobile DeepLabv3's head: image pooling and 1x1 branches, concatenation, projection,
    /// logits, bilinear resizing to the input size and ARG_MAX, matched by tensor connections.
    fn deeplab_head(&mut self, arch: &Arch) -> Result<DeepLabWeights, ImportError> {
        let d = DeepLab { backbone: *arch, aspp_channels: mnv2_arch::ASPP_CHANNELS };
        let f = d.features();
        let a = d.aspp_channels;
        let features = self.cur;
        let pool = self.take_from(op::AVERAGE_POOL_2D, features, "image pooling")?;
        let o = pool.options;
        if o.filter_h as u32 != f.h || o.filter_w as u32 != f.w || o.padding != PAD_VALID {
            return Err(not_mnv2(&format!("image pooling: {o:?} is not global over {}x{}", f.h, f.w)));
        }
        let pooled_tensor = pool.outputs[0];
        let pooled = self.g.tensor(pooled_tensor)?.quant.clone();
        let (aspp0, aspp0_out) = self.head_conv(features, true, a, "aspp 1x1 branch")?;
        let (image_pool, ip_out) = self.head_conv(pooled_tensor, true, a, "image pooling conv")?;
        let resize = self.take_from(op::RESIZE_BILINEAR, ip_out, "image pooling upsampling")?;
        self.expect_size(resize, f.h, f.w, "image pooling upsampling")?;
        let mut resized = resize.outputs[0];
        if let Ok(q) = self.take_from(op::QUANTIZE, resized, "image pooling requantization") {
            resized = q.outputs[0];
        }
        let image_pool_resized = self.g.tensor(resized)?.quant.clone();
        let concat = self.take_from(op::CONCATENATION, resized, "concatenation")?;
        if concat.inputs != [resized, aspp0_out] || !(concat.options.axis == 3 || concat.options.axis == -1) {
            return Err(not_mnv2("concatenation: expected [image pooling, aspp 1x1] along channels"));
        }
        let concat_out = concat.outputs[0];
        let (projection, proj_out) = self.head_conv(concat_out, true, a, "projection")?;
        let (logits, cur) = self.head_conv(proj_out, false, arch.classes, "logits")?;
        let (align_corners, half_pixel_centers) = self.upsample_argmax(arch, (f.h, f.w), cur)?;
        Ok(DeepLabWeights {
            pooled,
            image_pool,
            image_pool_resized,
            aspp0,
            projection,
            logits,
            align_corners,
            half_pixel_centers,
        })
    }

    /// The head's last operators after the logits `cur`: resizes from the feature map's size
    /// (`features`) to the input's, then ARG_MAX over the classes, which must end the graph.
    /// Returns the resize's (align_corners, half_pixel_centers).
    fn upsample_argmax(
        &mut self,
        arch: &Arch,
        features: (u32, u32),
        mut cur: i32,
    ) -> Result<(bool, bool), ImportError> {
        let (mut align_corners, mut half_pixel_centers) = (false, false);
        let mut size = features;
        while let Ok(r) = self.take_from(op::RESIZE_BILINEAR, cur, "upsampling") {
            let (h, w) = self.size_of(r)?;
            if (h, w) == size {
                // A resize to the same size with corners aligned is the identity.
            } else if (h, w) != (arch.resolution, arch.resolution) {
                return Err(not_mnv2(&format!("upsampling to {h}x{w}, not the input size")));
            }
            size = (h, w);
            align_corners = r.options.align_corners;
            half_pixel_centers = r.options.half_pixel_centers;
            cur = r.outputs[0];
        }
        if size != (arch.resolution, arch.resolution) {
            return Err(not_mnv2("the scores are not upsampled to the input size"));
        }
        let argmax = self.take_from(op::ARG_MAX, cur, "argmax")?;
        let axis = argmax.inputs.get(1).copied().unwrap_or(-1);
        let axis = self.tensor(self.g.tensor(axis)?, "ARG_MAX axis")?;
        if !matches!(axis.data, TensorData::I32(ref v) if v.as_slice() == [3] || v.as_slice() == [-1]) {
            return Err(not_mnv2("ARG_MAX is not over the classes"));
        }
        if self.cur != self.g.outputs[0] {
            return Err(not_mnv2("ARG_MAX does not produce the graph output"));
        }
        let left = self.g.operators.len() - self.next - self.taken.len();
        if left != 0 {
            return Err(not_mnv2(&format!("{left} operators of the head are not part of Mobile DeepLabv3")));
        }
        self.next = self.g.operators.len();
        Ok((align_corners, half_pixel_centers))
    }

    /// The (height, width) a RESIZE_BILINEAR resizes to (its constant size input).
    fn size_of(&self, o: &Operator) -> Result<(u32, u32), ImportError> {
        let t = self.g.tensor(o.inputs.get(1).copied().unwrap_or(-1))?;
        match self.tensor(t, "resize size")?.data {
            TensorData::I32(v) if v.len() == 2 && v[0] > 0 && v[1] > 0 => Ok((v[0] as u32, v[1] as u32)),
            _ => Err(not_mnv2("resize without a constant size")),
        }
    }

    fn expect_size(&self, o: &Operator, h: u32, w: u32, what: &str) -> Result<(), ImportError> {
        if self.size_of(o)? != (h, w) {
            return Err(not_mnv2(&format!("{what}: not to {h}x{w}")));
        }
        Ok(())
    }

    /// The current activation tensor must have this shape (batch 1, NHWC).
    fn expect_shape(&self, s: Shape, what: &str) -> Result<(), ImportError> {
        let t = self.g.tensor(self.cur)?;
        let want = [1, s.h as i32, s.w as i32, s.c as i32];
        if t.shape != want {
            return Err(not_mnv2(&format!("{what}: output shape {:?}, the architecture has {want:?}", t.shape)));
        }
        Ok(())
    }

    /// The padding option a convolution over `input` pixels must have: "same" where TensorFlow's
    /// padding is the architecture's, else "valid" after an explicit PAD of the architecture's
    /// (symmetric) amounts, which is taken here.
    fn padding_mode(&mut self, input: u32, kernel: u32, stride: u32, what: &str) -> Result<i8, ImportError> {
        let (before, after) = self.arch_padding.before_after(input, kernel, stride);
        if (before, after) == Padding::TensorFlowSame.before_after(input, kernel, stride) {
            return Ok(PAD_SAME);
        }
        let o = self.take(op::PAD, &format!("{what} padding"))?;
        let amounts = self.tensor(self.g.tensor(o.inputs.get(1).copied().unwrap_or(-1))?, "PAD amounts")?;
        let (b, a) = (before as i32, after as i32);
        if !matches!(amounts.data, TensorData::I32(ref v) if v.as_slice() == [0, 0, b, a, b, a, 0, 0]) {
            return Err(not_mnv2(&format!("{what}: PAD is not {b} before and {a} after along height and width")));
        }
        Ok(PAD_VALID)
    }

    fn conv(&mut self, c: &Conv, what: &str) -> Result<ConvWeights, ImportError> {
        let mode = self.padding_mode(c.input.h, c.kernel, c.stride, what)?;
        let o = self.take(op::CONV_2D, what)?;
        if c.output.h > 1 || c.kernel > 1 {
            self.expect_shape(c.output, what)?;
        }
        let opt = o.options;
        let act = if c.relu6 { ACT_RELU6 } else { ACT_NONE };
        let padding_ok = opt.padding == mode || (c.kernel == 1 && opt.padding == PAD_VALID);
        if opt.stride_h as u32 != c.stride
            || opt.stride_w as u32 != c.stride
            || opt.activation != act
            || !padding_ok
            || opt.dilation_h != 1
            || opt.dilation_w != 1
        {
            return Err(not_mnv2(&format!(
                "{what}: options {opt:?} differ from stride {}, relu6 {}",
                c.stride, c.relu6
            )));
        }
        self.weights(o, what, true)
    }

    fn block(&mut self, b: &Bottleneck) -> Result<BlockWeights, ImportError> {
        let name = format!("bottleneck {}", b.index);
        let x = self.cur;
        let expand = b.expand().map(|c| self.conv(&c, &format!("{name} expand conv"))).transpose()?;
        let what = format!("{name} depthwise conv");
        let mode = self.padding_mode(b.depthwise_shapes().0.h, 3, b.stride, &what)?;
        let o = self.take(op::DEPTHWISE_CONV_2D, &what)?;
        let opt = o.options;
        let (s, d) = (b.stride as i32, b.dilation as i32);
        if opt.stride_h != s
            || opt.stride_w != s
            || opt.dilation_h != d
            || opt.dilation_w != d
            || opt.activation != ACT_RELU6
            || opt.padding != mode
            || opt.depth_multiplier > 1
        {
            return Err(not_mnv2(&format!("{name} depthwise: options {opt:?} differ from stride {s}, dilation {d}")));
        }
        self.expect_shape(b.depthwise_shapes().1, &format!("{name} depthwise"))?;
        let depthwise = self.weights(o, &format!("{name} depthwise"), true)?;
        let project = self.conv(&b.project(), &format!("{name} projection"))?;
        let mut add_output = None;
        if b.residual {
            let at = self.next;
            let o = self.peek().ok_or_else(|| not_mnv2(&format!("graph ends before the {name} residual add")))?;
            let mut ins = o.inputs.clone();
            ins.sort();
            let mut want = vec![x, self.cur];
            want.sort();
            if o.code != op::ADD || ins != want || o.outputs.len() != 1 || o.options.activation != ACT_NONE {
                return Err(not_mnv2(&format!("operator {at}: expected the {name} residual ADD")));
            }
            self.next += 1;
            self.cur = o.outputs[0];
            self.expect_shape(b.output(), &format!("{name} residual add"))?;
            add_output = self.g.tensor(self.cur)?.quant.clone();
        }
        Ok(BlockWeights { expand, depthwise, project, add_output })
    }

    fn pool(&mut self, h: u32, w: u32) -> Result<(PoolKind, Option<Quant>), ImportError> {
        let at = self.next;
        let o = self.peek().ok_or_else(|| not_mnv2("graph ends before the global pool"))?;
        let kind = match o.code {
            op::AVERAGE_POOL_2D => {
                let opt = o.options;
                if opt.filter_h as u32 != h
                    || opt.filter_w as u32 != w
                    || opt.padding != PAD_VALID
                    || opt.activation != ACT_NONE
                {
                    return Err(not_mnv2(&format!("operator {at}: average pool {opt:?} is not global over {h}x{w}")));
                }
                self.take(op::AVERAGE_POOL_2D, "global pool")?;
                PoolKind::Average
            }
            op::MEAN => {
                let axes = o.inputs.get(1).copied().unwrap_or(-1);
                let axes = self.g.tensor(axes)?;
                let values = self.tensor(axes, "mean axes")?;
                if !matches!(values.data, TensorData::I32(ref v) if v.as_slice() == [1, 2]) {
                    return Err(not_mnv2(&format!("operator {at}: MEAN is not over height and width")));
                }
                self.take(op::MEAN, "global pool")?;
                PoolKind::Mean
            }
            other => {
                return Err(not_mnv2(&format!("operator {at}: found {}, expected the global pool", op::name(other))));
            }
        };
        Ok((kind, self.g.tensor(self.cur)?.quant.clone()))
    }

    fn classifier(&mut self, c: &Conv) -> Result<ConvWeights, ImportError> {
        match self.peek().map(|o| o.code) {
            Some(op::FULLY_CONNECTED) => {
                let o = self.take(op::FULLY_CONNECTED, "classifier")?;
                if o.options.activation != ACT_NONE || o.options.weights_format != 0 {
                    return Err(not_mnv2("classifier: fully connected with an activation or shuffled weights"));
                }
                self.weights(o, "classifier", false)
            }
            _ => self.conv(c, "classifier"),
        }
    }

    /// Reshapes, softmax and a final quantize after the classifier.
    fn tail(&mut self) -> Result<OutputKind, ImportError> {
        let mut kind = OutputKind::Logits;
        while let Some(o) = self.peek() {
            match o.code {
                op::RESHAPE | op::SQUEEZE => {
                    self.take(o.code, "output reshape")?;
                }
                op::SOFTMAX if kind == OutputKind::Logits => {
                    if o.options.beta != 1.0 {
                        return Err(ImportError::Unsupported(format!("softmax with beta {}", o.options.beta)));
                    }
                    self.take(op::SOFTMAX, "softmax")?;
                    kind = OutputKind::Softmax { quant: self.g.tensor(self.cur)?.quant.clone(), requantized: None };
                }
                op::QUANTIZE => {
                    self.take(op::QUANTIZE, "output quantization")?;
                    let q = self.g.tensor(self.cur)?.quant.clone();
                    if let OutputKind::Softmax { requantized, .. } = &mut kind {
                        *requantized = q;
                    }
                }
                _ => break,
            }
        }
        Ok(kind)
    }

    /// Weights (input 1) and bias (input 2) of a conv-like operator, and its output quantization.
    fn weights(&self, o: &Operator, what: &str, bias_required: bool) -> Result<ConvWeights, ImportError> {
        let w = o.inputs.get(1).copied().unwrap_or(-1);
        let weights = self.parameter(w, &format!("{what} weights"))?;
        let out_ch = weights.shape[0];
        let out_ch = if weights.shape.len() == 4 && weights.shape[0] == 1 { weights.shape[3] } else { out_ch };
        let bias = match o.inputs.get(2).copied() {
            Some(b) if b >= 0 => self.parameter(b, &format!("{what} bias"))?,
            _ if !bias_required => Tensor::f32(vec![out_ch], vec![0.0; out_ch]),
            _ => return Err(not_mnv2(&format!("{what} has no bias"))),
        };
        let output = self.g.tensor(o.outputs[0])?.quant.clone();
        Ok(ConvWeights { weights, bias, output })
    }

    /// A weight or bias tensor: float, or integers with their quantization (without it they
    /// mean nothing).
    fn parameter(&self, id: i32, what: &str) -> Result<Tensor, ImportError> {
        let t = self.tensor(self.g.tensor(id)?, what)?;
        if !matches!(t.data, TensorData::F32(_)) && t.quant.is_none() {
            return Err(ImportError::Malformed(format!("{what}: integer weights without quantization")));
        }
        Ok(t)
    }

    /// A constant tensor's values, with its size checked against its shape.
    fn tensor(&self, t: &TensorInfo, what: &str) -> Result<Tensor, ImportError> {
        let buf = self
            .g
            .buffers
            .get(t.buffer as usize)
            .ok_or_else(|| ImportError::Malformed(format!("{what}: buffer {} out of range", t.buffer)))?;
        let bytes = &self.file[buf.start..buf.start + buf.len];
        let mut n: usize = 1;
        let mut shape = Vec::new();
        for &d in &t.shape {
            if d <= 0 {
                return Err(ImportError::Malformed(format!("{what}: dimension {d} in shape {:?}", t.shape)));
            }
            n = n.checked_mul(d as usize).ok_or_else(|| ImportError::Malformed(format!("{what}: shape too large")))?;
            shape.push(d as usize);
        }
        let size = match t.dtype {
            dtype::FLOAT32 | dtype::INT32 => 4,
            dtype::UINT8 | dtype::INT8 => 1,
            other => {
                return Err(ImportError::Unsupported(format!("{what}: tensor type {other}")));
            }
        };
        if bytes.len() != n * size {
            return Err(ImportError::Malformed(format!(
                "{what} ({}): {} bytes of data for shape {:?}",
                t.name,
                bytes.len(),
                t.shape
            )));
        }
        let four = |c: &[u8]| <[u8; 4]>::try_from(c).expect("chunks of 4");
        let data = match t.dtype {
            dtype::FLOAT32 => TensorData::F32(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(four(c))).collect()),
            dtype::INT32 => TensorData::I32(bytes.chunks_exact(4).map(|c| i32::from_le_bytes(four(c))).collect()),
            dtype::UINT8 => TensorData::U8(bytes.to_vec()),
            _ => TensorData::I8(bytes.iter().map(|&b| b as i8).collect()),
        };
        Ok(Tensor { shape, data, quant: t.quant.clone() })
    }
}

fn input_spec(input: &TensorInfo, requantized: Option<Quant>) -> Result<InputSpec, ImportError> {
    match input.dtype {
        dtype::FLOAT32 => Ok(InputSpec::uniform(127.5, 127.5)),
        dtype::UINT8 | dtype::INT8 => {
            let q =
                input.quant.clone().ok_or_else(|| ImportError::Malformed("quantized input without scale".into()))?;
            let (scale, zp) = (q.scale[0], q.zero_point[0]);
            if !scale.is_finite() || scale <= 0.0 {
                return Err(ImportError::Malformed(format!("input scale {scale}")));
            }
            // real = scale * (q - zp), and the bytes fed in are the pixel values themselves.
            let signed = input.dtype == dtype::INT8;
            let mean = if signed { zp as f32 + 128.0 } else { zp as f32 };
            Ok(InputSpec { quant: Some(q), requantized, signed, ..InputSpec::uniform(mean, 1.0 / scale) })
        }
        other => Err(ImportError::Unsupported(format!("input tensor type {other}"))),
    }
}
