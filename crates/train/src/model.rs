//! The trainable network: MobileNetV2 from an `Arch` as a list of conv + batch-norm units, with
//! parameters, running statistics, a cached forward and the backward pass.

use mnv2_arch::{Arch, Bottleneck, Layer};

use crate::layers::*;
use crate::loss::cross_entropy_part;
use crate::replicas::{Alone, Replicas};
use std::sync::Arc;

/// The kind of convolution in a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    /// Full KxK conv (the stem).
    Full,
    Depthwise,
    Pointwise,
}

/// Conv (no bias) + batch norm (+ ReLU6).
#[derive(Debug, Clone)]
pub struct Unit {
    pub kind: ConvKind,
    pub geom: ConvGeom,
    pub relu6: bool,
    /// Parameter indices: weights, BN scale, BN shift; and the running-statistics slot.
    pub w: usize,
    pub gamma: usize,
    pub beta: usize,
    pub bn: usize,
    /// Torchvision name of the conv weight and of the batch norm (`features.3.conv.1.0`, ...).
    pub conv_name: String,
    pub bn_name: String,
}

/// All trainable tensors, in one list with names (torchvision's).
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub names: Vec<String>,
    pub tensors: Vec<Vec<f32>>,
}

impl Params {
    fn add(&mut self, name: String, value: Vec<f32>) -> usize {
        self.names.push(name);
        self.tensors.push(value);
        self.tensors.len() - 1
    }
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// Gradients, shaped as the parameters.
pub type Grads = Params;

/// Running mean and variance of each batch norm.
#[derive(Debug, Clone, Default)]
pub struct Running {
    pub mean: Vec<Vec<f32>>,
    pub var: Vec<Vec<f32>>,
}

/// A network ready to train on batches of `batch` images.
pub struct TrainNet {
    pub arch: Arch,
    pub units: Vec<Unit>,
    /// Index of the first unit of each block, its unit count and whether it has the shortcut.
    pub blocks: Vec<(usize, usize, bool)>,
    pub params: Params,
    pub running: Running,
    pub fc_w: usize,
    pub fc_b: usize,
    /// Unit index of the 1x1 conv to 1280 channels (more units may follow it, e.g. a detector's).
    pub head_unit: usize,
    pub momentum: f32,
    /// The processes that share each batch (this one alone unless set by
    /// [`TrainNet::set_replicas`]).
    replicas: Arc<dyn Replicas>,
    /// The classifier's memory for one batch size, kept between steps.
    arena: Option<Box<Arena>>,
    /// The last step's gradients, handed back once the optimizer used them ([`TrainNet::recycle`]).
    spare_grads: Option<Grads>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Eval,
    Train,
    Calibrate,
}

/// The classifier's training memory, sized once per batch size from the units (llm.c's way):
/// the input, each unit's output (which is the next unit's input, so nothing is copied; a
/// residual block's last output after its shortcut is added), each batch norm's statistics and
/// normalised values, and the gradient buffers the backward pass cycles through.
struct Arena {
    batch: usize,
    input: Vec<f32>,
    acts: Vec<Vec<f32>>,
    bn: Vec<BnCache>,
    pooled: Vec<f32>,
    /// Gradients of a unit's output, of its pre-normalisation value, of its input, and of a
    /// residual block's output (for its shortcut), each as long as the largest tensor.
    grads: [Vec<f32>; 4],
}

impl Arena {
    fn new(batch: usize, input_len: usize, units: &[Unit]) -> Arena {
        let largest = units.iter().map(|u| u.geom.out_len().max(u.geom.n * u.geom.h * u.geom.w * u.geom.cin));
        let largest = largest.max().unwrap_or(0).max(input_len);
        Arena {
            batch,
            input: vec![0.0; input_len],
            acts: units.iter().map(|u| vec![0.0; u.geom.out_len()]).collect(),
            bn: vec![BnCache::default(); units.len()],
            pooled: Vec::new(),
            grads: std::array::from_fn(|_| vec![0.0; largest]),
        }
    }
}

/// What a detector's forward pass keeps for its backward pass, by unit: the input and the
/// batch-norm statistics (with the normalised values, from which ReLU6's gradient follows).
pub struct Cache {
    inputs: Vec<Vec<f32>>,
    bn: Vec<BnCache>,
}

impl Cache {
    pub(crate) fn new(units: usize) -> Cache {
        Cache { inputs: vec![Vec::new(); units], bn: vec![BnCache::default(); units] }
    }
}

impl TrainNet {
    /// The network for `arch` with PyTorch's padding (symmetric, `k / 2`), all parameters zero.
    pub fn new(arch: Arch, batch: usize) -> TrainNet {
        TrainNet::with_padding(arch, batch, false)
    }

    /// As [`TrainNet::new`]; `tf_same` selects TensorFlow's "same" padding (for TFLite weights).
    /// Units and parameters are named as torchvision names them (`features.3.conv.1.0`).
    /// The units of bottleneck `b` (expansion, depthwise, projection), named as torchvision
    /// names them; `g` makes a unit's geometry (see [`TrainNet::with_padding`]).
    fn add_block(&mut self, b: &Bottleneck, g: &impl Fn((u32, u32), (u32, u32), usize, u32, u32) -> ConvGeom) {
        let first = self.units.len();
        let f = format!("features.{}.conv", b.index);
        let (dw_in, dw_out) = b.depthwise_shapes();
        let mut j = 0;
        if b.has_expand() {
            let geom = g((b.input.h, b.input.w), (b.input.c, b.hidden), 1, 1, 1);
            self.add_unit(ConvKind::Pointwise, geom, true, format!("{f}.0.0"), format!("{f}.0.1"));
            j = 1;
        }
        let geom = g((dw_in.h, dw_in.w), (b.hidden, b.hidden), 3, b.stride, b.dilation);
        self.add_unit(ConvKind::Depthwise, geom, true, format!("{f}.{j}.0"), format!("{f}.{j}.1"));
        let geom = g((dw_out.h, dw_out.w), (b.hidden, b.out), 1, 1, 1);
        self.add_unit(ConvKind::Pointwise, geom, false, format!("{f}.{}", j + 1), format!("{f}.{}", j + 2));
        self.blocks.push((first, self.units.len() - first, b.residual));
    }

    pub fn with_padding(arch: Arch, batch: usize, tf_same: bool) -> TrainNet {
        // The architecture says how its convolutions pad, and so does the model made from it.
        let padding = if tf_same { mnv2_arch::Padding::TensorFlowSame } else { mnv2_arch::Padding::Symmetric };
        let arch = arch.with_padding(padding);
        let mut net = TrainNet {
            arch,
            units: Vec::new(),
            blocks: Vec::new(),
            params: Params::default(),
            running: Running::default(),
            fc_w: 0,
            fc_b: 0,
            head_unit: 0,
            momentum: 0.1,
            replicas: Arc::new(Alone),
            arena: None,
            spare_grads: None,
        };
        let g = |(h, w): (u32, u32), (cin, cout): (u32, u32), k: usize, stride: u32, dilation: u32| ConvGeom {
            n: batch,
            h: h as usize,
            w: w as usize,
            cin: cin as usize,
            cout: cout as usize,
            k,
            stride: stride as usize,
            pad: if k == 3 { dilation as usize } else { 0 },
            dilation: dilation as usize,
            tf_same,
        };
        for layer in arch.layers() {
            match layer {
                Layer::Stem(c) => {
                    let geom = g((c.input.h, c.input.w), (3, c.output.c), 3, c.stride, 1);
                    net.add_unit(ConvKind::Full, geom, true, "features.0.0".into(), "features.0.1".into());
                }
                Layer::Bottleneck(b) => net.add_block(&b, &g),
                Layer::Head(c) => {
                    let geom = g((c.input.h, c.input.w), (c.input.c, c.output.c), 1, 1, 1);
                    net.add_unit(ConvKind::Pointwise, geom, true, "features.18.0".into(), "features.18.1".into());
                }
                Layer::Pool { .. } => {}
                Layer::Classifier(c) => {
                    let (cin, cout) = (c.input.c as usize, c.output.c as usize);
                    net.fc_w = net.params.add("classifier.1.weight".into(), vec![0.0; cin * cout]);
                    net.fc_b = net.params.add("classifier.1.bias".into(), vec![0.0; cout]);
                }
            }
        }
        net.head_unit = net.units.len() - 1;
        net
    }

    /// Trains data-parallel across `replicas`: this network holds one shard of each batch (its
    /// batch size is the shard's), batch norms use the whole batch's statistics, and the weight
    /// gradients are the whole batch's.
    pub fn set_replicas(&mut self, replicas: Arc<dyn Replicas>) {
        self.replicas = replicas;
    }

    /// The processes that share each batch.
    pub fn replicas(&self) -> &dyn Replicas {
        &*self.replicas
    }

    /// Appends a conv + batch norm unit named `conv_name` and `bn_name` (weights zero, batch norm
    /// the identity) and returns its index: the one way units are made.
    fn add_unit(&mut self, kind: ConvKind, geom: ConvGeom, relu6: bool, conv_name: String, bn_name: String) -> usize {
        let wlen = match kind {
            ConvKind::Full => geom.cout * geom.k * geom.k * geom.cin,
            ConvKind::Depthwise => geom.k * geom.k * geom.cin,
            ConvKind::Pointwise => geom.cout * geom.cin,
        };
        let w = self.params.add(format!("{conv_name}.weight"), vec![0.0; wlen]);
        let gamma = self.params.add(format!("{bn_name}.weight"), vec![1.0; geom.cout]);
        let beta = self.params.add(format!("{bn_name}.bias"), vec![0.0; geom.cout]);
        self.running.mean.push(vec![0.0; geom.cout]);
        self.running.var.push(vec![1.0; geom.cout]);
        let bn = self.running.mean.len() - 1;
        self.units.push(Unit { kind, geom, relu6, w, gamma, beta, bn, conv_name, bn_name });
        self.units.len() - 1
    }

    /// Appends a unit named `name` with its batch norm `name.bn` (a detector's extra layers).
    pub(crate) fn push_unit(&mut self, kind: ConvKind, geom: ConvGeom, relu6: bool, name: &str) -> usize {
        self.add_unit(kind, geom, relu6, name.into(), format!("{name}.bn"))
    }

    /// Adds a plain parameter tensor and returns its index.
    pub(crate) fn push_param(&mut self, name: String, value: Vec<f32>) -> usize {
        self.params.add(name, value)
    }

    /// Unit `i` alone on `x` (a detector's units): in training mode with its input and
    /// statistics kept in `cache` when given.
    pub(crate) fn unit_step(&mut self, i: usize, x: &[f32], train: bool, cache: Option<&mut Cache>) -> Vec<f32> {
        let mut y = vec![0.0; self.units[i].geom.out_len()];
        let mut bn = BnCache::default();
        let mode = if train { Mode::Train } else { Mode::Eval };
        self.unit_in_mode(i, x, &mut y, &mut bn, mode);
        if let Some(cache) = cache {
            cache.inputs[i] = x.to_vec();
            cache.bn[i] = bn;
        }
        y
    }

    /// Calibrates unit `i`'s batch norm on `x` (see [`TrainNet::calibrate_batch_norms`]) and
    /// returns its training-mode output.
    pub(crate) fn unit_calibrate_step(&mut self, i: usize, x: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0; self.units[i].geom.out_len()];
        self.unit_in_mode(i, x, &mut y, &mut BnCache::default(), Mode::Calibrate);
        y
    }

    /// Unit `i` on `x` into `y` in `mode`: training updates the running statistics (moved out
    /// while the unit borrows the network); calibration sets the batch norm first and leaves them
    /// alone; evaluation reads them.
    fn unit_in_mode(&mut self, i: usize, x: &[f32], y: &mut [f32], bn: &mut BnCache, mode: Mode) {
        match mode {
            Mode::Calibrate => {
                self.calibrate_unit(i, x);
                self.unit_forward(i, x, y, Some(bn), &mut self.running.clone());
            }
            Mode::Train => {
                let mut running = std::mem::take(&mut self.running);
                self.unit_forward(i, x, y, Some(bn), &mut running);
                self.running = running;
            }
            Mode::Eval => self.unit_forward(i, x, y, None, &mut Running::default()),
        }
    }

    /// He-normal weights (std sqrt(2 / fan_in)) for unit `i`, batch norm at scale 1, shift 0.
    pub(crate) fn init_unit(&mut self, i: usize, normal: &mut impl FnMut() -> f32) {
        let u = &self.units[i];
        let fan_in = match u.kind {
            ConvKind::Full => u.geom.k * u.geom.k * u.geom.cin,
            ConvKind::Depthwise => u.geom.k * u.geom.k,
            ConvKind::Pointwise => u.geom.cin,
        };
        let std = (2.0 / fan_in as f32).sqrt();
        self.params.tensors[u.w].iter_mut().for_each(|v| *v = normal() * std);
        self.params.tensors[u.gamma].fill(1.0);
        self.params.tensors[u.beta].fill(0.0);
    }

    /// Random initialisation for training from scratch: He-normal convolutions (std
    /// sqrt(2 / fan_in)), batch norms at scale 1 and shift 0, the classifier at N(0, 0.01).
    pub fn init_random(&mut self, seed: u64) {
        let mut rng = crate::data::Rng(seed);
        let mut normal = move || {
            let (u1, u2) = (rng.uniform().max(1e-7), rng.uniform());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
        };
        for i in 0..self.units.len() {
            self.init_unit(i, &mut normal);
        }
        self.params.tensors[self.fc_w].iter_mut().for_each(|v| *v = normal() * 0.01);
        self.params.tensors[self.fc_b].fill(0.0);
    }

    /// Unit `i` forward into `y`: the convolution, then the batch norm in place, with the batch's
    /// statistics (kept in `bn`, folded into `running`) when `bn` is given, else the running
    /// ones; then ReLU6.
    pub(crate) fn unit_forward(
        &self,
        i: usize,
        x: &[f32],
        y: &mut [f32],
        bn: Option<&mut BnCache>,
        running: &mut Running,
    ) {
        let u = &self.units[i];
        let p = &self.params.tensors;
        let c = u.geom.cout;
        self.conv(i, x, y);
        match bn {
            // In training mode the batch norm's pass applies the ReLU6 too.
            Some(bc) => {
                bn_train_forward_in_place(bc, y, &p[u.gamma], &p[u.beta], c, u.relu6, &*self.replicas);
                let m = self.momentum;
                for ch in 0..c {
                    running.mean[u.bn][ch] = (1.0 - m) * running.mean[u.bn][ch] + m * bc.mean[ch];
                    running.var[u.bn][ch] = (1.0 - m) * running.var[u.bn][ch] + m * bc.var_unbiased[ch];
                }
            }
            None => {
                bn_eval_in_place(y, &p[u.gamma], &p[u.beta], &self.running.mean[u.bn], &self.running.var[u.bn], c);
                if u.relu6 {
                    relu6_forward(y);
                }
            }
        }
    }

    /// Forward pass over `batch` NHWC images: the logits. In training mode batch norms use batch
    /// statistics (and update the running ones) and everything [`TrainNet::backward`] needs
    /// stays in the network's memory.
    pub fn forward(&mut self, input: &[f32], batch: usize, train: bool) -> Vec<f32> {
        self.run(input, batch, if train { Mode::Train } else { Mode::Eval })
    }

    /// After a forward pass, each unit's output (a residual block's last unit after its
    /// shortcut was added) and the pooled features, batch-major NHWC; None before any.
    pub fn activations(&self) -> Option<(&[Vec<f32>], &[f32])> {
        self.arena.as_ref().map(|a| (a.acts.as_slice(), a.pooled.as_slice()))
    }

    /// Data-dependent initialisation for weights that had batch norm folded in (TFLite models):
    /// every batch norm gets the scale and shift that make its training-mode output on this batch
    /// equal to the folded network's (`gamma = std`, `beta = bias + mean`), and the same running
    /// statistics, so fine-tuning starts from the pretrained function.
    pub fn calibrate_batch_norms(&mut self, input: &[f32], batch: usize) {
        self.run(input, batch, Mode::Calibrate);
    }

    /// The classifier's units in order, each reading the previous one's output in the arena; a
    /// residual block's shortcut added into its last output.
    fn run(&mut self, input: &[f32], batch: usize, mode: Mode) -> Vec<f32> {
        let arena = self.arena.take().filter(|a| a.batch == batch);
        let mut a = arena.unwrap_or_else(|| Box::new(Arena::new(batch, input.len(), &self.units)));
        a.input.copy_from_slice(input);
        let Arena { input, acts, bn, .. } = &mut *a;
        let mut block = 0;
        for i in 0..=self.head_unit {
            let (before, rest) = acts.split_at_mut(i);
            let x: &[f32] = if i == 0 { input } else { &before[i - 1] };
            self.unit_in_mode(i, x, &mut rest[0], &mut bn[i], mode);
            if let Some(&(first, count, residual)) = self.blocks.get(block)
                && i == first + count - 1
            {
                if residual {
                    rest[0].iter_mut().zip(&before[first - 1]).for_each(|(y, x)| *y += x);
                }
                block += 1;
            }
        }
        let c = self.units[self.head_unit].geom.cout;
        let mut pooled = vec![0.0; batch * c];
        avgpool_forward(&mut pooled, &a.acts[self.head_unit], batch, c);
        let classes = self.arch.classes as usize;
        let mut logits = vec![0.0; batch * classes];
        matmul(&pooled, batch, c, &transpose(&self.params.tensors[self.fc_w], classes, c), classes, &mut logits);
        for row in logits.chunks_exact_mut(classes) {
            row.iter_mut().zip(&self.params.tensors[self.fc_b]).for_each(|(a, b)| *a += b);
        }
        a.pooled = pooled;
        self.arena = Some(a);
        logits
    }

    /// Unit `i`'s convolution alone of `x` into `y` (before its batch norm).
    fn conv(&self, i: usize, x: &[f32], y: &mut [f32]) {
        let (u, p) = (&self.units[i], &self.params.tensors);
        match u.kind {
            ConvKind::Full => conv_forward(y, x, &p[u.w], &u.geom),
            ConvKind::Depthwise => dw_forward(y, x, &p[u.w], &u.geom),
            ConvKind::Pointwise => pointwise_forward(y, x, &p[u.w], u.geom.cin, u.geom.cout),
        }
    }

    /// Sets unit `i`'s batch norm so that, on input `x`, training mode reproduces `conv + beta`.
    pub(crate) fn calibrate_unit(&mut self, i: usize, x: &[f32]) {
        let u = &self.units[i];
        let (gamma, beta, bn, c) = (u.gamma, u.beta, u.bn, u.geom.cout);
        let mut z = vec![0.0; u.geom.out_len()];
        self.conv(i, x, &mut z);
        let mut stats = BnCache::default();
        bn_train_forward_in_place(&mut stats, &mut z, &vec![1.0; c], &vec![0.0; c], c, false, &*self.replicas);
        for ch in 0..c {
            let std = 1.0 / stats.inv_std[ch];
            self.params.tensors[gamma][ch] = std;
            self.params.tensors[beta][ch] += stats.mean[ch];
            self.running.mean[bn][ch] = stats.mean[ch];
            // The batch's own (biased) variance: evaluation then reproduces this batch exactly.
            self.running.var[bn][ch] = std * std - BN_EPS;
        }
    }

    /// Loss and gradients of one training batch (cross entropy with `smoothing`): the mean loss
    /// of these images, the logits and the gradients of the whole batch's mean loss (this shard's
    /// and every other replica's).
    pub fn loss_and_grads(&mut self, input: &[f32], labels: &[usize], smoothing: f32) -> (f32, Vec<f32>, Grads) {
        let batch = labels.len();
        let logits = self.forward(input, batch, true);
        let classes = self.arch.classes as usize;
        let mut dlogits = vec![0.0; logits.len()];
        let whole = batch * self.replicas.count();
        let loss = cross_entropy_part(&logits, labels, classes, smoothing, whole, &mut dlogits);
        let grads = self.backward(&dlogits);
        (loss, logits, grads)
    }

    /// Gradients shaped as the parameters, all zero (the last step's memory where it was handed
    /// back).
    pub(crate) fn zero_grads(&mut self) -> Grads {
        match self.spare_grads.take() {
            Some(mut g) => {
                g.tensors.iter_mut().for_each(|t| t.fill(0.0));
                g
            }
            None => Params {
                names: self.params.names.clone(),
                tensors: self.params.tensors.iter().map(|t| vec![0.0; t.len()]).collect(),
            },
        }
    }

    /// Hands a step's gradients back once the optimizer has used them: the next step fills the
    /// same memory.
    pub fn recycle(&mut self, grads: Grads) {
        if grads.tensors.len() == self.params.tensors.len() {
            self.spare_grads = Some(grads);
        }
    }

    /// Backward pass from dLoss/dlogits of the last training-mode [`TrainNet::forward`].
    pub fn backward(&mut self, dlogits: &[f32]) -> Grads {
        let mut g = self.zero_grads();
        let mut a = self.arena.take().expect("backward follows a training-mode forward");
        let p = &self.params.tensors;
        let (batch, classes) = (a.batch, self.arch.classes as usize);
        let head = self.head_unit;
        let c = self.units[head].geom.cout;
        // Classifier: logits = pooled W^T + b.
        weight_grad(&mut g.tensors[self.fc_w], dlogits, &a.pooled, classes, c);
        sum_rows(&mut g.tensors[self.fc_b], dlogits);
        self.replicas.sum_f32(&mut g.tensors[self.fc_w]);
        self.replicas.sum_f32(&mut g.tensors[self.fc_b]);
        let mut dpooled = vec![0.0; batch * c];
        matmul(dlogits, batch, classes, p[self.fc_w].as_slice(), c, &mut dpooled);
        let Arena { input, acts, bn, grads: [dy, dz, dx, skip], .. } = &mut *a;
        let len = acts[head].len();
        avgpool_backward(&mut dy[..len], &dpooled, batch, c);
        // Units in reverse, the gradient of each one's input becoming its predecessor's `dy`; a
        // residual block's shortcut adds its output gradient to its input's.
        let mut block = self.blocks.len();
        let mut skipping = None;
        for i in (0..=head).rev() {
            if block > 0 && i == self.blocks[block - 1].0 + self.blocks[block - 1].1 - 1 {
                let (first, _, residual) = self.blocks[block - 1];
                skipping = residual.then(|| {
                    skip[..acts[i].len()].copy_from_slice(&dy[..acts[i].len()]);
                    first
                });
            }
            let x: &[f32] = if i == 0 { input } else { &acts[i - 1] };
            let dx_i = (i > 0).then(|| &mut dx[..x.len()]);
            let len = acts[i].len();
            self.unit_backward(i, x, &mut dy[..len], &mut dz[..len], dx_i, &bn[i], &mut g);
            std::mem::swap(dy, dx);
            if skipping == Some(i) {
                dy[..x.len()].iter_mut().zip(&skip[..x.len()]).for_each(|(a, b)| *a += b);
                skipping = None;
            }
            if block > 0 && i == self.blocks[block - 1].0 {
                block -= 1;
            }
        }
        self.arena = Some(a);
        g
    }

    /// Unit `i` backward: from `dy`, the gradient of its output (its input `x`), the gradients
    /// of its parameters into `g` (zero before) and, when `dx` is given, of its input; `dz` is
    /// scratch of `dy`'s length. The batch norm's pass applies ReLU6's gradient too.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn unit_backward(
        &self,
        i: usize,
        x: &[f32],
        dy: &mut [f32],
        dz: &mut [f32],
        dx: Option<&mut [f32]>,
        bn: &BnCache,
        g: &mut Grads,
    ) {
        let u = &self.units[i];
        let p = &self.params.tensors;
        let (mut dgamma, mut dbeta) = (std::mem::take(&mut g.tensors[u.gamma]), std::mem::take(&mut g.tensors[u.beta]));
        // The batch-norm sums are the whole batch's already; the weight gradient is added across
        // replicas below.
        let affine = (p[u.gamma].as_slice(), p[u.beta].as_slice());
        bn_train_backward(dz, &mut dgamma, &mut dbeta, dy, bn, affine, u.relu6, &*self.replicas);
        (g.tensors[u.gamma], g.tensors[u.beta]) = (dgamma, dbeta);
        let dw = &mut g.tensors[u.w];
        match (u.kind, dx) {
            (ConvKind::Full, dx) => conv_backward(dx, dw, dz, x, &p[u.w], &u.geom),
            (ConvKind::Depthwise, Some(dx)) => dw_backward(dx, dw, dz, x, &p[u.w], &u.geom),
            (ConvKind::Pointwise, Some(dx)) => pointwise_backward(dx, dw, dz, x, &p[u.w], u.geom.cin, u.geom.cout),
            (_, None) => unreachable!("only the stem's input needs no gradient"),
        }
        self.replicas.sum_f32(&mut g.tensors[u.w]);
    }

    /// A detector's unit backward on its cache: the gradient of unit `i`'s input from `dy`.
    pub(crate) fn cached_unit_backward(&self, i: usize, mut dy: Vec<f32>, cache: &Cache, g: &mut Grads) -> Vec<f32> {
        let x = &cache.inputs[i];
        let mut dz = vec![0.0; dy.len()];
        let mut dx = vec![0.0; x.len()];
        let dx_i = (i > 0).then_some(&mut dx[..]);
        self.unit_backward(i, x, &mut dy, &mut dz, dx_i, &cache.bn[i], g);
        dx
    }
}
