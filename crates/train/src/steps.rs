//! The step loop of a network trained end to end (a classifier or a detector): batches made on a
//! worker thread two ahead of the compute (each process of a data-parallel run making its
//! shard), the gradients of the task's loss, one optimizer update per parameter on the
//! learning-rate schedule (weight decay where it applies, frozen parameters left alone) and the
//! moving average of the weights. The state it keeps between steps (the optimizer's moments, the
//! average) is saved and loaded with the network by [`NetSteps::save`].

use crate::data::Rng;
use crate::optim::{Optimizer, Schedule, State, ema_update, learning_rate, step};
use crate::replicas::{Replicas, shard, shard_size};
use crate::trainer::{EpochTrained, Metric, Progress, Saved};
use crate::{Grads, Params, TrainError, TrainNet};
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// Where the batches of an epoch come from.
pub trait Batches: Sync {
    type Batch: Send;
    /// Training examples; an epoch is `len / batch` full batches of a shuffled order.
    fn examples(&self) -> usize;
    /// Whether every example draws from its own generator seeded from the run's (batches, and
    /// the shards of a batch, can be made apart from each other) or all of them from the run's
    /// generator, in order (such a task trains in one process only).
    const SEEDED: bool;
    /// The batch of examples `items`; `rngs` holds each example's generator (SEEDED), else the
    /// run's one generator.
    fn make(&self, items: &[usize], rngs: &mut [Rng]) -> Result<Self::Batch, TrainError>;
}

/// A network whose parameters the step loop updates.
pub trait Trainable {
    fn params_mut(&mut self) -> &mut Params;
    /// The processes that share each batch.
    fn replicas(&self) -> &dyn Replicas {
        &crate::replicas::Alone
    }
    /// Takes back a step's gradients once the optimizer has used them (their memory serves the
    /// next step).
    fn recycle(&mut self, grads: Grads);
}

impl Trainable for TrainNet {
    fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    fn replicas(&self) -> &dyn Replicas {
        TrainNet::replicas(self)
    }
    fn recycle(&mut self, grads: Grads) {
        TrainNet::recycle(self, grads)
    }
}

impl Trainable for crate::ssd::TrainSsd {
    fn params_mut(&mut self) -> &mut Params {
        &mut self.net.params
    }
    fn recycle(&mut self, grads: Grads) {
        self.net.recycle(grads)
    }
}

/// What the optimizer does with one parameter tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Updated with weight decay (convolution and classifier weights).
    Decay,
    /// Updated without weight decay (batch-norm scales and shifts, biases).
    NoDecay,
    /// Not updated (a classifier a detector does not use).
    Frozen,
}

/// The optimizer settings of a run.
#[derive(Debug, Clone, Copy)]
pub struct Hyper {
    pub optimizer: Optimizer,
    pub lr: f32,
    pub schedule: Schedule,
    /// Linear warm-up of the learning rate over this many epochs.
    pub warmup: f32,
    pub weight_decay: f32,
    /// Decay of the moving average of the weights (None: no average).
    pub ema: Option<f32>,
    pub batch: usize,
}

/// The step loop's state: the optimizer's per-tensor moments and the weights' moving average.
pub struct NetSteps {
    pub hyper: Hyper,
    pub rules: Vec<Rule>,
    pub states: Vec<State>,
    pub ema: Option<Vec<Vec<f32>>>,
}

impl NetSteps {
    /// The loop for parameters treated by `rules` (one per tensor).
    pub fn new(hyper: Hyper, rules: Vec<Rule>) -> NetSteps {
        NetSteps { hyper, states: vec![State::default(); rules.len()], rules, ema: None }
    }

    /// One epoch over `data`: shuffles with `rng`, then for each batch calls `grads` (the
    /// gradients and the batch's sums of each figure of `train`) and updates `params`. Returns
    /// the images seen and each figure's mean. Data-parallel, each process makes and passes
    /// `grads` its shard of every batch (the gradients are the whole batch's) and the figures
    /// are summed over processes.
    #[allow(clippy::too_many_arguments)]
    pub fn epoch<N: Trainable, B: Batches>(
        &mut self,
        net: &mut N,
        data: &B,
        (epoch, epochs): (usize, usize),
        rng: &mut Rng,
        (train, progress): (&[Metric], &mut dyn Progress),
        mut grads: impl FnMut(&mut N, B::Batch) -> (Grads, Vec<f64>),
    ) -> Result<EpochTrained, TrainError> {
        if self.hyper.ema.is_some() && self.ema.is_none() {
            self.ema = Some(net.params_mut().tensors.clone());
        }
        let batch = self.hyper.batch;
        let batches = data.examples() / batch;
        let (count, index) = (net.replicas().count(), net.replicas().index());
        if count > 1 && !B::SEEDED {
            return Err(TrainError::Data("this task trains in one process".into()));
        }
        shard_size(batch, count)?;
        let mine = shard(batch, count, index);
        let mut order: Vec<usize> = (0..data.examples()).collect();
        rng.shuffle(&mut order);
        // One generator per example: a process makes its shard's examples as one process would.
        let seeds: Vec<u64> =
            if B::SEEDED { (0..batches * batch).map(|_| rng.next_u64()).collect() } else { Vec::new() };
        let (t0, mut seen, mut sums) = (Instant::now(), 0, vec![0f64; train.len()]);
        progress.start(batches, &format!("epoch {}/{epochs}", epoch + 1));
        std::thread::scope(|scope| -> Result<(), TrainError> {
            let (tx, rx) = sync_channel::<Result<B::Batch, TrainError>>(2);
            let (order, seeds) = (&order, &seeds);
            scope.spawn(move || {
                for b in 0..batches {
                    let at = b * batch + mine.start..b * batch + mine.end;
                    let made = if B::SEEDED {
                        let mut rngs: Vec<Rng> = seeds[at.clone()].iter().map(|&s| Rng(s)).collect();
                        data.make(&order[at], &mut rngs)
                    } else {
                        data.make(&order[at], std::slice::from_mut(rng))
                    };
                    if tx.send(made).is_err() {
                        return;
                    }
                }
            });
            for b in 0..batches {
                let made = rx.recv().map_err(|_| TrainError::Data("the data worker stopped".into()))??;
                let (g, mut batch_sums) = grads(net, made);
                net.replicas().sum_f64(&mut batch_sums);
                let lr = learning_rate(
                    self.hyper.lr,
                    self.hyper.schedule,
                    epoch as f32 + b as f32 / batches as f32,
                    self.hyper.warmup,
                );
                self.update(net.params_mut(), &g, lr);
                net.recycle(g);
                sums.iter_mut().zip(&batch_sums).for_each(|(s, v)| *s += v);
                seen += batch;
                let status: Vec<String> =
                    train.iter().zip(&sums).map(|(m, s)| format!("{} {}", m.label, m.show(s / seen as f64))).collect();
                let rate = seen as f64 / t0.elapsed().as_secs_f64();
                progress.advance(1, &format!("{} {rate:.1} img/s", status.join(" ")));
                if progress.cancelled() {
                    return Err(TrainError::Cancelled);
                }
            }
            Ok(())
        })?;
        progress.finish();
        Ok(EpochTrained { seen, means: sums.iter().map(|s| s / seen.max(1) as f64).collect() })
    }

    /// One optimizer update of every parameter not frozen, and of the moving average.
    fn update(&mut self, params: &mut Params, grads: &Grads, lr: f32) {
        let h = self.hyper;
        for (i, g) in grads.tensors.iter().enumerate() {
            let wd = match self.rules[i] {
                Rule::Frozen => continue,
                Rule::Decay => h.weight_decay,
                Rule::NoDecay => 0.0,
            };
            step(h.optimizer, &mut params.tensors[i], g, &mut self.states[i], lr, wd);
            if let (Some(e), Some(decay)) = (self.ema.as_mut(), h.ema) {
                ema_update(&mut e[i], &params.tensors[i], decay);
            }
        }
    }

    /// Runs `f` on `net` with the averaged weights in its parameters (the trained ones when
    /// there is no average), and puts the trained ones back.
    pub fn with_average<N: Trainable, T>(&self, net: &mut N, f: impl FnOnce(&N) -> T) -> T {
        let raw = self.ema.as_ref().map(|e| std::mem::replace(&mut net.params_mut().tensors, e.clone()));
        let out = f(net);
        if let Some(raw) = raw {
            net.params_mut().tensors = raw;
        }
        out
    }

    /// Saves `net`, the optimizer state, the average, `rng`, the epochs done and the options, as
    /// a safetensors file (written atomically).
    pub fn save(&self, path: &Path, net: &TrainNet, rng: Rng, epoch: usize, config: &str) -> Result<(), TrainError> {
        let mut tensors: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
        for (i, (name, t)) in net.params.names.iter().zip(&net.params.tensors).enumerate() {
            tensors.push((format!("param.{name}"), vec![t.len()], t));
            if let Some(e) = &self.ema {
                tensors.push((format!("ema.{name}"), vec![e[i].len()], &e[i]));
            }
            let s = &self.states[i];
            tensors.push((format!("first.{name}"), vec![s.first.len()], &s.first));
            tensors.push((format!("second.{name}"), vec![s.second.len()], &s.second));
        }
        for (i, (m, v)) in net.running.mean.iter().zip(&net.running.var).enumerate() {
            tensors.push((format!("running_mean.{i}"), vec![m.len()], m));
            tensors.push((format!("running_var.{i}"), vec![v.len()], v));
        }
        let steps: Vec<u64> = self.states.iter().map(|s| s.steps).collect();
        let meta = [
            ("epoch".to_string(), epoch.to_string()),
            ("rng".to_string(), rng.0.to_string()),
            ("steps".to_string(), serde_json::json!(steps).to_string()),
            ("config".to_string(), config.to_string()),
        ];
        let bytes = mnv2_import::safetensors::encode(&tensors, &meta.into_iter().collect());
        mnv2_import::safetensors::write_atomic(path, &bytes)?;
        Ok(())
    }

    /// Loads a state written by [`NetSteps::save`] into `net` and this loop (the average too
    /// when this run keeps one).
    pub fn load(&mut self, path: &Path, net: &mut TrainNet) -> Result<Saved, TrainError> {
        let bad = |why: String| TrainError::checkpoint(path, why);
        let bytes = mnv2_limits::read_file(path, 1 << 30, "a training checkpoint")
            .map_err(|e| bad(format!("nothing to resume from: {e}")))?;
        let (t, meta) = mnv2_import::safetensors::read(&bytes).map_err(|e| bad(e.to_string()))?;
        let steps: Vec<u64> =
            meta.get("steps").and_then(|s| serde_json::from_str(s).ok()).ok_or_else(|| bad("no steps".into()))?;
        let get = |key: String| t.get(&key).map(|x| x.data.clone()).ok_or_else(|| bad(format!("no tensor {key}")));
        let mut ema = Vec::new();
        for (i, name) in net.params.names.iter().enumerate() {
            net.params.tensors[i] = get(format!("param.{name}"))?;
            let (first, second) = (get(format!("first.{name}"))?, get(format!("second.{name}"))?);
            self.states[i] = State { first, second, steps: steps.get(i).copied().unwrap_or(0) };
            if self.hyper.ema.is_some() {
                ema.push(get(format!("ema.{name}"))?);
            }
        }
        for i in 0..net.running.mean.len() {
            net.running.mean[i] = get(format!("running_mean.{i}"))?;
            net.running.var[i] = get(format!("running_var.{i}"))?;
        }
        self.ema = self.hyper.ema.map(|_| ema);
        let rng = Rng(meta.get("rng").and_then(|s| s.parse().ok()).ok_or_else(|| bad("no rng".into()))?);
        let epoch = meta.get("epoch").and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok(Saved { epoch, rng, config: meta.get("config").cloned() })
    }
}
