//! A linear probe: only a new classifier trained, on the pooled features of a frozen backbone
//! (computed once, before the first epoch).

use super::ClassifierSettings;
use super::classifier::FIGURES;
use crate::engine::{ConvWeights, LayerWeights, Model, OutputKind, Tensor};
use crate::train::data::{ImageFolder, Rng};
use crate::train::optim::{Optimizer, Schedule};
use crate::train::probe::{Linear, ProbeConfig};
use crate::train::{EpochTrained, Figures, Progress, Saved, Task, TrainError};
use crate::{Classifier, Error, Options, Precision};
use serde_json::{Value, json};
use std::path::Path;

pub(super) struct ProbeTask {
    lin: Linear,
    cfg: ProbeConfig,
    /// Training and validation features (rows of `lin.dim`) and labels.
    train: (Vec<f32>, Vec<usize>),
    val: (Vec<f32>, Vec<usize>),
    backbone: Model,
    classes: Vec<String>,
    init: String,
}

impl ProbeTask {
    pub(super) fn new(
        s: &ClassifierSettings,
        train: &ImageFolder,
        val: &ImageFolder,
        progress: &mut dyn Progress,
    ) -> Result<ProbeTask, Error> {
        let init = s.init.as_ref().ok_or_else(|| Error::Input("a linear probe needs an initial model".into()))?;
        let options = Options { threads: s.run.threads, precision: Precision::F32, ..Options::default() };
        let mut backbone = Classifier::load(init, options)?;
        let started = std::time::Instant::now();
        let train_features = features(&mut backbone, train, "train features", progress)?;
        let val_features = features(&mut backbone, val, "val features", progress)?;
        progress.note(&format!("backbone features took {:.0} s", started.elapsed().as_secs_f64()));
        let dim = train_features.0.len() / train_features.1.len().max(1);
        let cfg = ProbeConfig {
            optimizer: Optimizer::parse(&s.run.optimizer)?,
            lr: s.run.lr,
            schedule: Schedule::parse(&s.run.schedule, s.run.epochs)?,
            warmup: 0.0,
            weight_decay: s.run.weight_decay,
            smoothing: s.label_smoothing,
            batch: s.run.batch,
        };
        Ok(ProbeTask {
            lin: Linear::zeros(dim, train.classes.len()),
            cfg,
            train: train_features,
            val: val_features,
            backbone: backbone.model().clone(),
            classes: train.classes.clone(),
            init: init.display().to_string(),
        })
    }
}

impl Task for ProbeTask {
    fn state_suffix(&self) -> &'static str {
        "state.json"
    }
    fn figures(&self) -> Figures {
        FIGURES
    }
    fn train_epoch(
        &mut self,
        epoch: usize,
        epochs: usize,
        rng: &mut Rng,
        progress: &mut dyn Progress,
    ) -> Result<EpochTrained, TrainError> {
        progress.start(1, &format!("epoch {}/{epochs}", epoch + 1));
        let (loss, accuracy) = self.lin.train_epoch(&self.train.0, &self.train.1, &self.cfg, epoch, rng);
        progress.advance(1, "");
        progress.finish();
        Ok(EpochTrained { seen: self.train.1.len(), means: vec![loss, accuracy] })
    }

    /// The backbone with the trained classifier and the new labels.
    fn model(&mut self) -> Model {
        let (lin, mut m) = (&self.lin, self.backbone.clone());
        m.arch.classes = lin.classes as u32;
        if let Some(LayerWeights::Classifier(w)) = m.layers.last_mut() {
            *w = ConvWeights {
                weights: Tensor::f32(vec![lin.classes, lin.dim], lin.w.clone()),
                bias: Tensor::f32(vec![lin.classes], lin.b.clone()),
                output: None,
            };
        }
        m.output = OutputKind::Logits;
        m.labels = Some(self.classes.clone());
        m
    }

    fn evaluate(&mut self, _model: &Model) -> Result<Vec<Option<f64>>, TrainError> {
        Ok(vec![Some(self.lin.accuracy(&self.val.0, &self.val.1))])
    }
    fn training_metadata(&self, epochs_done: usize) -> Value {
        json!({"epochs": epochs_done, "init": self.init, "mode": "frozen backbone"})
    }
    fn save_state(&self, path: &Path, rng: Rng, epochs_done: usize, config: &str) -> Result<(), TrainError> {
        self.lin.save_state(path, rng, epochs_done, config)
    }
    fn load_state(&mut self, path: &Path) -> Result<Saved, TrainError> {
        let (lin, saved) = Linear::load_state(path, self.lin.dim, self.lin.classes)?;
        self.lin = lin;
        Ok(saved)
    }
}

/// Pooled backbone features of every image of `set` (evaluation preprocessing) and its labels.
fn features(
    c: &mut Classifier,
    set: &ImageFolder,
    what: &str,
    progress: &mut dyn Progress,
) -> Result<(Vec<f32>, Vec<usize>), Error> {
    progress.start(set.items.len(), what);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for chunk in set.items.chunks(16) {
        let mut prepared = Vec::new();
        for (path, label) in chunk {
            prepared.push(c.preprocess(&mnv2_image::load_rgb(path)?)?.data);
            y.push(*label);
        }
        let refs: Vec<&[u8]> = prepared.iter().map(Vec::as_slice).collect();
        x.extend(c.features(&refs)?);
        progress.advance(chunk.len(), "");
    }
    progress.finish();
    Ok((x, y))
}
