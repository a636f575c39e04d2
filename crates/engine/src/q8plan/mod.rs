//! The integer plan: the quantized models run exactly as TFLite's integer kernels define them.
//! Activations live in u8 whatever the model's type (see `mnv2_kernels::q8`), weights are
//! prepacked once with their zero points removed, the arena is fixed per batch size.

use mnv2_arch::Layer;
use mnv2_kernels::Isa;
use mnv2_kernels::aligned::AlignedVec;
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

use crate::bands::{self, plan_scratch};
use crate::fused::FusedBlock;
use crate::model::{
    BlockWeights, ConvWeights, LayerWeights, Model, OutputKind, PoolKind, Quant, Task, Tensor, TensorData,
};
use crate::{EngineError, Threads};
use block::Q8Block;
use std::sync::Mutex;

mod block;
mod lower;
mod quant;

enum QStep {
    /// The input QUANTIZE (u8 to the model's input scale), one table entry per input byte.
    Requantize {
        table: Box<[u8; 256]>,
    },
    Stem(QConvLayer),
    Block(Box<FusedBlock<Q8Block>>),
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
    /// The compiled steps with their packed weights, shared by every [`Q8Engine::instance`].
    steps: std::sync::Arc<Vec<QStep>>,
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

    /// Another engine on the same compiled network (the packed weights are shared, not
    /// copied) with workers of its own, the same number: for running batches side by side.
    pub fn instance(&self) -> Result<Q8Engine, EngineError> {
        Ok(Q8Engine {
            steps: self.steps.clone(),
            threads: Threads::new(self.threads.count())?,
            serial: Threads::inline(),
            ..*self
        })
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }
    /// Output bytes per image (for segmentation, the class scores of every feature-map pixel).
    pub fn output_len(&self) -> usize {
        self.classes
    }

    /// The segmentation head's upsampling, if the model has one.
    fn upsample(&self) -> Option<&UpsampleArgmax> {
        self.deeplab().map(|h| &h.upsample)
    }

    fn deeplab(&self) -> Option<&QDeepLabHead> {
        self.steps.iter().find_map(|s| match s {
            QStep::DeepLab(h) => Some(h.as_ref()),
            _ => None,
        })
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
        // Whole expanded tensors, for running blocks layer by layer.
        let (mut e0, mut e1) = (vec![0u8; self.wide * layerwise as usize], vec![0u8; self.wide * layerwise as usize]);
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
                QStep::Stem(_) | QStep::Head(_) => {
                    let from_input = matches!(step, QStep::Stem(_)) && !quantized_input;
                    let src: &[u8] = if from_input { input } else { &cur[..cur_len] };
                    cur_len = self.conv_step(th, step, src, next);
                    std::mem::swap(&mut cur, &mut next);
                    trace(TraceOp::Conv, &cur[..cur_len]);
                }
                QStep::Block(block) => {
                    let x = &cur[..cur_len];
                    cur_len = match layerwise {
                        true => self.block_by_layers(th, block, x, next, [&mut e0, &mut e1], &mut trace),
                        false => bands::run_block(th, self.isa, block.as_ref(), x, next, scratch),
                    };
                    std::mem::swap(&mut cur, &mut next);
                }
                head_step => {
                    let bufs = (&mut *pooled, &mut *logits, &mut *head);
                    softmaxed |= self.head_step(th, head_step, &cur[..cur_len], bufs, output, &mut trace);
                }
            }
        }
        if !softmaxed {
            output.copy_from_slice(logits);
        }
        Ok(())
    }

    /// The stem or the head conv from `src` into the front of `dst`; returns the output's length.
    fn conv_step(&self, th: &Threads, step: &QStep, src: &[u8], dst: &mut [u8]) -> usize {
        match step {
            QStep::Stem(layer) => {
                let len = layer.shape.out_len();
                self.stem(th, layer, src, &mut dst[..len]);
                len
            }
            QStep::Head(w) => {
                let len = src.len() / w.k() * w.n();
                self.pointwise(th, src, w, &mut dst[..len]);
                len
            }
            _ => unreachable!("only convolutions"),
        }
    }

    /// A step after the last feature map (pooling, classifier, softmax, segmentation head) on
    /// `features`; true when it wrote the output.
    fn head_step(
        &self,
        th: &Threads,
        step: &QStep,
        features: &[u8],
        (pooled, logits, head): (&mut [u8], &mut [u8], &mut [u8]),
        output: &mut [u8],
        trace: &mut impl FnMut(TraceOp, &[u8]),
    ) -> bool {
        match step {
            QStep::AvgPool { channels, signed } => {
                qavgpool_global(features, *channels, *signed, pooled);
                trace(TraceOp::Pool, pooled);
            }
            QStep::Mean(mean) => {
                qmean_global_vec(self.isa, features, mean, pooled);
                trace(TraceOp::Pool, pooled);
            }
            QStep::Classifier(w) => {
                self.classifier(th, w, pooled, logits);
                trace(TraceOp::Classifier, logits);
            }
            QStep::Softmax(s) => {
                s.run(logits, self.classes, output);
                trace(TraceOp::Softmax, output);
                return true;
            }
            QStep::DeepLab(h) => {
                self.deeplab_head(th, h, features, head, output);
                return true; // the scores are written
            }
            _ => unreachable!("feature-map steps are run by execute"),
        }
        false
    }

    /// A block operator by operator (expansion, depthwise, projection, add), each output whole in
    /// `expanded` or `next` and traced, as TFLite runs it; returns the output's length.
    fn block_by_layers(
        &self,
        th: &Threads,
        block: &FusedBlock<Q8Block>,
        x: &[u8],
        next: &mut [u8],
        [e0, e1]: [&mut [u8]; 2],
        trace: &mut impl FnMut(TraceOp, &[u8]),
    ) -> usize {
        let FusedBlock { expand, dw, project, residual: add, .. } = block;
        let dw_in: &[u8] = match expand {
            Some(e) => {
                let len = x.len() / e.k() * e.n();
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
            th.for_chunks(&mut next[..out_len], 4096, |i, chunk| {
                qadd_in_place(self.isa, p, &x[i * 4096..i * 4096 + chunk.len()], chunk);
            });
            trace(TraceOp::Add, &next[..out_len]);
        }
        out_len
    }

    /// The classifier on the pooled features: one row, which several workers share by columns
    /// (each streams its share of the weights, in whole groups of 64) where the layout allows.
    fn classifier(&self, th: &Threads, w: &QPackedB, pooled: &[u8], logits: &mut [u8]) {
        if th.count() > 1 && w.by_columns(self.isa) {
            let per = w.n().div_ceil(th.count()).next_multiple_of(64);
            th.for_chunks(logits, per, |i, chunk| qgemm_columns(pooled, w, i * per, chunk));
        } else {
            qgemm(self.isa, pooled, w, logits);
        }
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

crate::plan::plan_by_inherent_methods!(Q8Engine, Q8Session, u8);
