//! SSDLite-MobileNetV2 trained from an ImageNet backbone (batch norms calibrated on the first
//! batch, head initialised at random) or from a detector, with anchor matching, hard-negative
//! mined sigmoid + smooth-L1 losses (or focal loss) and SSD augmentation. A seeded share of the
//! images is held out and scored every epoch (AP@0.5, COCO AP); their names go to
//! `OUT.holdout.txt` so `mnv2 eval-det --subset` can score them later.

use super::RunSettings;
use crate::engine::{InputSpec, Model, Task as ModelTask};
use crate::evaluate::{average_precision, detect_all};
use crate::heads::detect::{AnchorSpec, BoxCorners};
use crate::heads::ssd_targets::{encode, match_anchors};
use crate::image::Rgb8;
use crate::train::data::Rng;
use crate::train::detdata::{DetDataset, DetSample};
use crate::train::run_files::{num, path_value, sidecar};
use crate::train::ssd::TrainSsd;
use crate::train::ssd_augment::{Labelled, ssd_augment};
use crate::train::ssd_loss::{AnchorTarget, ClassLoss, ssd_loss};
use crate::train::{
    Batches, EpochTrained, Figures, Metric, NetSteps, Progress, Rule, Saved, Silent, Task, TrainError, TrainNet,
    Trainer,
};
use crate::{Detector, Error, Options};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Inputs scaled to [-1, 1], as the Object Detection API's MobileNet feature extractors expect.
const INPUT: InputSpec = InputSpec::uniform(127.5, 127.5);

/// What `mnv2 train-det` is told.
#[derive(Debug, Clone)]
pub struct DetectorSettings {
    /// A PennFudan-format folder or a COCO JSON file.
    pub data: PathBuf,
    /// The image folder of a COCO JSON file (default: the JSON file's folder).
    pub images: Option<PathBuf>,
    /// Fraction of the images held out for evaluation.
    pub holdout: f32,
    /// An ImageNet classifier or a detector to start from (None: the default classifier).
    pub init: Option<PathBuf>,
    pub resolution: u32,
    /// Zoom-out augmentation: up to this many times the image's size (1: off).
    pub zoom_out: f32,
    /// Sigmoid focal loss instead of hard negative mining.
    pub focal: bool,
    pub run: RunSettings,
}

impl DetectorSettings {
    /// The options that change the result (stored with the training state).
    fn task_config(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("data", path_value(&self.data)),
            ("images", self.images.as_deref().map_or(json!(null), path_value)),
            ("holdout", num(self.holdout)),
            ("init", self.init.as_deref().map_or(json!(null), path_value)),
            ("resolution", json!(self.resolution)),
            ("zoom_out", num(self.zoom_out)),
            ("focal", json!(self.focal)),
        ]
    }
}

/// Trains a detector as `s` says; returns the summary line (None when a resumed run had nothing
/// left to do, said through `progress`).
pub fn train_detector(s: &DetectorSettings, progress: &mut dyn Progress) -> Result<Option<String>, Error> {
    super::one_process(&s.run, "a detector")?;
    s.run.create_output_folder()?;
    let mut task = DetectorTask::new(s, progress)?;
    let options = s.run.run_options(&s.task_config());
    Ok(Trainer { options, progress }.run(&mut task)?)
}

struct DetectorTask {
    model: TrainSsd,
    steps: NetSteps,
    data: AugmentedBoxes,
    held_out: Vec<DetSample>,
    loss: ClassLoss,
    classes: Vec<String>,
    init: String,
    threads: usize,
}

impl DetectorTask {
    fn new(s: &DetectorSettings, progress: &mut dyn Progress) -> Result<DetectorTask, Error> {
        let data = DetDataset::open(&s.data, s.images.as_deref())?;
        let (train, held_out) = split(&data, s, progress)?;
        let init = match &s.init {
            Some(p) => p.clone(),
            None => crate::default_model_path()?,
        };
        let mut base = crate::import::load(&init)?;
        base.arch.resolution = s.resolution;
        let batch = s.run.batch;
        crate::Limits::global().check_memory(batch, crate::train::step_bytes(&base.arch, batch))?;
        let size = s.resolution as usize;
        let first: Vec<f32> = train[..batch].iter().flat_map(|(img, _)| normalise(img, size)).collect();
        let classes = data.classes.len();
        let model = match base.task {
            // Fine-tuning a detector (a new class count re-initialises the class predictors).
            ModelTask::Detect(_) => {
                let mut m = TrainSsd::from_model(&base, batch, classes, s.run.seed)?;
                m.calibrate(&first);
                m
            }
            ModelTask::Classify => {
                let ssd = crate::arch::SsdLite::new(base.arch.width, s.resolution, classes as u32)?;
                let mut net = TrainNet::from_model(&base, batch, 1)?;
                net.calibrate_batch_norms(&first, batch);
                TrainSsd::new(net, ssd, s.run.seed)?
            }
            ModelTask::Segment(_) => {
                let why = "the initial model must be an ImageNet classifier or a detector, not a segmentation model";
                return Err(TrainError::Model(why.into()).into());
            }
        };
        let maps: Vec<(u32, u32)> = model.ssd.feature_maps().iter().map(|m| (m.h, m.w)).collect();
        let loss = if s.focal { ClassLoss::Focal { alpha: 0.25, gamma: 2.0 } } else { ClassLoss::default() };
        Ok(DetectorTask {
            steps: NetSteps::new(s.run.hyper(0.3)?, rules(&model.net)),
            data: AugmentedBoxes { train, anchors: AnchorSpec::default().anchors(&maps), zoom_out: s.zoom_out, size },
            model,
            held_out,
            loss,
            classes: data.classes,
            init: init.display().to_string(),
            threads: s.run.threads,
        })
    }
}

/// No weight decay on batch norms and biases; the classifier of the backbone is not trained.
fn rules(net: &TrainNet) -> Vec<Rule> {
    let mut rules: Vec<Rule> =
        net.params.names.iter().map(|n| if n.ends_with("_conv.bias") { Rule::NoDecay } else { Rule::Decay }).collect();
    for u in &net.units {
        rules[u.gamma] = Rule::NoDecay;
        rules[u.beta] = Rule::NoDecay;
    }
    rules[net.fc_w] = Rule::Frozen;
    rules[net.fc_b] = Rule::Frozen;
    rules
}

/// The seeded split: the training images decoded (those that cannot be are skipped and named)
/// with their boxes, and the held-out samples, whose names are written to `OUT.holdout.txt`.
fn split(
    data: &DetDataset,
    s: &DetectorSettings,
    progress: &mut dyn Progress,
) -> Result<(Vec<Decoded>, Vec<DetSample>), Error> {
    let mut order: Vec<usize> = (0..data.samples.len()).collect();
    Rng(s.run.seed ^ 0x5eed).shuffle(&mut order);
    let held = (data.samples.len() as f32 * s.holdout).round() as usize;
    let (val_idx, train_idx) = order.split_at(held);
    let mut val: Vec<DetSample> = val_idx.iter().map(|&i| data.samples[i].clone()).collect();
    val.sort_by(|x, y| x.image.cmp(&y.image));
    let names: Vec<String> =
        val.iter().map(|s| s.image.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
    let holdout = sidecar(&s.run.output, "holdout.txt");
    std::fs::write(&holdout, names.join("\n") + "\n").map_err(TrainError::write(&holdout))?;
    let batch = s.run.batch;
    if train_idx.len() < batch {
        return Err(
            TrainError::Data(format!("{} training images, fewer than one batch of {batch}", train_idx.len())).into()
        );
    }
    // Decoded once; augmentation works on the decoded pixels.
    progress.start(train_idx.len(), "decoding training images");
    let mut train = Vec::new();
    for &i in train_idx {
        let sample = &data.samples[i];
        match mnv2_image::load_rgb(&sample.image) {
            Ok(img) => train.push((img, sample.boxes.iter().filter(|b| !b.crowd).map(|b| (b.bbox, b.class)).collect())),
            Err(e) => progress.note(&format!("skipping {e}")),
        }
        progress.advance(1, "");
    }
    progress.finish();
    super::check_skipped(train_idx.len() - train.len(), train_idx.len(), &s.data, progress)?;
    if train.len() < batch {
        return Err(TrainError::Data(format!(
            "{} usable training images, fewer than one batch of {batch}",
            train.len()
        ))
        .into());
    }
    Ok((train, val))
}

const TRAIN: [Metric; 3] = [
    Metric { key: "loss", label: "loss", percent: false },
    Metric { key: "loc_loss", label: "box", percent: false },
    Metric { key: "cls_loss", label: "class", percent: false },
];
const AP50: Metric = Metric { key: "val_ap50", label: "held-out AP@0.5", percent: false };
const HELD_OUT: [Metric; 2] = [AP50, Metric { key: "val_coco_ap", label: "held-out COCO AP", percent: false }];

impl Task for DetectorTask {
    fn state_suffix(&self) -> &'static str {
        "train.safetensors"
    }
    fn figures(&self) -> Figures {
        Figures {
            train: &TRAIN,
            held_out: &HELD_OUT,
            headline: AP50,
            curves: ("Detector training", "average precision"),
        }
    }

    fn train_epoch(
        &mut self,
        epoch: usize,
        epochs: usize,
        rng: &mut Rng,
        progress: &mut dyn Progress,
    ) -> Result<EpochTrained, TrainError> {
        let (loss_kind, slots, batch) = (self.loss, self.classes.len() + 1, self.steps.hyper.batch as f64);
        self.steps.epoch(&mut self.model, &self.data, (epoch, epochs), rng, (&TRAIN, progress), |m, (x, t)| {
            let (codes, logits, cache) = m.forward(&x, true);
            let (mut dcodes, mut dlogits) = (vec![0.0; codes.len()], vec![0.0; logits.len()]);
            let loss = ssd_loss(&codes, &logits, &t, slots, loss_kind, &mut dcodes, &mut dlogits);
            let grads = m.backward(&dcodes, &dlogits, cache.expect("training cache"));
            let sums = [loss.total(), loss.localization, loss.classification].map(|l| l as f64 * batch);
            (grads, sums.to_vec())
        })
    }

    fn model(&mut self) -> Model {
        let labels = Some(self.classes.clone());
        self.steps.with_average(&mut self.model, |m| m.to_model(INPUT, labels, "mnv2 train-det"))
    }

    /// Held-out AP@0.5 (VOC) and COCO AP; None when nothing is held out.
    fn evaluate(&mut self, model: &Model) -> Result<Vec<Option<f64>>, TrainError> {
        if self.held_out.is_empty() {
            return Ok(vec![None, None]);
        }
        let options = Options { threads: self.threads, ..Options::default() };
        let fail = |e: Error| TrainError::Evaluation(e.to_string());
        let mut det = Detector::from_model(model.clone(), &options, None).map_err(fail)?;
        let images = detect_all(&mut det, &self.held_out, &mut Silent).map_err(fail)?;
        let scores = average_precision(&images, det.classes());
        Ok(vec![Some(scores.ap50), Some(scores.coco.map_or(0.0, |c| c.ap))])
    }

    fn training_metadata(&self, epochs_done: usize) -> Value {
        json!({"epochs": epochs_done, "init": self.init, "task": "detect"})
    }
    fn save_state(&self, path: &Path, rng: Rng, epochs_done: usize, config: &str) -> Result<(), TrainError> {
        self.steps.save(path, &self.model.net, rng, epochs_done, config)
    }
    fn load_state(&mut self, path: &Path) -> Result<Saved, TrainError> {
        self.steps.load(path, &mut self.model.net)
    }
}

/// The detector's input: TF1 bilinear resize to `size` x `size`, scaled to [-1, 1].
fn normalise(img: &Rgb8, size: usize) -> Vec<f32> {
    mnv2_image::resize_bilinear_tf1(img, size, size).into_iter().map(|v| (v - INPUT.mean[0]) / INPUT.std[0]).collect()
}

/// A training image decoded, with its boxes.
type Decoded = (Rgb8, Vec<Labelled>);

/// The decoded training images, augmented in order with the run's generator.
struct AugmentedBoxes {
    train: Vec<Decoded>,
    anchors: Vec<BoxCorners>,
    zoom_out: f32,
    size: usize,
}

impl Batches for AugmentedBoxes {
    type Batch = (Vec<f32>, Vec<Vec<AnchorTarget>>);
    const SEEDED: bool = false;
    fn examples(&self) -> usize {
        self.train.len()
    }
    fn make(&self, items: &[usize], rngs: &mut [Rng]) -> Result<Self::Batch, TrainError> {
        let rng = &mut rngs[0];
        let mut x = Vec::with_capacity(items.len() * self.size * self.size * 3);
        let mut targets = Vec::with_capacity(items.len());
        for &i in items {
            let (img, boxes) = &self.train[i];
            let (aug, kept) = ssd_augment(img, boxes, self.zoom_out, rng);
            x.extend(normalise(&aug, self.size));
            targets.push(anchor_targets(&self.anchors, &aug, &kept));
        }
        Ok((x, targets))
    }
}

/// Anchor targets of one augmented image: matched anchors get the box's class and code.
fn anchor_targets(anchors: &[BoxCorners], img: &Rgb8, boxes: &[Labelled]) -> Vec<AnchorTarget> {
    let (w, h) = (img.width as f32, img.height as f32);
    let gts: Vec<BoxCorners> = boxes.iter().map(|(b, _)| [b[1] / h, b[0] / w, b[3] / h, b[2] / w]).collect();
    match_anchors(anchors, &gts)
        .into_iter()
        .zip(anchors)
        .map(|(m, anchor)| m.map(|g| (boxes[g].1, encode(&gts[g], anchor))))
        .collect()
}
