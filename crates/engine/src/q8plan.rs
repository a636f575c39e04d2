//! The integer plan: the quantized models run exactly as TFLite's integer kernels define them.
//! Activations live in u8 whatever the model's type (see `mnv2_kernels::q8`), weights are
//! prepacked once with their zero points removed, the arena is fixed per batch size.

use mnv2_arch::Layer;
use mnv2_kernels::Isa;
use mnv2_kernels::aligned::AlignedVec;
use mnv2_kernels::conv::ConvShape;
use mnv2_kernels::dwconv::DwShape;
use mnv2_kernels::q8::add::{QAdd, qadd_in_place};
use mnv2_kernels::q8::conv::{QConvLayer, qconv2d};
use mnv2_kernels::q8::dwconv::{QDwLayer, qdwconv3x3};
use mnv2_kernels::q8::gemm::{MR, QPackedB, qgemm, qgemm_columns};
use mnv2_kernels::q8::pool::{MeanParams, QMean, qavgpool_global, qmean_global_vec};
use mnv2_kernels::q8::requant_vec::RequantVec;
use mnv2_kernels::q8::softmax::QSoftmax;
use mnv2_kernels::q8::table::map_bytes;
use mnv2_kernels::q8::{OutputStage, Requant, Rounding};
use mnv2_kernels::upsample::{Sampling, UpsampleArgmax};

use crate::bands::{self, Banded, plan_scratch};
use crate::model::{ConvWeights, LayerWeights, Model, OutputKind, PoolKind, Quant, Task, Tensor, TensorData};
use crate::q8fused::QFusedBlock;
use crate::{EngineError, Threads};
use std::sync::Mutex;

/// An activation's quantization in the u8 representation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ActQ {
    scale: f32,
    zero_point: i32,
}

fn act_q(q: &Option<Quant>, signed: bool, what: &str) -> Result<ActQ, EngineError> {
    let q = q.as_ref().ok_or_else(|| EngineError::Weights(format!("{what}: activation without quantization")))?;
    if q.scale.len() != 1 || q.zero_point.len() != 1 || !(q.scale[0] > 0.0 && q.scale[0].is_finite()) {
        return Err(EngineError::Weights(format!("{what}: activations must be quantized per tensor")));
    }
    let zp = q.zero_point[0] + if signed { 128 } else { 0 };
    if !(0..=255).contains(&zp) {
        return Err(EngineError::Weights(format!("{what}: zero point {} out of range", q.zero_point[0])));
    }
    Ok(ActQ { scale: q.scale[0], zero_point: zp as i32 })
}

/// Weights with their zero point removed, and the scale of each of `channels` output channels
/// (channel `c` of element `i` is `(i / inner) % channels` along the quantized axis).
fn weights_i16(t: &Tensor, channels: usize, what: &str) -> Result<(Vec<i16>, Vec<f32>), EngineError> {
    let q = t.quant.as_ref().ok_or_else(|| EngineError::Weights(format!("{what}: weights without quantization")))?;
    let per_channel = q.scale.len() > 1;
    if q.scale.len() != q.zero_point.len() || (per_channel && q.scale.len() != channels) {
        return Err(EngineError::Weights(format!("{what}: {} scales for {channels} channels", q.scale.len())));
    }
    let inner: usize = t.shape.iter().skip(q.axis + 1).product();
    let channel = |i: usize| {
        if per_channel { (i / inner.max(1)) % channels } else { 0 }
    };
    let values: Vec<i64> = match &t.data {
        TensorData::U8(v) => v.iter().map(|&x| x as i64).collect(),
        TensorData::I8(v) => v.iter().map(|&x| x as i64).collect(),
        _ => {
            return Err(EngineError::Weights(format!("{what}: weights are not 8-bit")));
        }
    };
    let w = values.iter().enumerate().map(|(i, &x)| (x - q.zero_point[channel(i)]) as i16).collect();
    let scales = if per_channel { q.scale.clone() } else { vec![q.scale[0]; channels] };
    Ok((w, scales))
}

fn bias_i32(t: &Tensor, n: usize, what: &str) -> Result<Vec<i32>, EngineError> {
    match &t.data {
        TensorData::I32(v) if v.len() == n => Ok(v.clone()),
        TensorData::F32(v) if v.len() == n && v.iter().all(|&x| x == 0.0) => Ok(vec![0; n]),
        _ => Err(EngineError::Weights(format!("{what}: bias is not int32 with {n} values"))),
    }
}

/// The real multiplier `input_scale * weight_scale / output_scale` as TFLite computes it: for
/// uint8 models through `GetQuantizedConvolutionMultipler`, whose product of the two scales is
/// taken in float32 before the division in double; for int8 (per-channel) models all in double.
/// The difference is visible: layer 28 of `mobilenet_v2_1.0_224_quant` on the grey fox has an
/// accumulator of 13327 that becomes 157 with the float product (as TFLite) and 158 without.
fn conv_multiplier(input_scale: f32, weight_scale: f32, output_scale: f32, signed: bool) -> f64 {
    let product = if signed { input_scale as f64 * weight_scale as f64 } else { (input_scale * weight_scale) as f64 };
    product / output_scale as f64
}

/// The final rounding of TFLite's kernels: uint8 (per-tensor) kernels round ties away from zero,
/// the int8 per-channel ones toward +infinity. Found against the reference: `rounding_half_up`
/// in the int8 layer test fails on layer 3 of `tf2_mobilenet_v2_1.0_224_ptq` with the other.
fn rounding_for(signed: bool) -> Rounding {
    if signed { Rounding::HalfUp } else { Rounding::AwayFromZero }
}

/// Weights, bias, per-channel requantization and output stage of a conv-like layer.
struct QConvParts {
    w: Vec<i16>,
    bias: Vec<i32>,
    requant: Vec<Requant>,
    stage: OutputStage,
    output: ActQ,
}

/// The activation fused into a conv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    None,
    Relu,
    Relu6,
}

impl From<bool> for Act {
    /// `true`: ReLU6 (the backbone's activation), `false`: none.
    fn from(relu6: bool) -> Act {
        if relu6 { Act::Relu6 } else { Act::None }
    }
}

fn stage_for(output: ActQ, act: Act) -> OutputStage {
    match act {
        Act::Relu => OutputStage { zero_point: output.zero_point, min: output.zero_point.max(0), max: 255 },
        _ => OutputStage::new(output.zero_point, output.scale, act == Act::Relu6),
    }
}

fn conv_parts(
    cw: &ConvWeights,
    n: usize,
    input: ActQ,
    act: impl Into<Act>,
    signed: bool,
    what: &str,
) -> Result<QConvParts, EngineError> {
    let (w, scales) = weights_i16(&cw.weights, n, what)?;
    let bias = bias_i32(&cw.bias, n, what)?;
    let output = act_q(&cw.output, signed, what)?;
    let rounding = rounding_for(signed);
    let requant = scales
        .iter()
        .map(|&s| Requant::with_rounding(conv_multiplier(input.scale, s, output.scale, signed), rounding))
        .collect();
    let stage = stage_for(output, act.into());
    Ok(QConvParts { w, bias, requant, stage, output })
}

fn pack_pointwise(
    isa: Isa,
    cw: &ConvWeights,
    input: ActQ,
    act: impl Into<Act>,
    signed: bool,
    what: &str,
) -> Result<(QPackedB, ActQ), EngineError> {
    let n = cw.weights.shape[0];
    let k = *cw.weights.shape.last().unwrap_or(&0);
    let p = conv_parts(cw, n, input, act, signed, what)?;
    let w = &p.w;
    let packed = QPackedB::new(isa, k, n, |kk, j| w[j * k + kk], &p.bias, input.zero_point, p.requant, p.stage);
    Ok((packed, p.output))
}

enum QStep {
    /// The input QUANTIZE (u8 to the model's input scale), one table entry per input byte.
    Requantize {
        table: Box<[u8; 256]>,
    },
    Stem(QConvLayer),
    Block(Box<QFusedBlock>),
    Head(QPackedB),
    AvgPool {
        channels: usize,
        signed: bool,
    },
    Mean(QMean),
    Classifier(QPackedB),
    Softmax(QSoftmax),
    DeepLab(Box<QDeepLabHead>),
}

impl QStep {
    /// What the step is, for profiles (`block` counts the bottlenecks from 1).
    fn describe(&self, block: usize) -> String {
        match self {
            QStep::Requantize { .. } => "quantize input".into(),
            QStep::Stem(l) => format!("stem conv 3x3 -> {}", l.shape.out_c),
            QStep::Block(b) => {
                let (_, oh, _, ow) = b.dw.shape.geometry();
                format!(
                    "block {block}: {}x{}x{} -> {oh}x{ow}x{}",
                    b.dw.shape.in_h,
                    b.dw.shape.in_w,
                    b.dw.shape.channels,
                    b.project.n()
                )
            }
            QStep::Head(w) => format!("head conv 1x1 -> {}", w.n()),
            QStep::AvgPool { .. } | QStep::Mean(_) => "global pool".into(),
            QStep::Classifier(w) => format!("classifier -> {}", w.n()),
            QStep::Softmax(_) => "softmax".into(),
            QStep::DeepLab(_) => "DeepLab head (ASPP, projection, logits)".into(),
        }
    }
}

/// Mobile DeepLabv3's head in integer arithmetic.
struct QDeepLabHead {
    /// Feature map (height, width, channels).
    features: (usize, usize, usize),
    signed: bool,
    image_pool: QPackedB,
    /// The QUANTIZE of the broadcast image-pool branch to the concatenation's scale.
    pool_requant: Option<(i32, Requant, OutputStage)>,
    aspp0: QPackedB,
    projection: QPackedB,
    logits: QPackedB,
    output: (usize, usize),
    upsample: UpsampleArgmax,
}

impl QDeepLabHead {
    fn pixels(&self) -> usize {
        self.features.0 * self.features.1
    }
    /// Bytes of head scratch per image: pooled features, pooled branch, concatenation, projection.
    fn scratch(&self) -> usize {
        let a = self.aspp0.n();
        self.features.2 + a + self.pixels() * 3 * a
    }
}

/// A callback receiving each operator's output tensor.
pub type Tracer<'a> = dyn FnMut(TraceOp, &[u8]) + 'a;

/// What a traced tensor is, in execution order (the order of TFLite's operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceOp {
    Quantize,
    Conv,
    Depthwise,
    Add,
    Pool,
    Classifier,
    Softmax,
}

/// A quantized model compiled for integer execution.
pub struct Q8Engine {
    steps: Vec<QStep>,
    input_len: usize,
    classes: usize,
    /// Per image: the two activation buffers layer outputs alternate between, one worker's block
    /// scratch, and (for the layer-by-layer traced run only) the largest expanded tensor.
    act: [usize; 2],
    scratch: usize,
    wide: usize,
    pooled: usize,
    /// The final tensor is int8 (its bytes are stored +128 here).
    output_signed: bool,
    isa: Isa,
    threads: Threads,
    /// No workers: what each worker runs a whole image of a batch with.
    serial: Threads,
}

/// The buffers one run of the steps uses (a whole session's, or one lane's for one image).
struct Buffers<'a> {
    act: [&'a mut [u8]; 2],
    scratch: &'a [Mutex<AlignedVec<u8>>],
    pooled: &'a mut [u8],
    logits: &'a mut [u8],
    head: &'a mut [u8],
}

/// Maps of at most this many rows run block by block as whole tensors on several workers (as in
/// the fp32 plan: measured faster there for 7x7 maps, slower for 14x14).
const WHOLE_BLOCK_ROWS: usize = 7;

/// Reusable activation memory for one batch size.
pub struct Q8Session {
    /// Segmentation only: head scratch, and the class scores before upsampling.
    head: AlignedVec<u8>,
    scores: Vec<u8>,
    batch: usize,
    /// The two activation buffers of each lane: one image each, one lane per worker (as many as
    /// the batch needs), so a batch's arena grows with the threads, not the images.
    act: [AlignedVec<u8>; 2],
    lanes: usize,
    scratch: Vec<Mutex<AlignedVec<u8>>>,
    pooled: Vec<u8>,
    logits: Vec<u8>,
}

impl Q8Session {
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Bytes of activation memory this session holds.
    pub fn arena_bytes(&self) -> usize {
        self.act.iter().map(|b| b.len()).sum::<usize>()
            + self.scratch.iter().map(|m| m.lock().map_or(0, |v| v.len())).sum::<usize>()
            + self.pooled.len()
            + self.logits.len()
            + self.head.len()
            + self.scores.len()
    }
}

impl Q8Engine {
    /// Compiles a quantized model for `threads` workers (0: all cores).
    pub fn new(model: &Model, threads: usize) -> Result<Q8Engine, EngineError> {
        Self::with_isa(model, threads, Isa::detect())
    }

    pub fn with_isa(model: &Model, threads: usize, isa: Isa) -> Result<Q8Engine, EngineError> {
        model.validate()?;
        if !model.is_quantized() {
            return Err(EngineError::NotQuantized);
        }
        let signed = model.activations_signed();
        let input_q = act_q(&model.input.quant, model.input.signed, "input")?;
        let mut steps = Vec::new();
        let mut cur = input_q;
        if let Some(rq) = &model.input.requantized {
            let to = act_q(&Some(rq.clone()), signed, "input quantize")?;
            let (zp_in, requant) = (cur.zero_point, Requant::new(cur.scale as f64 / to.scale as f64));
            let stage = OutputStage::new(to.zero_point, to.scale, false);
            let table = Box::new(std::array::from_fn(|v| stage.finish(requant.apply(v as i32 - zp_in))));
            steps.push(QStep::Requantize { table });
            cur = to;
        }
        // Layer outputs alternate between two buffers (even ones in the first); the second also
        // holds the requantized input.
        let mut act = [0usize, model.arch.input().len()];
        let mut outputs = 0usize;
        let mut store = |len: usize| {
            act[outputs % 2] = act[outputs % 2].max(len);
            outputs += 1;
            (outputs - 1) % 2
        };
        // Each block's output buffer and output length, for its scratch plan.
        let mut block_outputs = Vec::new();
        let (mut wide, mut pooled) = (0usize, 0usize);
        let layers = match model.task {
            Task::Classify => model.arch.layers(),
            Task::Segment(_) => model.arch.features(),
            Task::Detect(_) => return Err(EngineError::Unsupported("integer execution of a detector".into())),
        };
        for (i, (layer, weights)) in layers.iter().zip(&model.layers).enumerate() {
            let what = format!("layer {i}");
            let step = match (layer, weights) {
                (Layer::Stem(c), LayerWeights::Stem(w)) => {
                    let n = c.output.c as usize;
                    let p = conv_parts(w, n, cur, true, signed, &what)?;
                    let shape = ConvShape {
                        in_h: c.input.h as usize,
                        in_w: c.input.w as usize,
                        in_c: c.input.c as usize,
                        out_c: n,
                        kernel: c.kernel as usize,
                        stride: c.stride as usize,
                    };
                    store(c.output.len());
                    let layer = QConvLayer::new(isa, shape, &p.w, p.bias, cur.zero_point, p.requant, p.stage);
                    cur = p.output;
                    QStep::Stem(layer)
                }
                (Layer::Bottleneck(b), LayerWeights::Bottleneck(bw)) => {
                    let x = cur;
                    let (dw_in, dw_out) = b.depthwise_shapes();
                    block_outputs.push((store(b.output().len()), b.output().len()));
                    wide = wide.max(dw_out.len()).max(if b.has_expand() { dw_in.len() } else { 0 });
                    let expand = match &bw.expand {
                        Some(e) => {
                            let (packed, q) = pack_pointwise(isa, e, cur, true, signed, &format!("{what} expand"))?;
                            cur = q;
                            Some(packed)
                        }
                        None => None,
                    };
                    let p =
                        conv_parts(&bw.depthwise, b.hidden as usize, cur, true, signed, &format!("{what} depthwise"))?;
                    let shape = DwShape {
                        in_h: dw_in.h as usize,
                        in_w: dw_in.w as usize,
                        channels: dw_in.c as usize,
                        stride: b.stride as usize,
                        dilation: b.dilation as usize,
                    };
                    let dw =
                        QDwLayer::new(isa, shape, p.w, p.bias, cur.zero_point, RequantVec::new(&p.requant), p.stage);
                    cur = p.output;
                    let (project, y) =
                        pack_pointwise(isa, &bw.project, cur, false, signed, &format!("{what} project"))?;
                    cur = y;
                    let add = if b.residual {
                        let out = act_q(&bw.add_output, signed, &format!("{what} add"))?;
                        cur = out;
                        let stage = OutputStage::new(out.zero_point, out.scale, false);
                        Some(QAdd::new(x.scale, x.zero_point, y.scale, y.zero_point, out.scale, stage))
                    } else {
                        None
                    };
                    QStep::Block(Box::new(QFusedBlock::new(expand, dw, project, add)))
                }
                (Layer::Head(c), LayerWeights::Head(w)) => {
                    store(c.output.len());
                    let (packed, q) = pack_pointwise(isa, w, cur, true, signed, &what)?;
                    cur = q;
                    QStep::Head(packed)
                }
                (Layer::Pool { input, .. }, LayerWeights::Pool { kind, output }) => {
                    let channels = input.c as usize;
                    pooled = channels;
                    let out = act_q(output, signed, "pool")?;
                    let step = match kind {
                        PoolKind::Average => {
                            if out != cur {
                                return Err(EngineError::Weights("average pool changes quantization".into()));
                            }
                            QStep::AvgPool { channels, signed }
                        }
                        PoolKind::Mean => {
                            // Zero points in the tensors' own type.
                            let own = |zp: i32| if signed { zp - 128 } else { zp };
                            let count = (input.h * input.w) as usize;
                            let params = MeanParams::new(
                                cur.scale,
                                own(cur.zero_point),
                                out.scale,
                                own(out.zero_point),
                                count,
                                signed,
                            );
                            QStep::Mean(QMean::new(params, channels))
                        }
                    };
                    cur = out;
                    step
                }
                (Layer::Classifier(_), LayerWeights::Classifier(w)) => {
                    let (packed, q) = pack_pointwise(isa, w, cur, false, signed, "classifier")?;
                    cur = q;
                    QStep::Classifier(packed)
                }
                _ => {
                    return Err(EngineError::Weights("layer and weights differ in kind".into()));
                }
            };
            steps.push(step);
        }
        let mut output_signed = signed;
        let mut output_len = model.arch.classes as usize;
        if let (Task::Segment(h), Some(d)) = (&model.task, model.deeplab()) {
            let f = d.features();
            let pooled_q = act_q(&h.pooled, signed, "image pooling")?;
            if pooled_q != cur {
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
            let head = QDeepLabHead {
                features: (f.h as usize, f.w as usize, f.c as usize),
                signed,
                image_pool,
                pool_requant,
                aspp0,
                projection,
                logits,
                output: (r, r),
                upsample: UpsampleArgmax::new(
                    (fh, fw, classes),
                    (r, r),
                    Sampling { align_corners: h.align_corners, half_pixel_centers: h.half_pixel_centers },
                ),
            };
            output_len = head.pixels() * head.logits.n();
            steps.push(QStep::DeepLab(Box::new(head)));
        }
        if let OutputKind::Softmax { quant, requantized } = &model.output {
            // The 8-bit softmax writes probabilities at scale 1/256 with the type's lowest zero
            // point; a final QUANTIZE to uint8 with the same scale is then the identity here.
            let q = act_q(quant, signed, "softmax")?;
            if q.scale != 1.0 / 256.0 || q.zero_point != 0 {
                return Err(EngineError::Weights("softmax output quantization is not 1/256 from zero".into()));
            }
            steps.push(QStep::Softmax(QSoftmax::new(cur.scale, 1.0)));
            if let Some(r) = requantized {
                let rq = act_q(&Some(r.clone()), false, "output quantize")?;
                if rq != q {
                    return Err(EngineError::Weights("final QUANTIZE rescales the probabilities".into()));
                }
                output_signed = false;
            }
        }
        let threads = Threads::new(threads)?;
        let blocks = steps.iter_mut().filter_map(|s| match s {
            QStep::Block(b) => Some(b.as_mut()),
            _ => None,
        });
        let scratch = plan_scratch::<u8, _>(blocks, &block_outputs, act, threads.count());
        Ok(Q8Engine {
            steps,
            input_len: model.arch.input().len(),
            classes: output_len,
            act,
            scratch,
            wide,
            pooled,
            output_signed,
            isa: isa.or_scalar(),
            threads,
            serial: Threads::inline(),
        })
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }
    /// Output bytes per image (for segmentation, the class scores of every feature-map pixel).
    pub fn output_len(&self) -> usize {
        self.classes
    }

    fn deeplab(&self) -> Option<&QDeepLabHead> {
        self.steps.iter().find_map(|s| match s {
            QStep::DeepLab(h) => Some(h.as_ref()),
            _ => None,
        })
    }

    /// For segmentation models: the (height, width) of the class map [`Q8Engine::run_segment`] writes.
    pub fn class_map_size(&self) -> Option<(usize, usize)> {
        self.deeplab().map(|h| h.output)
    }

    /// Runs a segmentation model and writes each image's class map (argmax of the upsampled
    /// scores, as TFLite's RESIZE_BILINEAR and ARG_MAX compute it), batch x height x width bytes.
    pub fn run_segment(&self, session: &mut Q8Session, input: &[u8], classes: &mut [u8]) -> Result<(), EngineError> {
        let head = self.deeplab().ok_or(EngineError::NotSegmentation)?;
        let mut scores = std::mem::take(&mut session.scores);
        let result = self.run(session, input, &mut scores);
        if result.is_ok() {
            let (oh, ow) = head.output;
            assert_eq!(classes.len(), session.batch * oh * ow, "class map buffer size");
            crate::class_maps(&self.threads, &head.upsample, &scores, classes);
        }
        session.scores = scores;
        result
    }

    /// The DeepLab head on one image's feature map; `scores` gets pixels x classes.
    fn deeplab_head(&self, th: &Threads, h: &QDeepLabHead, features: &[u8], scratch: &mut [u8], scores: &mut [u8]) {
        let (_, _, c) = h.features;
        let (px, a) = (h.pixels(), h.aspp0.n());
        let (pooled, rest) = scratch.split_at_mut(c);
        let (pool_branch, rest) = rest.split_at_mut(a);
        let (concat, rest) = rest.split_at_mut(px * 2 * a);
        let projected = &mut rest[..px * a];
        qavgpool_global(features, c, h.signed, pooled);
        qgemm(self.isa, pooled, &h.image_pool, pool_branch);
        // Resizing a 1x1 map is a broadcast; the QUANTIZE after it acts value by value.
        if let Some((zp, requant, stage)) = &h.pool_requant {
            for v in pool_branch.iter_mut() {
                *v = stage.finish(requant.apply(*v as i32 - zp));
            }
        }
        self.pointwise(th, features, &h.aspp0, projected);
        for (dst, branch) in concat.chunks_exact_mut(2 * a).zip(projected.chunks_exact(a)) {
            dst[..a].copy_from_slice(pool_branch);
            dst[a..].copy_from_slice(branch);
        }
        self.pointwise(th, concat, &h.projection, projected);
        self.pointwise(th, projected, &h.logits, scores);
    }
    /// Whether the output bytes stand for int8 values (stored +128).
    pub fn output_signed(&self) -> bool {
        self.output_signed
    }

    pub fn session(&self, batch: usize) -> Result<Q8Session, EngineError> {
        if batch == 0 {
            return Err(EngineError::EmptyBatch);
        }
        let head = self.deeplab().map_or(0, QDeepLabHead::scratch);
        let lanes = self.threads.count().min(batch);
        // Checked before anything is allocated: the session's buffers and the caller's input and
        // output, in bytes.
        crate::check_session_memory(
            batch,
            1,
            &[
                (lanes, self.act[0] + self.act[1]),
                (batch, self.pooled + 2 * self.classes + head + self.input_len),
                (self.threads.count(), self.scratch),
            ],
        )?;
        Ok(Q8Session {
            batch,
            act: [AlignedVec::zeroed(lanes * self.act[0]), AlignedVec::zeroed(lanes * self.act[1])],
            lanes,
            scratch: (0..self.threads.count()).map(|_| Mutex::new(AlignedVec::zeroed(self.scratch))).collect(),
            pooled: vec![0; batch * self.pooled],
            logits: vec![0; if self.deeplab().is_some() { 0 } else { batch * self.classes }],
            head: AlignedVec::zeroed(batch * self.deeplab().map_or(0, QDeepLabHead::scratch)),
            scores: vec![0; if self.deeplab().is_some() { batch * self.classes } else { 0 }],
        })
    }

    /// Runs a batch of input bytes (batch x H x W x 3, the model's input tensor with int8 stored
    /// +128, which for image models is simply the pixel bytes); `output` gets batch x classes bytes.
    pub fn run(&self, session: &mut Q8Session, input: &[u8], output: &mut [u8]) -> Result<(), EngineError> {
        self.check_sizes(session, input, output)?;
        let batch = session.batch;
        let Q8Session { act: [a, b], scratch, pooled, logits, head, lanes, .. } = session;
        if batch == 1 {
            // The calling thread runs the steps and takes part in each one's parallel loop.
            let bufs = Buffers { act: [a, b], scratch, pooled, logits, head };
            return self.execute(&self.threads, bufs, input, output, None);
        }
        // Whole images per worker: no synchronisation inside an image, so batches scale with the
        // threads (each image's arithmetic is the same as alone, so its bytes are too). Each
        // image runs in its worker's lane of activation buffers.
        let lane_bufs: Vec<_> =
            crate::per_image(a, *lanes).into_iter().zip(crate::per_image(b, *lanes)).map(Mutex::new).collect();
        let jobs: Vec<_> = crate::per_image(pooled, batch)
            .into_iter()
            .zip(crate::per_image(logits, batch))
            .zip(crate::per_image(head, batch))
            .zip(input.chunks(self.input_len))
            .zip(output.chunks_mut(self.classes))
            .collect();
        let results = self.threads.map(jobs, |((((pooled, logits), head), x), o)| {
            let lane = Threads::worker_index() % lane_bufs.len();
            let mut lane = lane_bufs[lane].lock().unwrap_or_else(|e| e.into_inner());
            let (a, b) = &mut *lane;
            self.execute(&self.serial, Buffers { act: [a, b], scratch, pooled, logits, head }, x, o, None)
        });
        results.into_iter().collect()
    }

    /// As [`Q8Engine::run`] for a batch of one image, calling `trace` with every operator's
    /// output tensor in TFLite's operator order. Blocks then run layer by layer through
    /// full-size expanded tensors (allocated for the call), where [`Q8Engine::run`] runs them
    /// band by band; the bytes are the same.
    pub fn run_traced(
        &self,
        session: &mut Q8Session,
        input: &[u8],
        output: &mut [u8],
        trace: &mut Tracer<'_>,
    ) -> Result<(), EngineError> {
        self.check_sizes(session, input, output)?;
        if session.batch != 1 {
            return Err(EngineError::Unsupported("a traced run of more than one image".into()));
        }
        let Q8Session { act: [a, b], scratch, pooled, logits, head, .. } = session;
        let bufs = Buffers { act: [a, b], scratch, pooled, logits, head };
        self.execute(&self.threads, bufs, input, output, Some(trace))
    }

    /// Refuses an input or output buffer of the wrong size for the session's batch.
    fn check_sizes(&self, session: &Q8Session, input: &[u8], output: &[u8]) -> Result<(), EngineError> {
        let batch = session.batch;
        if input.len() != batch * self.input_len {
            let side = ((self.input_len / 3) as f64).sqrt() as u32;
            return Err(EngineError::InputSize {
                found: input.len(),
                expected: batch * self.input_len,
                batch,
                h: side,
                w: side,
                c: 3,
            });
        }
        assert_eq!(output.len(), batch * self.classes, "output buffer size");
        Ok(())
    }

    /// The steps over one image in `bufs` with `th`'s workers.
    fn execute(
        &self,
        th: &Threads,
        bufs: Buffers<'_>,
        input: &[u8],
        output: &mut [u8],
        mut tracer: Option<&mut Tracer<'_>>,
    ) -> Result<(), EngineError> {
        let layerwise = tracer.is_some();
        let mut trace = |op: TraceOp, t: &[u8]| {
            if let Some(f) = tracer.as_mut() {
                f(op, t)
            }
        };
        let Buffers { act: [a, b], scratch, pooled, logits, head } = bufs;
        // `next` receives each layer's output, then the two swap; the requantized input goes to `cur`.
        let (mut cur, mut next) = (b, a);
        let (mut e0, mut e1) =
            if layerwise { (vec![0u8; self.wide], vec![0u8; self.wide]) } else { (Vec::new(), Vec::new()) };
        let mut cur_len = input.len();
        let mut quantized_input = false;
        let mut softmaxed = false;
        for (index, step) in self.steps.iter().enumerate() {
            let _timed = crate::profile::scope(|| {
                step.describe(self.steps[..index].iter().filter(|s| matches!(s, QStep::Block(_))).count() + 1)
            });
            match step {
                QStep::Requantize { table } => {
                    map_bytes(self.isa, table, &input[..cur_len], &mut cur[..cur_len]);
                    quantized_input = true;
                    trace(TraceOp::Quantize, &cur[..cur_len]);
                }
                QStep::Stem(layer) => {
                    let src: &[u8] = if quantized_input { &cur[..cur_len] } else { input };
                    let len = layer.shape.out_len();
                    self.stem(th, layer, src, &mut next[..len]);
                    std::mem::swap(&mut cur, &mut next);
                    cur_len = len;
                    trace(TraceOp::Conv, &cur[..cur_len]);
                }
                QStep::Block(block) if !layerwise => {
                    let (_, oh, _, ow) = block.dw.shape.geometry();
                    let out_row = ow * block.project.n();
                    let (x, (y, tail)) = (&cur[..cur_len], next.split_at_mut(oh * out_row));
                    // Small maps on several workers: the whole expansion first (see run_whole).
                    if th.count() > 1 && oh <= WHOLE_BLOCK_ROWS && block.whole_len(th.count()) <= tail.len() {
                        block.run_whole(th, self.isa, x, y, tail);
                    } else {
                        let need = (block.scratch_len(), scratch);
                        bands::run_rows(th, y, (oh, out_row), tail, need, |rows, chunk, buf| {
                            block.run_rows(self.isa, x, rows, chunk, buf)
                        });
                    }
                    std::mem::swap(&mut cur, &mut next);
                    cur_len = oh * out_row;
                }
                QStep::Block(block) => {
                    let QFusedBlock { expand, dw, project, add, .. } = block.as_ref();
                    let x = &cur[..cur_len];
                    let dw_in: &[u8] = match expand {
                        Some(e) => {
                            let len = cur_len / e.k() * e.n();
                            self.pointwise(th, x, e, &mut e0[..len]);
                            trace(TraceOp::Conv, &e0[..len]);
                            &e0[..len]
                        }
                        None => x,
                    };
                    let dw_len = dw.shape.out_len();
                    self.depthwise(th, dw, dw_in, &mut e1[..dw_len]);
                    trace(TraceOp::Depthwise, &e1[..dw_len]);
                    let out_len = dw_len / dw.shape.channels * project.n();
                    self.pointwise(th, &e1[..dw_len], project, &mut next[..out_len]);
                    trace(TraceOp::Conv, &next[..out_len]);
                    if let Some(p) = add {
                        let y = &mut next[..out_len];
                        th.for_chunks(y, 4096, |i, chunk| {
                            qadd_in_place(self.isa, p, &x[i * 4096..i * 4096 + chunk.len()], chunk);
                        });
                        trace(TraceOp::Add, &next[..out_len]);
                    }
                    std::mem::swap(&mut cur, &mut next);
                    cur_len = out_len;
                }
                QStep::Head(w) => {
                    let len = cur_len / w.k() * w.n();
                    self.pointwise(th, &cur[..cur_len], w, &mut next[..len]);
                    std::mem::swap(&mut cur, &mut next);
                    cur_len = len;
                    trace(TraceOp::Conv, &cur[..cur_len]);
                }
                QStep::AvgPool { channels, signed } => {
                    qavgpool_global(&cur[..cur_len], *channels, *signed, pooled);
                    trace(TraceOp::Pool, pooled);
                }
                QStep::Mean(mean) => {
                    qmean_global_vec(self.isa, &cur[..cur_len], mean, pooled);
                    trace(TraceOp::Pool, pooled);
                }
                QStep::Classifier(w) => {
                    if th.count() > 1 && w.by_columns(self.isa) {
                        // One row: the workers share it by columns (each streams its share of
                        // the weights), in whole groups of 64.
                        let per = w.n().div_ceil(th.count()).next_multiple_of(64);
                        th.for_chunks(logits, per, |i, chunk| qgemm_columns(pooled, w, i * per, chunk));
                    } else {
                        qgemm(self.isa, pooled, w, logits);
                    }
                    trace(TraceOp::Classifier, logits);
                }
                QStep::Softmax(s) => {
                    s.run(logits, self.classes, output);
                    softmaxed = true;
                    trace(TraceOp::Softmax, output);
                }
                QStep::DeepLab(h) => {
                    self.deeplab_head(th, h, &cur[..cur_len], head, output);
                    softmaxed = true; // the scores are written
                }
            }
        }
        if !softmaxed {
            output.copy_from_slice(logits);
        }
        Ok(())
    }

    fn rows_per_task(th: &Threads, rows: usize) -> usize {
        let per = rows.div_ceil(th.count() * 4);
        per.div_ceil(MR).max(1) * MR
    }

    fn pointwise(&self, th: &Threads, a: &[u8], w: &QPackedB, out: &mut [u8]) {
        let (k, n) = (w.k(), w.n());
        let rpt = Self::rows_per_task(th, out.len() / n);
        th.for_chunks(out, rpt * n, |i, chunk| {
            let r0 = i * rpt;
            let r1 = r0 + chunk.len() / n;
            qgemm(self.isa, &a[r0 * k..r1 * k], w, chunk);
        });
    }

    fn depthwise(&self, th: &Threads, dw: &QDwLayer, input: &[u8], out: &mut [u8]) {
        let (_, _, _, ow) = dw.shape.geometry();
        th.for_chunks(out, ow * dw.shape.channels, |oy, chunk| qdwconv3x3(self.isa, dw, input, oy..oy + 1, chunk));
    }

    fn stem(&self, th: &Threads, layer: &QConvLayer, input: &[u8], out: &mut [u8]) {
        let (_, _, _, ow) = layer.shape.geometry();
        th.for_chunks(out, ow * layer.shape.out_c, |oy, chunk| qconv2d(self.isa, layer, input, oy..oy + 1, chunk));
    }
}

impl crate::Plan for Q8Engine {
    type Elem = u8;
    type Session = Q8Session;
    fn session(&self, batch: usize) -> Result<Q8Session, EngineError> {
        Q8Engine::session(self, batch)
    }
    fn run(&self, session: &mut Q8Session, input: &[u8], output: &mut [u8]) -> Result<(), EngineError> {
        Q8Engine::run(self, session, input, output)
    }
    fn run_segment(&self, session: &mut Q8Session, input: &[u8], classes: &mut [u8]) -> Result<(), EngineError> {
        Q8Engine::run_segment(self, session, input, classes)
    }
    fn output_len(&self) -> usize {
        self.classes
    }
    fn isa(&self) -> Isa {
        self.isa
    }
}

impl crate::Session for Q8Session {
    fn batch(&self) -> usize {
        self.batch
    }
    fn arena_bytes(&self) -> usize {
        Q8Session::arena_bytes(self)
    }
}
