//! A trainable SSDLite-MobileNetV2 (see `mnv2_arch::SsdLite`): the backbone units of a
//! [`TrainNet`] with the extra layers and the depthwise-separable predictors appended as more
//! units, a forward pass that taps block 14's expansion, and the backward pass through all of it.

use mnv2_arch::{SsdLayer, SsdLite};
use mnv2_model::{ConvWeights, InputSpec, LayerWeights, Model, OutputKind, SsdExtraWeights, SsdPredictorWeights};
use mnv2_model::{SsdWeights, Task, Tensor};

use crate::TrainError;
use crate::layers::{ConvGeom, pointwise_backward, pointwise_forward};
use crate::model::{Cache, ConvKind, Grads, TrainNet};

/// One predictor (box or class) on one map: depthwise unit, then 1x1 conv with bias.
#[derive(Debug, Clone)]
struct Predictor {
    dw: usize,
    w: usize,
    b: usize,
    /// Map index, pixels per image, channels in and out.
    map: usize,
    pixels: usize,
    cin: usize,
    cout: usize,
}

/// The detector under training.
pub struct TrainSsd {
    pub net: TrainNet,
    pub ssd: SsdLite,
    /// Unit index of the tapped expansion conv and of the backbone's last conv.
    tap_unit: usize,
    head_unit: usize,
    /// Per extra layer: (reduce, depthwise, expand) unit indices.
    extras: Vec<[usize; 3]>,
    /// Box and class predictors per map, in that order.
    predictors: Vec<(Predictor, Predictor)>,
    batch: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Eval,
    Train,
    Calibrate,
}

/// What the forward pass keeps.
pub struct SsdCache {
    units: Cache,
    /// The depthwise outputs each predictor's 1x1 conv read.
    pred_inputs: Vec<(Vec<f32>, Vec<f32>)>,
}

/// The geometry of a detector head conv on `batch` images (TensorFlow's padding).
fn head_geom(batch: usize, (h, w): (u32, u32), (cin, cout): (u32, u32), k: usize, stride: usize) -> ConvGeom {
    ConvGeom {
        n: batch,
        h: h as usize,
        w: w as usize,
        cin: cin as usize,
        cout: cout as usize,
        k,
        stride,
        pad: k / 2,
        dilation: 1,
        tf_same: true,
    }
}

/// SSDLite's extra layers (1x1 reduce, 3x3 stride-2 depthwise, 1x1 expand) appended to `net`,
/// He-normal: each one's three unit indices.
fn add_extras(net: &mut TrainNet, ssd: &SsdLite, mut normal: &mut dyn FnMut() -> f32) -> Vec<[usize; 3]> {
    let batch = net.units[0].geom.n;
    let mut extras = Vec::new();
    for (i, l) in ssd.head_layers().iter().enumerate() {
        if let SsdLayer::Extra { input, depth } = *l {
            let (half, out, name) = (depth / 2, l.output(), format!("ssd.extras.{i}"));
            let g = |hw, cio, k, stride| head_geom(batch, hw, cio, k, stride);
            let r = net.push_unit(
                ConvKind::Pointwise,
                g((input.h, input.w), (input.c, half), 1, 1),
                true,
                &format!("{name}.reduce"),
            );
            let d = net.push_unit(
                ConvKind::Depthwise,
                g((input.h, input.w), (half, half), 3, 2),
                true,
                &format!("{name}.depthwise"),
            );
            let e = net.push_unit(
                ConvKind::Pointwise,
                g((out.h, out.w), (half, depth), 1, 1),
                true,
                &format!("{name}.expand"),
            );
            for u in [r, d, e] {
                net.init_unit(u, &mut normal);
            }
            extras.push([r, d, e]);
        }
    }
    extras
}

/// The box and class predictors of each feature map (a 3x3 depthwise unit, then a 1x1 conv
/// with bias: N(0, 0.03) weights, class biases -4.6 for the object classes).
fn add_predictors(
    net: &mut TrainNet,
    ssd: &SsdLite,
    mut normal: &mut dyn FnMut() -> f32,
) -> Vec<(Predictor, Predictor)> {
    let (batch, maps, classes) = (net.units[0].geom.n, ssd.feature_maps(), ssd.backbone.classes as usize);
    let mut make = |net: &mut TrainNet, i: usize, what: &str, cout: u32| {
        let m = maps[i];
        let name = format!("ssd.predictors.{i}.{what}");
        let geom = head_geom(batch, (m.h, m.w), (m.c, m.c), 3, 1);
        let dw = net.push_unit(ConvKind::Depthwise, geom, true, &format!("{name}_depthwise"));
        net.init_unit(dw, &mut normal);
        let w = net.push_param(format!("{name}_conv.weight"), (0..cout * m.c).map(|_| 0.03 * normal()).collect());
        let bias: Vec<f32> =
            (0..cout as usize).map(|j| if what == "class" && j % classes != 0 { -4.6 } else { 0.0 }).collect();
        let b = net.push_param(format!("{name}_conv.bias"), bias);
        Predictor { dw, w, b, map: i, pixels: (m.h * m.w) as usize, cin: m.c as usize, cout: cout as usize }
    };
    let layers = ssd.head_layers();
    let boxes = layers.iter().filter(|l| matches!(l, SsdLayer::Predictor { boxes: true, .. }));
    let mut predictors = Vec::new();
    for (i, l) in boxes.enumerate() {
        let SsdLayer::Predictor { outputs, .. } = *l else { unreachable!("filtered to predictors") };
        let bx = make(net, i, "box", outputs);
        let cl = make(net, i, "class", outputs / 4 * classes as u32);
        predictors.push((bx, cl));
    }
    predictors
}

/// A predictor's 1x1 conv and bias on its depthwise output `d` (batch x pixels x cin), each
/// image's values written at `at` of its `per` values in `out`.
fn predict_into(net: &TrainNet, p: &Predictor, d: &[f32], (out, at, per): (&mut [f32], usize, usize)) {
    let n = d.len() / (p.pixels * p.cin).max(1);
    let mut z = vec![0.0; n * p.pixels * p.cout];
    pointwise_forward(&mut z, d, &net.params.tensors[p.w], p.cin, p.cout);
    let bias = &net.params.tensors[p.b];
    let len = p.pixels * p.cout;
    for img in 0..n {
        let dst = &mut out[img * per + at..img * per + at + len];
        for (px, row) in dst.chunks_exact_mut(p.cout).enumerate() {
            let src = &z[(img * p.pixels + px) * p.cout..][..p.cout];
            row.iter_mut().zip(src.iter().zip(bias)).for_each(|(o, (v, b))| *o = v + b);
        }
    }
}

impl TrainSsd {
    /// The detector on top of `net` (a classification network whose units are the backbone,
    /// already initialised and, for imported weights, calibrated), with `ssd.backbone`'s
    /// resolution and classes. The head starts He-normal (predictor convs N(0, 0.03), class
    /// biases -4.6 for the object classes so that training starts from "nothing here").
    pub fn new(mut net: TrainNet, ssd: SsdLite, seed: u64) -> Result<TrainSsd, TrainError> {
        let bb = ssd.backbone;
        if (net.arch.width, net.arch.resolution) != (bb.width, bb.resolution) {
            return Err(TrainError::Model(format!(
                "backbone is {}x{} at width {}, the detector {}x{} at width {}",
                net.arch.resolution, net.arch.resolution, net.arch.width, bb.resolution, bb.resolution, bb.width
            )));
        }
        let batch = net.units[0].geom.n;
        let tap = ssd.tap_block();
        // Blocks are in order; the tapped block's first unit is its expand conv.
        let tap_unit = net.blocks[(tap.index - 1) as usize].0;
        let head_unit = net.head_unit;
        let mut rng = crate::data::Rng(seed);
        let mut normal = move || {
            let (u1, u2) = (rng.uniform().max(1e-7), rng.uniform());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
        };
        let extras = add_extras(&mut net, &ssd, &mut normal);
        let predictors = add_predictors(&mut net, &ssd, &mut normal);
        Ok(TrainSsd { net, ssd, tap_unit, head_unit, extras, predictors, batch })
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Anchors over all maps.
    pub fn anchors(&self) -> usize {
        self.ssd.anchors() as usize
    }

    /// A trainable copy of a detection model (batch norms unfolded as the identity plus the
    /// folded bias: call [`TrainSsd::calibrate`] on a first batch). With `classes` object
    /// classes different from the model's, the class predictors' 1x1 convs start afresh.
    pub fn from_model(model: &Model, batch: usize, classes: usize, seed: u64) -> Result<TrainSsd, TrainError> {
        let (Some(ssd), Task::Detect(head)) = (model.ssdlite(), &model.task) else {
            return Err(TrainError::Model(format!("{} is not a detection model", model.name)));
        };
        let net = TrainNet::from_model(model, batch, 1)?;
        let target = SsdLite::new(ssd.backbone.width, ssd.backbone.resolution, classes as u32)?;
        let same_classes = target.backbone.classes == ssd.backbone.classes;
        let mut t = TrainSsd::new(net, SsdLite { backbone: TrainSsd::backbone_of(&target, &model.arch) }, seed)?;
        for (&[r, d, e], w) in t.extras.clone().iter().zip(&head.extras) {
            t.net.load_folded(r, &w.reduce)?;
            t.net.load_folded(d, &w.depthwise)?;
            t.net.load_folded(e, &w.expand)?;
        }
        for ((bp, cp), w) in t.predictors.clone().iter().zip(&head.predictors) {
            t.net.load_folded(bp.dw, &w.box_depthwise)?;
            t.net.load_folded(cp.dw, &w.class_depthwise)?;
            let mut set = |p: &Predictor, c: &ConvWeights| -> Result<(), TrainError> {
                let (wv, bv) = (c.weights.dequantize()?, c.bias.dequantize()?);
                if wv.len() != p.cin * p.cout || bv.len() != p.cout {
                    return Err(TrainError::Model("predictor sizes differ".into()));
                }
                t.net.params.tensors[p.w] = wv;
                t.net.params.tensors[p.b] = bv;
                Ok(())
            };
            set(bp, &w.box_conv)?;
            if same_classes {
                set(cp, &w.class_conv)?;
            }
        }
        Ok(t)
    }

    /// `target`'s detector on `arch`'s backbone settings (divisor, output stride).
    fn backbone_of(target: &SsdLite, arch: &mnv2_arch::Arch) -> mnv2_arch::Arch {
        mnv2_arch::Arch { classes: target.backbone.classes, ..*arch }
    }

    /// Sets every batch norm so that training mode on `input` reproduces the folded network (see
    /// [`TrainNet::calibrate_batch_norms`]).
    pub fn calibrate(&mut self, input: &[f32]) {
        self.run(input, Mode::Calibrate);
    }

    /// Forward over a batch (NHWC, already normalised): box codes (batch x anchors x 4) and
    /// logits (batch x anchors x slots), and in training mode the cache for [`TrainSsd::backward`].
    pub fn forward(&mut self, input: &[f32], train: bool) -> (Vec<f32>, Vec<f32>, Option<SsdCache>) {
        self.run(input, if train { Mode::Train } else { Mode::Eval })
    }

    fn run(&mut self, input: &[f32], mode: Mode) -> (Vec<f32>, Vec<f32>, Option<SsdCache>) {
        let n = self.batch;
        let train = mode == Mode::Train;
        let units = self.net.units.len();
        let mut cache = train.then(|| SsdCache { units: Cache::new(units), pred_inputs: Vec::new() });
        let net = &mut self.net;
        // One unit: training (cached), evaluation, or calibration.
        let step = |net: &mut TrainNet, i: usize, x: &[f32], cache: Option<&mut Cache>| match mode {
            Mode::Calibrate => net.unit_calibrate_step(i, x),
            _ => net.unit_step(i, x, train, cache),
        };
        let mut y = step(net, 0, input, cache.as_mut().map(|c| &mut c.units));
        let mut tapped = Vec::new();
        for b in 0..net.blocks.len() {
            let (first, count, residual) = net.blocks[b];
            let block_in = if residual { y.clone() } else { Vec::new() };
            for i in first..first + count {
                y = step(net, i, &y, cache.as_mut().map(|c| &mut c.units));
                if i == self.tap_unit {
                    tapped = y.clone();
                }
            }
            if residual {
                y.iter_mut().zip(&block_in).for_each(|(a, b)| *a += b);
            }
        }
        y = step(net, self.head_unit, &y, cache.as_mut().map(|c| &mut c.units));
        let mut maps = vec![tapped, y];
        for &[r, d, e] in &self.extras {
            let x = step(net, r, maps.last().expect("map"), cache.as_mut().map(|c| &mut c.units));
            let x = step(net, d, &x, cache.as_mut().map(|c| &mut c.units));
            let x = step(net, e, &x, cache.as_mut().map(|c| &mut c.units));
            maps.push(x);
        }
        let anchors = self.ssd.anchors() as usize;
        let slots = self.ssd.backbone.classes as usize;
        let (mut codes, mut logits) = (vec![0.0; n * anchors * 4], vec![0.0; n * anchors * slots]);
        let (mut box_at, mut cls_at) = (0, 0);
        for (bp, cp) in self.predictors.clone() {
            let mut ins = Vec::new();
            for (p, out, at, per) in
                [(&bp, &mut codes, &mut box_at, anchors * 4), (&cp, &mut logits, &mut cls_at, anchors * slots)]
            {
                let d = step(net, p.dw, &maps[p.map], cache.as_mut().map(|c| &mut c.units));
                predict_into(net, p, &d, (out, *at, per));
                *at += p.pixels * p.cout;
                ins.push(d);
            }
            if let Some(c) = cache.as_mut() {
                let cls = ins.pop().expect("class input");
                c.pred_inputs.push((ins.pop().expect("box input"), cls));
            }
        }
        (codes, logits, cache)
    }

    /// Gradients of every parameter from dLoss/dcodes and dLoss/dlogits.
    pub fn backward(&mut self, dcodes: &[f32], dlogits: &[f32], cache: SsdCache) -> Grads {
        let mut g = self.net.zero_grads();
        let net = &self.net;
        let p = &net.params.tensors;
        let SsdCache { units: uc, pred_inputs } = cache;
        let n = self.batch;
        let anchors = self.ssd.anchors() as usize;
        let slots = self.ssd.backbone.classes as usize;
        let maps = self.ssd.feature_maps();
        let mut dmaps: Vec<Vec<f32>> = maps.iter().map(|m| vec![0.0; n * m.len()]).collect();
        let (mut box_at, mut cls_at) = (0, 0);
        for ((bp, cp), (bin, cin)) in self.predictors.iter().zip(&pred_inputs) {
            for (pr, d, at, per, x) in
                [(bp, dcodes, &mut box_at, anchors * 4, bin), (cp, dlogits, &mut cls_at, anchors * slots, cin)]
            {
                let len = pr.pixels * pr.cout;
                let mut dz = vec![0.0; n * len];
                for img in 0..n {
                    dz[img * len..(img + 1) * len].copy_from_slice(&d[img * per + *at..img * per + *at + len]);
                }
                *at += len;
                for row in dz.chunks_exact(pr.cout) {
                    g.tensors[pr.b].iter_mut().zip(row).for_each(|(a, b)| *a += b);
                }
                let mut dx = vec![0.0; x.len()];
                pointwise_backward(&mut dx, &mut g.tensors[pr.w], &dz, x, &p[pr.w], pr.cin, pr.cout);
                let dmap = net.cached_unit_backward(pr.dw, dx, &uc, &mut g);
                dmaps[pr.map].iter_mut().zip(&dmap).for_each(|(a, b)| *a += b);
            }
        }
        for (e, &[r, d, x]) in self.extras.iter().enumerate().rev() {
            let dy = std::mem::take(&mut dmaps[2 + e]);
            let dy = net.cached_unit_backward(x, dy, &uc, &mut g);
            let dy = net.cached_unit_backward(d, dy, &uc, &mut g);
            let dy = net.cached_unit_backward(r, dy, &uc, &mut g);
            dmaps[1 + e].iter_mut().zip(&dy).for_each(|(a, b)| *a += b);
        }
        let mut dx = net.cached_unit_backward(self.head_unit, std::mem::take(&mut dmaps[1]), &uc, &mut g);
        for &(first, count, residual) in net.blocks.iter().rev() {
            let dout = if residual { dx.clone() } else { Vec::new() };
            for i in (first..first + count).rev() {
                if i == self.tap_unit {
                    dx.iter_mut().zip(&dmaps[0]).for_each(|(a, b)| *a += b);
                }
                dx = net.cached_unit_backward(i, dx, &uc, &mut g);
            }
            if residual {
                dx.iter_mut().zip(&dout).for_each(|(a, b)| *a += b);
            }
        }
        net.cached_unit_backward(0, dx, &uc, &mut g);
        g
    }

    /// The inference model (batch norms folded with their running statistics).
    pub fn to_model(&self, input: InputSpec, labels: Option<Vec<String>>, name: &str) -> Model {
        let net = &self.net;
        let base = net.to_model(input, None, name);
        let layers: Vec<LayerWeights> = base
            .layers
            .into_iter()
            .filter(|l| !matches!(l, LayerWeights::Pool { .. } | LayerWeights::Classifier(_)))
            .collect();
        let extras = self
            .extras
            .iter()
            .map(|&[r, d, e]| SsdExtraWeights {
                reduce: net.fold_unit(r),
                depthwise: net.fold_unit(d),
                expand: net.fold_unit(e),
            })
            .collect();
        let conv = |pr: &Predictor| ConvWeights {
            weights: Tensor::f32(vec![pr.cout, 1, 1, pr.cin], net.params.tensors[pr.w].clone()),
            bias: Tensor::f32(vec![pr.cout], net.params.tensors[pr.b].clone()),
            output: None,
        };
        let predictors = self
            .predictors
            .iter()
            .map(|(b, c)| SsdPredictorWeights {
                box_depthwise: net.fold_unit(b.dw),
                box_conv: conv(b),
                class_depthwise: net.fold_unit(c.dw),
                class_conv: conv(c),
            })
            .collect();
        Model {
            arch: self.ssd.backbone,
            layers,
            task: Task::Detect(Box::new(SsdWeights { extras, predictors })),
            input: base.input,
            output: OutputKind::Logits,
            labels,
            name: name.into(),
        }
    }
}
