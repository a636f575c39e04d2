//! Lowering a quantized model to the integer plan, layer by layer: each layer's quantization
//! parameters derived from the one before it, its weights packed for the instruction-set level.

use super::quant::{Act, ActQ, act_q, conv_parts, pack_pointwise};
use super::*;
use crate::lower::{BufferPlan, conv_shape, dw_shape, kernel_padding, mismatch};
use mnv2_arch::{Bottleneck, Conv, Shape};
use mnv2_kernels::Padding;

/// The state of a lowering: the level, the activations' type, the quantization of the tensor
/// the next layer reads, and the buffers planned so far.
struct Lowering {
    isa: Isa,
    signed: bool,
    cur: ActQ,
    buffers: BufferPlan,
    /// The largest expanded tensor (the traced run's buffers) and the pooled channels.
    wide: usize,
    pooled: usize,
    padding: Padding,
}

impl Q8Engine {
    /// Compiles a quantized model for `threads` workers (0: all cores) at `isa` (or the best
    /// level below it the CPU has).
    pub fn with_isa(model: &Model, threads: usize, isa: Isa) -> Result<Q8Engine, EngineError> {
        model.validate()?;
        if !model.is_quantized() {
            return Err(EngineError::NotQuantized);
        }
        let signed = model.activations_signed();
        let cur = act_q(&model.input.quant, model.input.signed, "input")?;
        let buffers = BufferPlan::new([0, model.arch.input().len()]);
        let padding = kernel_padding(model.arch.padding);
        let mut l = Lowering { isa, signed, cur, buffers, wide: 0, pooled: 0, padding };
        let mut steps: Vec<QStep> = l.input(model)?.into_iter().collect();
        let layers = match model.task {
            Task::Classify => model.arch.layers(),
            Task::Segment(_) => model.arch.features(),
            Task::Detect(_) => return Err(EngineError::Unsupported("integer execution of a detector".into())),
        };
        for (i, (layer, weights)) in layers.iter().zip(&model.layers).enumerate() {
            steps.push(l.layer(layer, weights, &format!("layer {i}"))?);
        }
        let mut output_len = model.arch.classes as usize;
        if let Task::Segment(h) = &model.task {
            let head = l.deeplab(model, h)?;
            output_len = head.pixels() * head.logits.n();
            steps.push(QStep::DeepLab(Box::new(head)));
        }
        let (softmax, output_signed) = l.softmax(model)?;
        steps.extend(softmax);
        let threads = Threads::new(threads)?;
        let blocks = steps.iter_mut().filter_map(|s| match s {
            QStep::Block(b) => Some(b.as_mut()),
            _ => None,
        });
        let scratch = plan_scratch::<u8, _>(blocks, &l.buffers.blocks, l.buffers.act, threads.count());
        Ok(Q8Engine {
            steps: std::sync::Arc::new(steps),
            input_len: model.arch.input().len(),
            classes: output_len,
            act: l.buffers.act,
            scratch,
            wide: l.wide,
            pooled: l.pooled,
            output_signed,
            isa: isa.or_scalar(),
            threads,
            serial: Threads::inline(),
        })
    }
}

impl Lowering {
    /// The input QUANTIZE, where the model rescales its input bytes first (into the second buffer).
    fn input(&mut self, model: &Model) -> Result<Option<QStep>, EngineError> {
        let Some(rq) = &model.input.requantized else { return Ok(None) };
        let to = act_q(&Some(rq.clone()), self.signed, "input quantize")?;
        let (zp_in, requant) = (self.cur.zero_point, Requant::new(self.cur.scale as f64 / to.scale as f64));
        let stage = OutputStage::new(to.zero_point, to.scale, false);
        let table = Box::new(std::array::from_fn(|v| stage.finish(requant.apply(v as i32 - zp_in))));
        self.cur = to;
        Ok(Some(QStep::Requantize { table }))
    }

    /// One backbone layer with its weights.
    fn layer(&mut self, layer: &Layer, weights: &LayerWeights, what: &str) -> Result<QStep, EngineError> {
        match (layer, weights) {
            (Layer::Stem(c), LayerWeights::Stem(w)) => self.stem(c, w, what),
            (Layer::Bottleneck(b), LayerWeights::Bottleneck(bw)) => self.block(b, bw, what),
            (Layer::Head(c), LayerWeights::Head(w)) => {
                self.buffers.store(c.output.len());
                let (packed, q) = pack_pointwise(self.isa, w, self.cur, true, self.signed, what)?;
                self.cur = q;
                Ok(QStep::Head(packed))
            }
            (Layer::Pool { input, .. }, LayerWeights::Pool { kind, output }) => self.pool(input, *kind, output),
            (Layer::Classifier(_), LayerWeights::Classifier(w)) => {
                let (packed, q) = pack_pointwise(self.isa, w, self.cur, false, self.signed, "classifier")?;
                self.cur = q;
                Ok(QStep::Classifier(packed))
            }
            _ => Err(mismatch()),
        }
    }

    fn stem(&mut self, c: &Conv, w: &ConvWeights, what: &str) -> Result<QStep, EngineError> {
        let p = conv_parts(w, c.output.c as usize, self.cur, true, self.signed, what)?;
        self.buffers.store(c.output.len());
        let layer = QConvLayer::new(
            self.isa,
            conv_shape(c, self.padding),
            &p.w,
            p.bias,
            self.cur.zero_point,
            p.requant,
            p.stage,
        );
        self.cur = p.output;
        Ok(QStep::Stem(layer))
    }

    /// An inverted residual: expansion, depthwise, projection and the residual add, fused.
    fn block(&mut self, b: &Bottleneck, bw: &BlockWeights, what: &str) -> Result<QStep, EngineError> {
        let (isa, signed, x) = (self.isa, self.signed, self.cur);
        let (dw_in, dw_out) = b.depthwise_shapes();
        self.buffers.store_block(b.output().len());
        self.wide = self.wide.max(dw_out.len()).max(if b.has_expand() { dw_in.len() } else { 0 });
        let expand = match &bw.expand {
            Some(e) => {
                let (packed, q) = pack_pointwise(isa, e, self.cur, true, signed, &format!("{what} expand"))?;
                self.cur = q;
                Some(packed)
            }
            None => None,
        };
        let p = conv_parts(&bw.depthwise, b.hidden as usize, self.cur, true, signed, &format!("{what} depthwise"))?;
        let requant = RequantVec::new(&p.requant);
        let dw = QDwLayer::new(isa, dw_shape(b, self.padding), p.w, p.bias, self.cur.zero_point, requant, p.stage);
        let (project, y) = pack_pointwise(isa, &bw.project, p.output, false, signed, &format!("{what} project"))?;
        self.cur = y;
        let add = if b.residual {
            let out = act_q(&bw.add_output, signed, &format!("{what} add"))?;
            self.cur = out;
            let stage = OutputStage::new(out.zero_point, out.scale, false);
            Some(QAdd::new(x.scale, x.zero_point, y.scale, y.zero_point, out.scale, stage))
        } else {
            None
        };
        Ok(QStep::Block(Box::new(FusedBlock::new(expand, dw, project, add))))
    }

    /// The global pool: TFLite's AVERAGE_POOL_2D (same quantization in and out) or MEAN.
    fn pool(&mut self, input: &Shape, kind: PoolKind, output: &Option<Quant>) -> Result<QStep, EngineError> {
        let (channels, signed, cur) = (input.c as usize, self.signed, self.cur);
        self.pooled = channels;
        let out = act_q(output, signed, "pool")?;
        let step = match kind {
            PoolKind::Average if out != cur => {
                return Err(EngineError::Weights("average pool changes quantization".into()));
            }
            PoolKind::Average => QStep::AvgPool { channels, signed },
            PoolKind::Mean => {
                // Zero points in the tensors' own type.
                let own = |zp: i32| if signed { zp - 128 } else { zp };
                let count = (input.h * input.w) as usize;
                let p = MeanParams::new(cur.scale, own(cur.zero_point), out.scale, own(out.zero_point), count, signed);
                QStep::Mean(QMean::new(p, channels))
            }
        };
        self.cur = out;
        Ok(step)
    }

    /// Mobile DeepLabv3's head: image pooling and 1x1 branches, projection, logits, upsampling.
    fn deeplab(&mut self, model: &Model, h: &crate::model::DeepLabWeights) -> Result<QDeepLabHead, EngineError> {
        let d = model.deeplab().ok_or_else(|| EngineError::Weights("a segmentation head on no DeepLab".into()))?;
        let (isa, signed, cur) = (self.isa, self.signed, self.cur);
        let f = d.features();
        if act_q(&h.pooled, signed, "image pooling")? != cur {
            return Err(EngineError::Weights("image pooling changes quantization".into()));
        }
        let (image_pool, ip_q) = pack_pointwise(isa, &h.image_pool, cur, Act::Relu, signed, "image pooling conv")?;
        let concat_q = act_q(&h.image_pool_resized, signed, "image pooling branch")?;
        let pool_requant = (concat_q != ip_q).then(|| {
            let requant = Requant::new(ip_q.scale as f64 / concat_q.scale as f64);
            (ip_q.zero_point, requant, OutputStage::new(concat_q.zero_point, concat_q.scale, false))
        });
        let (aspp0, aspp_q) = pack_pointwise(isa, &h.aspp0, cur, Act::Relu, signed, "aspp 1x1")?;
        if aspp_q != concat_q {
            return Err(EngineError::Weights("the concatenated branches are quantized differently".into()));
        }
        let (projection, proj_q) = pack_pointwise(isa, &h.projection, concat_q, Act::Relu, signed, "projection")?;
        let (logits, _) = pack_pointwise(isa, &h.logits, proj_q, Act::None, signed, "logits")?;
        let r = model.arch.resolution as usize;
        let (fh, fw, classes) = (f.h as usize, f.w as usize, logits.n());
        let sampling = Sampling { align_corners: h.align_corners, half_pixel_centers: h.half_pixel_centers };
        Ok(QDeepLabHead {
            features: (fh, fw, f.c as usize),
            signed,
            image_pool,
            pool_requant,
            aspp0,
            projection,
            logits,
            upsample: UpsampleArgmax::new((fh, fw, classes), (r, r), sampling),
        })
    }

    /// The 8-bit softmax where the model ends in one, and whether the output bytes are int8.
    /// It writes probabilities at scale 1/256 with the type's lowest zero point; a final QUANTIZE
    /// to uint8 with the same scale is then the identity here.
    fn softmax(&self, model: &Model) -> Result<(Option<QStep>, bool), EngineError> {
        let OutputKind::Softmax { quant, requantized } = &model.output else { return Ok((None, self.signed)) };
        let q = act_q(quant, self.signed, "softmax")?;
        if q.scale != 1.0 / 256.0 || q.zero_point != 0 {
            return Err(EngineError::Weights("softmax output quantization is not 1/256 from zero".into()));
        }
        let step = Some(QStep::Softmax(QSoftmax::new(self.cur.scale, 1.0)));
        let Some(r) = requantized else { return Ok((step, self.signed)) };
        if act_q(&Some(r.clone()), false, "output quantize")? != q {
            return Err(EngineError::Weights("final QUANTIZE rescales the probabilities".into()));
        }
        Ok((step, false))
    }
}
