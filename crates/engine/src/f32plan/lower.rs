//! Lowering a model to the fp32 plan, layer by layer: weights dequantized and packed, the
//! buffers planned, SSDLite's tapped expansion split out of its block, and the head conv fused
//! with the global pool.

use super::*;
use crate::lower::{BufferPlan, conv_shape, dw_shape, kernel_padding, mismatch};
use mnv2_arch::Bottleneck;
use mnv2_kernels::Padding;

/// A conv's weights and bias in float32.
fn dequant_conv(w: &ConvWeights) -> Result<(Vec<f32>, Vec<f32>), EngineError> {
    Ok((w.weights.dequantize()?, w.bias.dequantize()?))
}

/// Packs a 1x1 conv (OHWI with H = W = 1, or O x I) as a GEMM right-hand side.
pub(super) fn pack_pointwise(w: &ConvWeights) -> Result<PackedB, EngineError> {
    let (weights, bias) = dequant_conv(w)?;
    let (o, i) = (w.weights.shape[0], *w.weights.shape.last().unwrap_or(&0));
    if weights.len() != o * i || bias.len() != o {
        return Err(EngineError::Weights(format!("pointwise weights {:?}", w.weights.shape)));
    }
    Ok(PackedB::new(i, o, |kk, j| weights[j * i + kk], &bias))
}

/// The state of a lowering: the steps and buffers so far, and SSDLite's tap.
struct Lowering {
    steps: Vec<Step>,
    buffers: BufferPlan,
    /// The bottleneck whose expansion SSDLite taps, and the tapped map's size.
    tap_block: Option<u32>,
    tap_len: usize,
    padding: Padding,
}

impl F32Engine {
    /// As [`F32Engine::new`] at the instruction-set level `isa` (or the best below it the CPU has).
    pub fn with_isa(model: &Model, threads: usize, isa: Isa) -> Result<F32Engine, EngineError> {
        model.validate()?;
        let ssd = model.ssdlite();
        let layers = match (&model.task, &ssd) {
            (Task::Detect(_), Some(ssd)) => ssd.backbone_layers(),
            (Task::Segment(_), _) => model.arch.features(),
            _ => model.arch.layers(),
        };
        let tap_block = ssd.map(|s| s.tap_block().index);
        let padding = kernel_padding(model.arch.padding);
        let mut l = Lowering { steps: Vec::new(), buffers: BufferPlan::new([0, 0]), tap_block, tap_len: 0, padding };
        for (layer, weights) in layers.iter().zip(&model.layers) {
            l.layer(layer, weights)?;
        }
        l.fuse_head_pool();
        let threads = Threads::new(threads)?;
        let blocks = l.steps.iter_mut().filter_map(|s| match s {
            Step::Block(b) => Some(b.as_mut()),
            _ => None,
        });
        let scratch = plan_scratch::<f32, _>(blocks, &l.buffers.blocks, l.buffers.act, threads.count());
        let mut output_len = model.arch.classes as usize;
        if let (Task::Segment(h), Some(d)) = (&model.task, model.deeplab()) {
            let head = deeplab_head(model, &d, h)?;
            output_len = head.pixels() * head.logits.n();
            l.steps.push(Step::DeepLab(Box::new(head)));
        }
        let mut head_scratch = deeplab_scratch(&l.steps);
        if let (Task::Detect(w), Some(ssd)) = (&model.task, &ssd) {
            let head = SsdHead::new(ssd, w, pack_pointwise)?;
            output_len = head.output_len();
            head_scratch = head.scratch();
            l.steps.push(Step::Ssd(Box::new(head)));
        }
        Ok(F32Engine {
            steps: std::sync::Arc::new(l.steps),
            input: model.arch.input(),
            classes: output_len,
            softmax: matches!(model.output, OutputKind::Softmax { .. }),
            act: l.buffers.act,
            scratch,
            head_scratch,
            tap_len: l.tap_len,
            isa: isa.or_scalar(),
            threads,
            serial: Threads::inline(),
        })
    }
}

impl Lowering {
    /// One backbone layer with its weights.
    fn layer(&mut self, layer: &Layer, weights: &LayerWeights) -> Result<(), EngineError> {
        let step = match (layer, weights) {
            (Layer::Stem(c), LayerWeights::Stem(w)) => {
                let (weights, bias) = dequant_conv(w)?;
                let shape = conv_shape(c, self.padding);
                self.buffers.store(c.output.len());
                Step::Stem { shape, w: PackedConv::from_ohwi(shape.out_c, shape.kernel, shape.in_c, &weights, &bias) }
            }
            (Layer::Bottleneck(b), LayerWeights::Bottleneck(bw)) => self.block(b, bw)?,
            (Layer::Head(c), LayerWeights::Head(w)) => {
                self.buffers.store(c.output.len());
                Step::Head { w: pack_pointwise(w)? }
            }
            (Layer::Pool { input, .. }, LayerWeights::Pool { .. }) => Step::Pool { channels: input.c as usize },
            (Layer::Classifier(_), LayerWeights::Classifier(w)) => Step::Classifier { w: pack_pointwise(w)? },
            _ => return Err(mismatch()),
        };
        self.steps.push(step);
        Ok(())
    }

    /// An inverted residual, fused; SSDLite's tapped block has its expansion as a step of its
    /// own (its output is a detection feature map).
    fn block(&mut self, b: &Bottleneck, bw: &crate::model::BlockWeights) -> Result<Step, EngineError> {
        let mut expand = bw.expand.as_ref().map(pack_pointwise).transpose()?;
        if Some(b.index) == self.tap_block
            && let Some(w) = expand.take()
        {
            self.tap_len = b.depthwise_shapes().0.len();
            self.buffers.store(self.tap_len);
            self.steps.push(Step::Tap { w });
        }
        self.buffers.store_block(b.output().len());
        let (w, bias) = dequant_conv(&bw.depthwise)?;
        let dw = DwLayer { shape: dw_shape(b, self.padding), w, bias, clamp: Clamp::RELU6 };
        Ok(Step::Block(Box::new(FusedBlock::new(expand, dw, pack_pointwise(&bw.project)?, b.residual.then_some(())))))
    }

    /// A head conv whose output is only pooled is pooled block by block as it is computed.
    fn fuse_head_pool(&mut self) {
        let steps = &mut self.steps;
        if let Some(i) = steps.windows(2).position(|w| matches!(w, [Step::Head { .. }, Step::Pool { .. }])) {
            steps.remove(i + 1);
            if let Step::Head { w } = steps.remove(i) {
                steps.insert(i, Step::HeadPool { w });
            }
        }
    }
}

/// Mobile DeepLabv3's head: image pooling and 1x1 branches, projection, logits, upsampling.
fn deeplab_head(
    model: &Model,
    d: &mnv2_arch::DeepLab,
    h: &crate::model::DeepLabWeights,
) -> Result<DeepLabHead, EngineError> {
    let f = d.features();
    let r = model.arch.resolution as usize;
    let logits = pack_pointwise(&h.logits)?;
    let sampling = Sampling { align_corners: h.align_corners, half_pixel_centers: h.half_pixel_centers };
    Ok(DeepLabHead {
        features: (f.h as usize, f.w as usize, f.c as usize),
        image_pool: pack_pointwise(&h.image_pool)?,
        aspp0: pack_pointwise(&h.aspp0)?,
        projection: pack_pointwise(&h.projection)?,
        upsample: UpsampleArgmax::new((f.h as usize, f.w as usize, logits.n()), (r, r), sampling),
        logits,
    })
}
