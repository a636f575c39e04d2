//! The layers of the network and the arithmetic of their shapes, parameters and multiply-adds.

use serde::Serialize;

/// A feature map's height, width and channels (NHWC without the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shape {
    pub h: u32,
    pub w: u32,
    pub c: u32,
}

impl Shape {
    pub const fn new(h: u32, w: u32, c: u32) -> Shape {
        Shape { h, w, c }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.h as usize * self.w as usize * self.c as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.h, self.w, self.c)
    }
}

/// Output size of a "same"-padded window: ceil(input / stride).
pub fn same_out(input: u32, stride: u32) -> u32 {
    input.div_ceil(stride)
}

/// A full (non-depthwise) convolution with "same" padding, batch norm folded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Conv {
    pub input: Shape,
    pub output: Shape,
    pub kernel: u32,
    pub stride: u32,
    pub dilation: u32,
    /// ReLU6 after the conv (false for linear projections and the classifier).
    pub relu6: bool,
}

impl Conv {
    pub fn new(input: Shape, out: u32, kernel: u32, stride: u32, dilation: u32, relu6: bool) -> Conv {
        let output = Shape::new(same_out(input.h, stride), same_out(input.w, stride), out);
        Conv { input, output, kernel, stride, dilation, relu6 }
    }
    pub fn weight_params(&self) -> u64 {
        (self.kernel * self.kernel) as u64 * self.input.c as u64 * self.output.c as u64
    }
    pub fn macs(&self) -> u64 {
        (self.output.h * self.output.w) as u64 * self.weight_params()
    }
}

/// One inverted residual with linear bottleneck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bottleneck {
    /// 1-based position among the 17 bottlenecks (TF-slim names it `expanded_conv_{index-1}`).
    pub index: u32,
    pub input: Shape,
    pub expansion: u32,
    /// Channels of the expanded tensor (input channels when `expansion == 1`).
    pub hidden: u32,
    pub out: u32,
    pub stride: u32,
    /// Dilation of the depthwise conv (1 unless an output stride below 32 was asked for).
    pub dilation: u32,
    /// The shortcut exists when stride is 1 and channels are kept.
    pub residual: bool,
}

impl Bottleneck {
    pub fn new(index: u32, input: Shape, expansion: u32, out: u32, stride: u32, dilation: u32) -> Bottleneck {
        let hidden = if expansion == 1 { input.c } else { crate::make_divisible((input.c * expansion) as f32, 8) };
        let residual = stride == 1 && input.c == out;
        Bottleneck { index, input, expansion, hidden, out, stride, dilation, residual }
    }
    pub fn has_expand(&self) -> bool {
        self.expansion != 1
    }
    /// The 1x1 expansion conv, when there is one.
    pub fn expand(&self) -> Option<Conv> {
        self.has_expand().then(|| Conv::new(self.input, self.hidden, 1, 1, 1, true))
    }
    /// The 3x3 depthwise conv's input and output shapes.
    pub fn depthwise_shapes(&self) -> (Shape, Shape) {
        let inp = Shape::new(self.input.h, self.input.w, self.hidden);
        let out = Shape::new(same_out(inp.h, self.stride), same_out(inp.w, self.stride), self.hidden);
        (inp, out)
    }
    /// The linear 1x1 projection conv.
    pub fn project(&self) -> Conv {
        Conv::new(self.depthwise_shapes().1, self.out, 1, 1, 1, false)
    }
    pub fn output(&self) -> Shape {
        self.project().output
    }
    pub fn weight_params(&self) -> u64 {
        self.expand().map_or(0, |c| c.weight_params()) + 9 * self.hidden as u64 + self.project().weight_params()
    }
    /// Channels that carry a batch norm: expand and depthwise (hidden) and project (out).
    fn bn_channels(&self) -> u64 {
        let expand = if self.has_expand() { self.hidden as u64 } else { 0 };
        expand + self.hidden as u64 + self.out as u64
    }
    pub fn macs(&self) -> u64 {
        let (_, dw_out) = self.depthwise_shapes();
        self.expand().map_or(0, |c| c.macs()) + 9 * dw_out.len() as u64 + self.project().macs()
    }
}

/// A layer of the classification network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Layer {
    /// 3x3 stride-2 conv on the RGB input, ReLU6.
    Stem(Conv),
    Bottleneck(Bottleneck),
    /// The last 1x1 conv (1280 channels), ReLU6.
    Head(Conv),
    /// Global average pool.
    Pool {
        input: Shape,
        output: Shape,
    },
    /// 1x1 conv (equivalently a fully connected layer) with bias, producing logits.
    Classifier(Conv),
}

impl Layer {
    pub fn input(&self) -> Shape {
        match self {
            Layer::Stem(c) | Layer::Head(c) | Layer::Classifier(c) => c.input,
            Layer::Bottleneck(b) => b.input,
            Layer::Pool { input, .. } => *input,
        }
    }
    pub fn output(&self) -> Shape {
        match self {
            Layer::Stem(c) | Layer::Head(c) | Layer::Classifier(c) => c.output,
            Layer::Bottleneck(b) => b.output(),
            Layer::Pool { output, .. } => *output,
        }
    }
    /// Short operator name as in paper Table 2.
    pub fn operator(&self) -> &'static str {
        match self {
            Layer::Stem(_) => "conv2d 3x3",
            Layer::Bottleneck(_) => "bottleneck",
            Layer::Head(_) => "conv2d 1x1",
            Layer::Pool { .. } => "avgpool",
            Layer::Classifier(_) => "conv2d 1x1 (classifier)",
        }
    }
    pub fn weight_params(&self) -> u64 {
        match self {
            Layer::Stem(c) | Layer::Head(c) | Layer::Classifier(c) => c.weight_params(),
            Layer::Bottleneck(b) => b.weight_params(),
            Layer::Pool { .. } => 0,
        }
    }
    /// Weights plus batch-norm scale and shift (or the classifier's bias).
    pub fn trainable_params(&self) -> u64 {
        match self {
            Layer::Stem(c) | Layer::Head(c) => c.weight_params() + 2 * c.output.c as u64,
            Layer::Classifier(c) => c.weight_params() + c.output.c as u64,
            Layer::Bottleneck(b) => b.weight_params() + 2 * b.bn_channels(),
            Layer::Pool { .. } => 0,
        }
    }
    pub fn macs(&self) -> u64 {
        match self {
            Layer::Stem(c) | Layer::Head(c) | Layer::Classifier(c) => c.macs(),
            Layer::Bottleneck(b) => b.macs(),
            Layer::Pool { .. } => 0,
        }
    }
}
