//! The float32 plan: weights dequantized and prepacked once, a fixed arena per batch size.

use mnv2_arch::{Layer, Shape};
use mnv2_kernels::aligned::AlignedVec;
use mnv2_kernels::conv::{ConvShape, PackedConv, conv2d};
use mnv2_kernels::dwconv::{DwLayer, dwconv3x3};
use mnv2_kernels::gemm::{MR, NR, PackedB, gemm, gemm_panels};
use mnv2_kernels::pool::global_avg_pool;
use mnv2_kernels::upsample::{Sampling, UpsampleArgmax};
use mnv2_kernels::{Clamp, Isa};

use crate::bands::{self, plan_scratch};
use crate::fused::FusedBlock;
use crate::model::{ConvWeights, LayerWeights, Model, OutputKind, Task};
use crate::ssdhead::SsdHead;
use crate::{EngineError, Threads, softmax_in_place};
use block::F32Block;
use std::sync::Mutex;

mod block;
mod lower;

enum Step {
    Stem {
        shape: ConvShape,
        w: PackedConv,
    },
    Block(Box<FusedBlock<F32Block>>),
    Head {
        w: PackedB,
    },
    Pool {
        channels: usize,
    },
    /// The head conv and the global pool after it, by blocks of output channels: a block's conv
    /// output (all pixels) is pooled while it is in cache, and each worker streams only its
    /// blocks' weights.
    HeadPool {
        w: PackedB,
    },
    Classifier {
        w: PackedB,
    },
    DeepLab(Box<DeepLabHead>),
    /// A pointwise conv + ReLU6 whose output is also kept as a feature map (SSDLite's first map
    /// is the expansion of a block, which then runs without its expand conv).
    Tap {
        w: PackedB,
    },
    Ssd(Box<SsdHead>),
}

impl Step {
    /// What the step is, for profiles (`block` counts the bottlenecks from 1).
    fn describe(&self, block: usize) -> String {
        match self {
            Step::Stem { shape, .. } => format!("stem conv 3x3 -> {}", shape.out_c),
            Step::Block(b) => {
                let s = &b.dw.shape;
                let (_, oh, _, ow) = s.geometry();
                format!("block {block}: {}x{}x{} -> {oh}x{ow}x{}", s.in_h, s.in_w, s.channels, b.project.n())
            }
            Step::Head { w } => format!("head conv 1x1 -> {}", w.n()),
            Step::Pool { .. } => "global pool".into(),
            Step::HeadPool { w } => format!("head conv 1x1 -> {} + global pool", w.n()),
            Step::Classifier { w } => format!("classifier -> {}", w.n()),
            Step::DeepLab(_) => "DeepLab head (ASPP, projection, logits)".into(),
            Step::Tap { w } => format!("feature map conv 1x1 -> {}", w.n()),
            Step::Ssd(_) => "SSDLite extra layers and box predictors".into(),
        }
    }
}

/// Mobile DeepLabv3's head in float32.
struct DeepLabHead {
    /// Feature map (height, width, channels).
    features: (usize, usize, usize),
    image_pool: PackedB,
    aspp0: PackedB,
    projection: PackedB,
    logits: PackedB,
    upsample: UpsampleArgmax,
}

impl DeepLabHead {
    fn pixels(&self) -> usize {
        self.features.0 * self.features.1
    }
    /// Floats of head scratch per image: pooled features, pooled branch, concatenation, projection.
    fn scratch(&self) -> usize {
        let a = self.aspp0.n();
        self.features.2 + a + self.pixels() * 3 * a
    }
}

/// Panels of head conv output per block of [`Step::HeadPool`] (128 channels: the block's output
/// for a 7x7 map, 25 KB, stays in L1 for the pool).
const HEAD_BLOCK_PANELS: usize = 8;

/// Floats of head scratch per image a DeepLab head step needs (0 without one).
fn deeplab_scratch(steps: &[Step]) -> usize {
    steps
        .iter()
        .find_map(|s| match s {
            Step::DeepLab(h) => Some(h.scratch()),
            _ => None,
        })
        .unwrap_or(0)
}

/// ReLU without the cap at 6 (the DeepLab head).
const RELU: Clamp = Clamp { lo: 0.0, hi: f32::INFINITY };

/// A model compiled for float32 execution on this CPU.
pub struct F32Engine {
    /// The compiled steps with their packed weights, shared by every [`F32Engine::instance`].
    steps: std::sync::Arc<Vec<Step>>,
    input: Shape,
    classes: usize,
    softmax: bool,
    /// Per image, the floats of the two activation buffers that layer outputs alternate between,
    /// and of one worker's block scratch.
    act: [usize; 2],
    scratch: usize,
    /// Floats of head scratch per image (segmentation and detection) and of the tapped map.
    head_scratch: usize,
    tap_len: usize,
    isa: Isa,
    threads: Threads,
    /// No workers: each image of a batch runs on one of `threads`' workers with this.
    serial: Threads,
}

/// Whether [`F32Engine::run_inner`] runs the classifier, or leaves it to run over the whole batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Classify {
    Now,
    Later,
}

/// Reusable activation memory for one batch size.
pub struct F32Session {
    batch: usize,
    /// The two buffers layer outputs alternate between (a block reads one and writes the other).
    act: [AlignedVec<f32>; 2],
    /// One block scratch per worker thread.
    scratch: Vec<Mutex<AlignedVec<f32>>>,
    pooled: Vec<f32>,
    /// Segmentation only: head scratch, and the class scores before upsampling.
    head: AlignedVec<f32>,
    scores: Vec<f32>,
    /// Detection only: the tapped feature map of each image, and whether the last backbone map
    /// of the last run is in the first activation buffer.
    tap: AlignedVec<f32>,
    last_in_first: bool,
}

impl F32Session {
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// The globally pooled features of the last run (batch x channels; classification models).
    pub fn pooled(&self) -> &[f32] {
        &self.pooled
    }
    /// Detection models: the first two feature maps of the last run (batch x H x W x C each):
    /// the tapped expansion and the last backbone conv's output.
    pub fn detection_features(&self, engine: &F32Engine) -> Option<(&[f32], Vec<f32>)> {
        let h = engine.ssd()?;
        let (lh, lw, lc) = h.maps[1];
        let len = lh * lw * lc;
        let buf = &self.act[if self.last_in_first { 0 } else { 1 }];
        // Batches that ran image by image keep each image at a fixed stride in the buffer.
        let stride = buf.len() / self.batch;
        let last = (0..self.batch).flat_map(|i| buf[i * stride..i * stride + len].iter().copied()).collect();
        Some((&self.tap, last))
    }

    /// Bytes of activation memory this session holds.
    pub fn arena_bytes(&self) -> usize {
        let scratch: usize = self.scratch.iter().map(|m| m.lock().map_or(0, |v| v.len())).sum();
        4 * (self.act.iter().map(|b| b.len()).sum::<usize>()
            + scratch
            + self.pooled.len()
            + self.head.len()
            + self.scores.len()
            + self.tap.len())
    }
}

impl F32Engine {
    /// Compiles `model` (quantized weights are dequantized) for `threads` workers (0: all cores).
    pub fn new(model: &Model, threads: usize) -> Result<F32Engine, EngineError> {
        Self::with_isa(model, threads, Isa::detect())
    }

    /// Another engine on the same compiled network (the packed weights are shared, not
    /// copied) with workers of its own, the same number: for running batches side by side.
    pub fn instance(&self) -> Result<F32Engine, EngineError> {
        Ok(F32Engine {
            steps: self.steps.clone(),
            threads: Threads::new(self.threads.count())?,
            serial: Threads::inline(),
            ..*self
        })
    }

    /// The instruction set the kernels run with.
    pub fn isa(&self) -> Isa {
        self.isa
    }
    pub fn threads(&self) -> usize {
        self.threads.count()
    }
    /// Input shape of one image (height, width, 3).
    pub fn input_shape(&self) -> Shape {
        self.input
    }
    /// Output values per image: class scores (for segmentation, the scores of every pixel of
    /// the feature map, before upsampling).
    pub fn output_len(&self) -> usize {
        self.classes
    }

    /// The segmentation head's upsampling, if the model has one.
    fn upsample(&self) -> Option<&UpsampleArgmax> {
        self.steps.iter().find_map(|s| match s {
            Step::DeepLab(h) => Some(&h.upsample),
            _ => None,
        })
    }

    /// How many images' activation buffers a session for `batch` images holds: one per worker,
    /// as the workers take whole images (the buffers stay in the worker's cache from one image
    /// to the next), except for detectors, whose sessions keep every image's feature maps.
    fn lanes(&self, batch: usize) -> usize {
        if self.ssd().is_some() { batch } else { self.threads.count().min(batch) }
    }

    /// Allocates the activation arena for batches of `batch` images.
    pub fn session(&self, batch: usize) -> Result<F32Session, EngineError> {
        if batch == 0 {
            return Err(EngineError::EmptyBatch);
        }
        let pooled = self.steps.iter().find_map(|s| match s {
            Step::Pool { channels } => Some(*channels),
            Step::HeadPool { w } => Some(w.n()),
            _ => None,
        });
        let lanes = self.lanes(batch);
        let deeplab = self.upsample().is_some();
        // Checked before anything is allocated: the session's buffers and the caller's input and
        // output, in floats.
        crate::check_session_memory(
            batch,
            4,
            &[
                (lanes, self.act[0] + self.act[1]),
                (self.threads.count(), self.scratch),
                (batch, pooled.unwrap_or(0) + self.head_scratch + self.tap_len + self.input.len() + self.classes),
                (if deeplab { batch } else { 0 }, self.classes),
            ],
        )?;
        Ok(F32Session {
            batch,
            act: [AlignedVec::zeroed(lanes * self.act[0]), AlignedVec::zeroed(lanes * self.act[1])],
            scratch: (0..self.threads.count()).map(|_| Mutex::new(AlignedVec::zeroed(self.scratch))).collect(),
            pooled: vec![0.0; batch * pooled.unwrap_or(0)],
            head: AlignedVec::zeroed(batch * self.head_scratch),
            scores: vec![0.0; if self.upsample().is_some() { batch * self.classes } else { 0 }],
            tap: AlignedVec::zeroed(batch * self.tap_len),
            last_in_first: false,
        })
    }

    /// Runs a batch: `input` is batch x H x W x 3 real values (NHWC), `output` batch x classes.
    pub fn run(&self, session: &mut F32Session, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        let batch = session.batch;
        let s = self.input;
        if input.len() != batch * s.len() {
            return Err(EngineError::InputSize {
                found: input.len(),
                expected: batch * s.len(),
                batch,
                h: s.h,
                w: s.w,
                c: s.c,
            });
        }
        assert_eq!(output.len(), batch * self.classes, "output buffer size");
        let F32Session { act: [a, b], scratch, pooled, head, tap, last_in_first, .. } = session;
        if batch == 1 {
            // The calling thread runs the steps and takes part in each one's parallel loop.
            *last_in_first =
                self.run_inner(&self.threads, [a, b], scratch, pooled, head, tap, input, output, Classify::Now);
        } else {
            // Whole images per worker: no synchronisation inside an image, so batches scale with
            // the threads (each image's arithmetic is the same as alone, so results are too).
            // Each image runs in its worker's lane of buffers, or its own (see `lanes`).
            let lanes = self.lanes(batch);
            let lanes: Vec<_> =
                crate::per_image(a, lanes).into_iter().zip(crate::per_image(b, lanes)).map(Mutex::new).collect();
            let jobs: Vec<_> = crate::per_image(pooled, batch)
                .into_iter()
                .zip(crate::per_image(head, batch))
                .zip(crate::per_image(tap, batch))
                .zip(input.chunks(input.len() / batch))
                .zip(output.chunks_mut(output.len() / batch))
                .enumerate()
                .collect();
            let flags: Vec<bool> = self.threads.map(jobs, |(img, ((((p, h), t), x), o))| {
                let lane = if lanes.len() == batch { img } else { Threads::worker_index() };
                let mut lane = lanes[lane % lanes.len()].lock().unwrap_or_else(|e| e.into_inner());
                let (a, b) = &mut *lane;
                self.run_inner(&self.serial, [a, b], scratch, p, h, t, x, o, Classify::Later)
            });
            *last_in_first = flags.first().copied().unwrap_or(false);
            // The classifier over the whole batch's pooled features at once: its weights (5 MB
            // for 1280 x 1000) stream from memory once per batch, not once per image; each
            // score is the same sum as alone.
            if let Some(w) = self.classifier() {
                self.pointwise(&self.threads, pooled, w, None, Clamp::NONE, output);
            }
        }
        if self.softmax {
            softmax_in_place(output, self.classes);
        }
        Ok(())
    }

    /// The steps over one image with `th`'s workers; returns whether the last backbone map
    /// ended in the first activation buffer.
    #[allow(clippy::too_many_arguments)]
    fn run_inner(
        &self,
        th: &Threads,
        [a, b]: [&mut [f32]; 2],
        scratch: &[Mutex<AlignedVec<f32>>],
        pooled: &mut [f32],
        head: &mut [f32],
        tap: &mut [f32],
        input: &[f32],
        output: &mut [f32],
        classify: Classify,
    ) -> bool {
        let mut last_in_first = false;
        let first = a.as_ptr();
        // `next` receives each layer's output, then the two swap.
        let (mut cur, mut next) = (b, a);
        let mut cur_len = 0;
        for (index, step) in self.steps.iter().enumerate() {
            let _timed = crate::profile::scope(|| {
                step.describe(self.steps[..index].iter().filter(|s| matches!(s, Step::Block(_))).count() + 1)
            });
            match step {
                Step::Stem { shape, w } => {
                    cur_len = shape.out_len();
                    self.stem(th, shape, w, input, &mut next[..cur_len]);
                    std::mem::swap(&mut cur, &mut next);
                }
                Step::Block(block) => {
                    cur_len = bands::run_block(th, self.isa, block.as_ref(), &cur[..cur_len], next, scratch);
                    std::mem::swap(&mut cur, &mut next);
                }
                Step::Head { w } => {
                    let len = cur_len / w.k() * w.n();
                    self.pointwise(th, &cur[..cur_len], w, None, Clamp::RELU6, &mut next[..len]);
                    std::mem::swap(&mut cur, &mut next);
                    cur_len = len;
                }
                Step::Pool { channels } => global_avg_pool(&cur[..cur_len], *channels, &mut pooled[..*channels]),
                Step::HeadPool { w } => self.head_pool(th, w, &cur[..cur_len], next, &mut pooled[..w.n()]),
                Step::Classifier { w } => {
                    if classify == Classify::Now {
                        self.pointwise(th, pooled, w, None, Clamp::NONE, output)
                    }
                }
                Step::DeepLab(h) => self.deeplab_head(th, h, &cur[..cur_len], head, output),
                Step::Tap { w } => {
                    let len = cur_len / w.k() * w.n();
                    self.pointwise(th, &cur[..cur_len], w, None, Clamp::RELU6, &mut next[..len]);
                    std::mem::swap(&mut cur, &mut next);
                    cur_len = len;
                    tap[..len].copy_from_slice(&cur[..len]);
                }
                Step::Ssd(h) => {
                    last_in_first = std::ptr::eq(cur.as_ptr(), first);
                    self.ssd_head(th, h, tap, &cur[..cur_len], head, output);
                }
            }
        }
        last_in_first
    }

    /// Image pooling and 1x1 branches, concatenation, projection and logits for one image's
    /// feature map; `scratch` is the image's head buffer.
    fn deeplab_head(&self, th: &Threads, h: &DeepLabHead, features: &[f32], scratch: &mut [f32], scores: &mut [f32]) {
        let (_, _, c) = h.features;
        let (px, a) = (h.pixels(), h.aspp0.n());
        let (pooled, rest) = scratch.split_at_mut(c);
        let (pool_branch, rest) = rest.split_at_mut(a);
        let (concat, rest) = rest.split_at_mut(px * 2 * a);
        let projected = &mut rest[..px * a];
        global_avg_pool(features, c, pooled);
        self.pointwise(th, pooled, &h.image_pool, None, RELU, pool_branch);
        // The 1x1 branch goes through `projected` (free until the projection) into the concatenation.
        self.pointwise(th, features, &h.aspp0, None, RELU, projected);
        for (p, dst) in concat.chunks_exact_mut(2 * a).enumerate() {
            dst[..a].copy_from_slice(pool_branch);
            dst[a..].copy_from_slice(&projected[p * a..(p + 1) * a]);
        }
        self.pointwise(th, concat, &h.projection, None, RELU, projected);
        self.pointwise(th, projected, &h.logits, None, Clamp::NONE, scores);
    }

    /// SSDLite's extra layers and predictors for one image, from the tapped map and the last
    /// backbone map; `scratch` is the image's head buffer.
    fn ssd_head(&self, th: &Threads, h: &SsdHead, tap: &[f32], last: &[f32], scratch: &mut [f32], out: &mut [f32]) {
        let (boxes, logits) = out[..h.output_len()].split_at_mut(h.anchors * 4);
        // The four extra maps, then the reduced map and the depthwise output.
        let mut rest = &mut scratch[..];
        let mut extra_maps = Vec::with_capacity(h.extras.len());
        for i in 2..h.maps.len() {
            let (m, r) = rest.split_at_mut(h.maps[i].0 * h.maps[i].1 * h.maps[i].2);
            extra_maps.push(m);
            rest = r;
        }
        let (reduced, dw_out) = rest.split_at_mut(h.reduced_len());
        let (first, second) = (tap, last);
        for (i, e) in h.extras.iter().enumerate() {
            let (done, todo) = extra_maps.split_at_mut(i);
            let input: &[f32] = if i == 0 { second } else { done[i - 1] };
            let red = &mut reduced[..input.len() / e.reduce.k() * e.reduce.n()];
            self.pointwise(th, input, &e.reduce, None, Clamp::RELU6, red);
            let dw = &mut dw_out[..e.depthwise.shape.out_len()];
            self.depthwise(th, &e.depthwise, red, dw);
            self.pointwise(th, dw, &e.expand, None, Clamp::RELU6, todo[0]);
        }
        let (mut box_at, mut logit_at) = (0, 0);
        for (i, p) in h.predictors.iter().enumerate() {
            let map: &[f32] = match i {
                0 => first,
                1 => second,
                _ => extra_maps[i - 2],
            };
            for (dwl, conv, dst, at) in [
                (&p.box_depthwise, &p.box_conv, &mut *boxes, &mut box_at),
                (&p.class_depthwise, &p.class_conv, &mut *logits, &mut logit_at),
            ] {
                let dw = &mut dw_out[..dwl.shape.out_len()];
                self.depthwise(th, dwl, map, dw);
                let n = dw.len() / conv.k() * conv.n();
                self.pointwise(th, dw, conv, None, Clamp::NONE, &mut dst[*at..*at + n]);
                *at += n;
            }
        }
    }

    fn depthwise(&self, th: &Threads, layer: &DwLayer, input: &[f32], out: &mut [f32]) {
        let (_, _, _, ow) = layer.shape.geometry();
        th.for_chunks(out, ow * layer.shape.channels, |r, row| {
            dwconv3x3(self.isa, layer, input, r..r + 1, row);
        });
    }

    fn classifier(&self) -> Option<&PackedB> {
        self.steps.iter().find_map(|s| match s {
            Step::Classifier { w } => Some(w),
            _ => None,
        })
    }

    fn ssd(&self) -> Option<&SsdHead> {
        self.steps.iter().find_map(|s| match s {
            Step::Ssd(h) => Some(h.as_ref()),
            _ => None,
        })
    }

    /// For detection models: (anchors, class slots) of the output [`F32Engine::run`] writes,
    /// which per image is every anchor's four box codes followed by every anchor's logits.
    pub fn detection_layout(&self) -> Option<(usize, usize)> {
        self.ssd().map(|h| (h.anchors, h.classes))
    }

    /// [`Step::HeadPool`]: blocks of [`HEAD_BLOCK_PANELS`] panels, each conv block computed for
    /// every pixel into `scratch` and pooled (the same bits as the conv, then the pool).
    fn head_pool(&self, th: &Threads, w: &PackedB, x: &[f32], scratch: &mut [f32], pooled: &mut [f32]) {
        let pixels = x.len() / w.k();
        let cols = HEAD_BLOCK_PANELS * NR;
        let per_block = (pixels * cols).next_multiple_of(16);
        if w.n().div_ceil(cols) * per_block > scratch.len() {
            // Not enough room for every block's output at once (larger inputs): whole conv, then pool.
            let y = &mut scratch[..pixels * w.n()];
            self.pointwise(th, x, w, None, Clamp::RELU6, y);
            return global_avg_pool(y, w.n(), pooled);
        }
        th.for_chunks_with(pooled, cols, scratch, per_block, |i, out, y| {
            let p0 = i * HEAD_BLOCK_PANELS;
            let y = &mut y[..pixels * out.len()];
            gemm_panels(self.isa, x, w, p0..(p0 + HEAD_BLOCK_PANELS).min(w.panels()), None, Clamp::RELU6, y);
            global_avg_pool(y, out.len(), out);
        });
    }

    /// Rows per parallel task: several register tiles, about four tasks per thread.
    fn rows_per_task(th: &Threads, rows: usize) -> usize {
        let per = rows.div_ceil(th.count() * 4);
        per.div_ceil(MR).max(1) * MR
    }

    fn pointwise(&self, th: &Threads, a: &[f32], w: &PackedB, residual: Option<&[f32]>, clamp: Clamp, out: &mut [f32]) {
        let (k, n) = (w.k(), w.n());
        let rows = out.len() / n;
        if rows == 1 && th.count() > 1 {
            // One row (the classifier at batch 1): the workers share its columns, each streaming
            // its part of the weights, in whole pairs of panels.
            let per_task = w.panels().div_ceil(th.count()).next_multiple_of(2);
            th.for_chunks(out, per_task * NR, |i, chunk| {
                let p0 = i * per_task;
                let panels = p0..(p0 + per_task).min(w.panels());
                let res = residual.map(|r| &r[p0 * NR..p0 * NR + chunk.len()]);
                gemm_panels(self.isa, a, w, panels, res, clamp, chunk);
            });
            return;
        }
        let rpt = Self::rows_per_task(th, rows);
        th.for_chunks(out, rpt * n, |i, chunk| {
            let r0 = i * rpt;
            let r1 = r0 + chunk.len() / n;
            let res = residual.map(|r| &r[r0 * n..r1 * n]);
            gemm(self.isa, &a[r0 * k..r1 * k], w, res, clamp, chunk);
        });
    }

    fn stem(&self, th: &Threads, shape: &ConvShape, w: &PackedConv, input: &[f32], out: &mut [f32]) {
        let (_, oh, _, ow) = shape.geometry();
        let row = ow * shape.out_c;
        let in_len = shape.in_h * shape.in_w * shape.in_c;
        th.for_chunks(out, row, |r, chunk| {
            let (img, oy) = (r / oh, r % oh);
            conv2d(self.isa, shape, &input[img * in_len..(img + 1) * in_len], w, Clamp::RELU6, oy..oy + 1, chunk);
        });
    }
}

crate::plan::plan_by_inherent_methods!(F32Engine, F32Session, f32);
