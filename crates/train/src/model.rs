//! The trainable network: MobileNetV2 from an `Arch` as a list of conv + batch-norm units, with
//! parameters, running statistics, a cached forward and the backward pass.

use mnv2_arch::{Arch, Layer};

use crate::layers::*;
use crate::loss::cross_entropy;

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Eval,
    Train,
    Calibrate,
}

/// What the forward pass keeps for the backward pass.
pub struct Cache {
    batch: usize,
    inputs: Vec<Vec<f32>>,
    pre_act: Vec<Vec<f32>>,
    bn: Vec<BnCache>,
    head_out: Vec<f32>,
    pooled: Vec<f32>,
}

impl Cache {
    pub(crate) fn new(batch: usize) -> Cache {
        Cache { batch, inputs: vec![], pre_act: vec![], bn: vec![], head_out: vec![], pooled: vec![] }
    }
}

impl TrainNet {
    /// The network for `arch` with PyTorch's padding (symmetric, `k / 2`), all parameters zero.
    pub fn new(arch: Arch, batch: usize) -> TrainNet {
        TrainNet::with_padding(arch, batch, false)
    }

    /// As [`TrainNet::new`]; `tf_same` selects TensorFlow's "same" padding (for TFLite weights).
    /// Units and parameters are named as torchvision names them (`features.3.conv.1.0`).
    pub fn with_padding(arch: Arch, batch: usize, tf_same: bool) -> TrainNet {
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
                Layer::Bottleneck(b) => {
                    let first = net.units.len();
                    let f = format!("features.{}.conv", b.index);
                    let (dw_in, dw_out) = b.depthwise_shapes();
                    let mut j = 0;
                    if b.has_expand() {
                        let geom = g((b.input.h, b.input.w), (b.input.c, b.hidden), 1, 1, 1);
                        net.add_unit(ConvKind::Pointwise, geom, true, format!("{f}.0.0"), format!("{f}.0.1"));
                        j = 1;
                    }
                    let geom = g((dw_in.h, dw_in.w), (b.hidden, b.hidden), 3, b.stride, b.dilation);
                    net.add_unit(ConvKind::Depthwise, geom, true, format!("{f}.{j}.0"), format!("{f}.{j}.1"));
                    let geom = g((dw_out.h, dw_out.w), (b.hidden, b.out), 1, 1, 1);
                    net.add_unit(ConvKind::Pointwise, geom, false, format!("{f}.{}", j + 1), format!("{f}.{}", j + 2));
                    net.blocks.push((first, net.units.len() - first, b.residual));
                }
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

    /// One unit forward in training (batch statistics, running ones updated, cached for the
    /// backward pass when `cache` is given) or evaluation mode.
    pub(crate) fn unit_step(&mut self, i: usize, x: &[f32], train: bool, cache: Option<&mut Cache>) -> Vec<f32> {
        let u = self.units[i].clone();
        if !train {
            // Evaluation reads the running statistics and updates nothing.
            return self.unit_forward(&u, x, false, None, &mut Running::default());
        }
        let mut running = std::mem::take(&mut self.running);
        let y = self.unit_forward(&u, x, true, cache, &mut running);
        self.running = running;
        y
    }

    /// Calibrates unit `i`'s batch norm on `x` (see [`TrainNet::calibrate_batch_norms`]) and
    /// returns its training-mode output.
    pub(crate) fn unit_calibrate_step(&mut self, i: usize, x: &[f32]) -> Vec<f32> {
        let u = self.units[i].clone();
        self.calibrate_unit(&u, x);
        let mut scratch = self.running.clone();
        self.unit_forward(&u, x, true, None, &mut scratch)
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

    pub(crate) fn unit_forward(
        &self,
        u: &Unit,
        x: &[f32],
        train: bool,
        cache: Option<&mut Cache>,
        running: &mut Running,
    ) -> Vec<f32> {
        let z = self.conv(u, x);
        let p = &self.params.tensors;
        let c = u.geom.cout;
        let mut y = vec![0.0; z.len()];
        if train {
            let bc = bn_train_forward(&mut y, &z, &p[u.gamma], &p[u.beta], c);
            let m = self.momentum;
            for ch in 0..c {
                running.mean[u.bn][ch] = (1.0 - m) * running.mean[u.bn][ch] + m * bc.mean[ch];
                running.var[u.bn][ch] = (1.0 - m) * running.var[u.bn][ch] + m * bc.var_unbiased[ch];
            }
            if let Some(cache) = cache {
                cache.inputs.push(x.to_vec());
                cache.bn.push(bc);
                cache.pre_act.push(if u.relu6 { y.clone() } else { Vec::new() });
            }
        } else {
            bn_eval_forward(&mut y, &z, &p[u.gamma], &p[u.beta], &self.running.mean[u.bn], &self.running.var[u.bn], c);
        }
        if u.relu6 {
            relu6_forward(&mut y);
        }
        y
    }

    /// Forward pass over `batch` NHWC images. In training mode batch norms use batch statistics
    /// (and update the running ones) and the returned cache feeds [`TrainNet::backward`].
    pub fn forward(&mut self, input: &[f32], batch: usize, train: bool) -> (Vec<f32>, Option<Cache>) {
        self.run(input, batch, if train { Mode::Train } else { Mode::Eval })
    }

    /// Data-dependent initialisation for weights that had batch norm folded in (TFLite models):
    /// every batch norm gets the scale and shift that make its training-mode output on this batch
    /// equal to the folded network's (`gamma = std`, `beta = bias + mean`), and the same running
    /// statistics, so fine-tuning starts from the pretrained function.
    pub fn calibrate_batch_norms(&mut self, input: &[f32], batch: usize) {
        self.run(input, batch, Mode::Calibrate);
    }

    fn run(&mut self, input: &[f32], batch: usize, mode: Mode) -> (Vec<f32>, Option<Cache>) {
        let train = mode != Mode::Eval;
        let mut cache = (mode == Mode::Train).then(|| Cache::new(batch));
        let step = |net: &mut TrainNet, i: usize, x: &[f32], cache: Option<&mut Cache>| -> Vec<f32> {
            let u = net.units[i].clone();
            if mode == Mode::Calibrate {
                net.calibrate_unit(&u, x);
                // Forward with the batch statistics, leaving the calibrated running ones alone.
                let mut scratch = net.running.clone();
                return net.unit_forward(&u, x, true, None, &mut scratch);
            }
            // Training updates the running statistics (moved out while the unit borrows `net`).
            let mut running = std::mem::take(&mut net.running);
            let y = if train {
                net.unit_forward(&u, x, true, cache, &mut running)
            } else {
                net.running = running;
                running = Running::default();
                net.unit_forward(&u, x, false, None, &mut running)
            };
            if train {
                net.running = running;
            }
            y
        };
        let mut x = step(self, 0, input, cache.as_mut());
        for b in 0..self.blocks.len() {
            let (first, count, residual) = self.blocks[b];
            let block_in = x.clone();
            for i in first..first + count {
                x = step(self, i, &x, cache.as_mut());
            }
            if residual {
                x.iter_mut().zip(&block_in).for_each(|(a, b)| *a += b);
            }
        }
        let last = self.head_unit;
        x = step(self, last, &x, cache.as_mut());
        let c = self.units[last].geom.cout;
        let mut pooled = vec![0.0; batch * c];
        avgpool_forward(&mut pooled, &x, batch, c);
        let classes = self.arch.classes as usize;
        let mut logits = vec![0.0; batch * classes];
        matmul(&pooled, batch, c, &transpose(&self.params.tensors[self.fc_w], classes, c), classes, &mut logits);
        for row in logits.chunks_exact_mut(classes) {
            row.iter_mut().zip(&self.params.tensors[self.fc_b]).for_each(|(a, b)| *a += b);
        }
        if let Some(cache) = cache.as_mut() {
            cache.head_out = x;
            cache.pooled = pooled;
        }
        (logits, cache)
    }

    /// The unit's convolution alone (before batch norm), on input `x`.
    fn conv(&self, u: &Unit, x: &[f32]) -> Vec<f32> {
        let p = &self.params.tensors;
        let mut z = vec![0.0; u.geom.out_len()];
        match u.kind {
            ConvKind::Full => conv_forward(&mut z, x, &p[u.w], &u.geom),
            ConvKind::Depthwise => dw_forward(&mut z, x, &p[u.w], &u.geom),
            ConvKind::Pointwise => pointwise_forward(&mut z, x, &p[u.w], u.geom.cin, u.geom.cout),
        }
        z
    }

    /// Sets one unit's batch norm so that, on input `x`, training mode reproduces `conv + beta`.
    pub(crate) fn calibrate_unit(&mut self, u: &Unit, x: &[f32]) {
        let z = self.conv(u, x);
        let c = u.geom.cout;
        let (ones, zeros) = (vec![1.0; c], vec![0.0; c]);
        let mut y = vec![0.0; z.len()];
        let stats = bn_train_forward(&mut y, &z, &ones, &zeros, c);
        for ch in 0..c {
            let std = 1.0 / stats.inv_std[ch];
            self.params.tensors[u.gamma][ch] = std;
            self.params.tensors[u.beta][ch] += stats.mean[ch];
            self.running.mean[u.bn][ch] = stats.mean[ch];
            // The batch's own (biased) variance: evaluation then reproduces this batch exactly.
            self.running.var[u.bn][ch] = std * std - BN_EPS;
        }
    }

    /// Loss and gradients of one training batch (cross entropy with `smoothing`).
    pub fn loss_and_grads(&mut self, input: &[f32], labels: &[usize], smoothing: f32) -> (f32, Vec<f32>, Grads) {
        let batch = labels.len();
        let (logits, cache) = self.forward(input, batch, true);
        let classes = self.arch.classes as usize;
        let mut dlogits = vec![0.0; logits.len()];
        let loss = cross_entropy(&logits, labels, classes, smoothing, &mut dlogits);
        let grads = self.backward(&dlogits, cache.expect("training cache"));
        (loss, logits, grads)
    }

    /// Backward pass from dLoss/dlogits.
    pub fn backward(&self, dlogits: &[f32], mut cache: Cache) -> Grads {
        let p = &self.params.tensors;
        let mut g =
            Params { names: self.params.names.clone(), tensors: p.iter().map(|t| vec![0.0; t.len()]).collect() };
        let batch = cache.batch;
        let classes = self.arch.classes as usize;
        let head = &self.units[self.head_unit];
        let c = head.geom.cout;
        // Classifier: logits = pooled W^T + b.
        let mut dw = vec![0.0; classes * c];
        matmul(&transpose(dlogits, batch, classes), classes, batch, &cache.pooled, c, &mut dw);
        g.tensors[self.fc_w] = dw;
        for row in dlogits.chunks_exact(classes) {
            g.tensors[self.fc_b].iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        let mut dpooled = vec![0.0; batch * c];
        matmul(dlogits, batch, classes, p[self.fc_w].as_slice(), c, &mut dpooled);
        let mut dx = vec![0.0; cache.head_out.len()];
        avgpool_backward(&mut dx, &dpooled, batch, c);
        // Units in reverse; blocks' shortcuts add their output gradient to their input's.
        dx = self.unit_backward(self.head_unit, dx, &mut cache, &mut g);
        for &(first, count, residual) in self.blocks.iter().rev() {
            let dout = dx.clone();
            for i in (first..first + count).rev() {
                dx = self.unit_backward(i, dx, &mut cache, &mut g);
            }
            if residual {
                dx.iter_mut().zip(&dout).for_each(|(a, b)| *a += b);
            }
        }
        self.unit_backward(0, dx, &mut cache, &mut g);
        g
    }

    pub(crate) fn unit_backward(&self, i: usize, mut dy: Vec<f32>, cache: &mut Cache, g: &mut Grads) -> Vec<f32> {
        let u = &self.units[i];
        let p = &self.params.tensors;
        let x = std::mem::take(&mut cache.inputs[i]);
        if u.relu6 {
            relu6_backward(&mut dy, &cache.pre_act[i]);
        }
        let mut dz = vec![0.0; dy.len()];
        let (mut dgamma, mut dbeta) = (vec![0.0; u.geom.cout], vec![0.0; u.geom.cout]);
        bn_train_backward(&mut dz, &mut dgamma, &mut dbeta, &dy, &cache.bn[i], &p[u.gamma], u.geom.cout);
        g.tensors[u.gamma] = dgamma;
        g.tensors[u.beta] = dbeta;
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; p[u.w].len()];
        match u.kind {
            // The network's input needs no gradient.
            ConvKind::Full if i == 0 => conv_backward(None, &mut dw, &dz, &x, &p[u.w], &u.geom),
            ConvKind::Full => conv_backward(Some(&mut dx), &mut dw, &dz, &x, &p[u.w], &u.geom),
            ConvKind::Depthwise => dw_backward(&mut dx, &mut dw, &dz, &x, &p[u.w], &u.geom),
            ConvKind::Pointwise => pointwise_backward(&mut dx, &mut dw, &dz, &x, &p[u.w], u.geom.cin, u.geom.cout),
        }
        g.tensors[u.w] = dw;
        dx
    }
}
