//! What lowering a model to a plan shares between fp32 and int8: the kernel shapes of a layer,
//! and the plan of the two activation buffers layer outputs alternate between.

use crate::EngineError;
use mnv2_arch::{Bottleneck, Conv};
use mnv2_kernels::Padding;
use mnv2_kernels::conv::ConvShape;
use mnv2_kernels::dwconv::DwShape;

/// The two activation buffers (elements per image) and which one each block writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct BufferPlan {
    /// Elements of each buffer per image.
    pub act: [usize; 2],
    outputs: usize,
    /// Each block's output buffer and output length (for its scratch plan).
    pub blocks: Vec<(usize, usize)>,
}

impl BufferPlan {
    /// Buffers of at least `act` elements (the second may hold a requantized input).
    pub fn new(act: [usize; 2]) -> BufferPlan {
        BufferPlan { act, ..BufferPlan::default() }
    }

    /// A layer output of `len` elements: the next buffer in turn, grown to fit; returns it.
    pub fn store(&mut self, len: usize) -> usize {
        let buf = self.outputs % 2;
        self.act[buf] = self.act[buf].max(len);
        self.outputs += 1;
        buf
    }

    /// A block's output of `len` elements (its scratch is planned from the room left beside it).
    pub fn store_block(&mut self, len: usize) {
        let buf = self.store(len);
        self.blocks.push((buf, len));
    }
}

/// The kernels' padding for the architecture's.
pub(crate) fn kernel_padding(p: mnv2_arch::Padding) -> Padding {
    match p {
        mnv2_arch::Padding::TensorFlowSame => Padding::Same,
        mnv2_arch::Padding::Symmetric => Padding::Symmetric,
    }
}

/// The stem's kernel shape.
pub(crate) fn conv_shape(c: &Conv, padding: Padding) -> ConvShape {
    ConvShape {
        in_h: c.input.h as usize,
        in_w: c.input.w as usize,
        in_c: c.input.c as usize,
        out_c: c.output.c as usize,
        kernel: c.kernel as usize,
        stride: c.stride as usize,
        padding,
    }
}

/// A bottleneck's depthwise kernel shape.
pub(crate) fn dw_shape(b: &Bottleneck, padding: Padding) -> DwShape {
    let (dw_in, _) = b.depthwise_shapes();
    DwShape {
        in_h: dw_in.h as usize,
        in_w: dw_in.w as usize,
        channels: dw_in.c as usize,
        stride: b.stride as usize,
        dilation: b.dilation as usize,
        padding,
    }
}

/// A layer whose weights are of another kind.
pub(crate) fn mismatch() -> EngineError {
    EngineError::Weights("layer and weights differ in kind".into())
}
