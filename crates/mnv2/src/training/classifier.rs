//! A classifier trained on an image folder: every layer with the hand-written backward passes,
//! from a model (`init`, batch norms calibrated on the first batch) or from scratch at `width` /
//! `resolution` (He-normal initialisation); or, with `freeze_backbone`, a linear probe (see
//! `probe.rs`).

use super::RunSettings;
use crate::engine::{InputSpec, Model};
use crate::evaluate::classification;
use crate::train::augment::{color_jitter, hflip, random_resized_crop};
use crate::train::data::{ImageFolder, Rng};
use crate::train::run_files::{num, path_value};
use crate::train::{
    Batches, EpochTrained, Figures, Metric, NetSteps, Progress, Rule, Saved, Silent, Task, TrainError, TrainNet,
    Trainer,
};
use crate::{Classifier, Error, Options, Precision};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// What `mnv2 train` is told.
#[derive(Debug, Clone)]
pub struct ClassifierSettings {
    /// Training images, one sub-folder per class.
    pub data: PathBuf,
    /// Validation images, the same class folders.
    pub val: PathBuf,
    /// The model to start from (None: from scratch at `width` and `resolution`).
    pub init: Option<PathBuf>,
    /// Train only a new classifier on the frozen backbone's features (needs `init`).
    pub freeze_backbone: bool,
    pub width: f32,
    pub resolution: u32,
    pub label_smoothing: f32,
    /// Smallest area of a random resized crop, as a fraction of the image (None:
    /// [`SCRATCH_MIN_CROP_AREA`] from scratch, [`FINE_TUNE_MIN_CROP_AREA`] from a model).
    pub min_crop_area: Option<f32>,
    pub run: RunSettings,
}

/// The paper's (Inception) preprocessing for training from scratch: crops of 8-100% of the image.
pub const SCRATCH_MIN_CROP_AREA: f32 = 0.08;

/// Crops of 35-100% when fine-tuning a trained model: its features already hold what the harder
/// crops teach, and a short run learns the new classes faster from crops that show the object
/// (flowers, 3 epochs from the ImageNet model: val top-1 93.4% against 92.4% with 8-100%, mean of
/// five seeds).
pub const FINE_TUNE_MIN_CROP_AREA: f32 = 0.35;

impl ClassifierSettings {
    /// The defaults of `mnv2 train` (data folders left empty).
    pub fn new(run: RunSettings) -> ClassifierSettings {
        ClassifierSettings {
            data: PathBuf::new(),
            val: PathBuf::new(),
            init: None,
            freeze_backbone: false,
            width: 1.0,
            resolution: 224,
            label_smoothing: 0.1,
            min_crop_area: None,
            run,
        }
    }

    /// The smallest crop area training uses: the one given, else the default for the start.
    pub fn crop_area(&self) -> f32 {
        self.min_crop_area.unwrap_or(if self.init.is_some() { FINE_TUNE_MIN_CROP_AREA } else { SCRATCH_MIN_CROP_AREA })
    }

    /// The options that change the result (stored with the training state).
    fn task_config(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("data", path_value(&self.data)),
            ("val", path_value(&self.val)),
            ("init", self.init.as_deref().map_or(json!(null), path_value)),
            ("freeze_backbone", json!(self.freeze_backbone)),
            ("width", num(self.width)),
            ("resolution", json!(self.resolution)),
            ("label_smoothing", num(self.label_smoothing)),
            ("min_crop_area", num(self.crop_area())),
        ]
    }
}

/// Trains a classifier as `s` says; returns the summary line (None when a resumed run had
/// nothing left to do, said through `progress`).
pub fn train_classifier(s: &ClassifierSettings, progress: &mut dyn Progress) -> Result<Option<String>, Error> {
    let area = s.crop_area();
    if !(area > 0.0 && area <= 1.0) {
        return Err(
            TrainError::Options(format!("the smallest crop area must be above 0 and at most 1, not {area}")).into()
        );
    }
    s.run.create_output_folder()?;
    let train = super::open_folder(&s.data, progress)?;
    let val = super::open_folder(&s.val, progress)?;
    if val.classes != train.classes {
        let why = format!("{} and {} have different class folders", s.data.display(), s.val.display());
        return Err(TrainError::Data(why).into());
    }
    let options = s.run.run_options(&s.task_config());
    let mut task: Box<dyn Task> = if s.freeze_backbone {
        super::one_process(&s.run, "a linear probe (--freeze-backbone)")?;
        Box::new(super::probe::ProbeTask::new(s, &train, &val, progress)?)
    } else {
        Box::new(FullTask::new(s, train, val)?)
    };
    Ok(Trainer { options, progress }.run(task.as_mut())?)
}

/// Every layer trained.
struct FullTask {
    net: TrainNet,
    steps: NetSteps,
    data: FolderBatches,
    val: ImageFolder,
    classes: Vec<String>,
    smoothing: f32,
    init: String,
    /// Whether the batch norms are calibrated before training (an imported model's).
    calibrate: bool,
    threads: usize,
}

impl FullTask {
    fn new(s: &ClassifierSettings, train: ImageFolder, val: ImageFolder) -> Result<FullTask, Error> {
        let batch = s.run.batch;
        if train.items.len() < batch {
            return Err(TrainError::Data(format!("fewer training images than one batch of {batch}")).into());
        }
        // This process's network holds its shard of each batch.
        let local = crate::train::replicas::shard_size(batch, s.run.processes.0.count())?;
        let classes = train.classes.len();
        let (mut net, input) = match &s.init {
            Some(init) => {
                let base = crate::import::load(init)?;
                (TrainNet::from_model(&base, local, classes)?, base.input.clone())
            }
            None => {
                let arch = crate::arch::Arch::new(s.width, s.resolution, classes as u32)?;
                let mut net = TrainNet::with_padding(arch, local, true);
                net.init_random(s.run.seed);
                // Inputs scaled to [-1, 1], as the paper trains.
                (net, InputSpec::uniform(127.5, 127.5))
            }
        };
        net.set_replicas(s.run.processes.0.clone());
        crate::Limits::global().check_memory(local, crate::train::step_bytes(&net.arch, local))?;
        // Weight decay on convolution and classifier weights, not on batch-norm parameters.
        let mut rules = vec![Rule::Decay; net.params.tensors.len()];
        for i in net.units.iter().flat_map(|u| [u.gamma, u.beta]).chain([net.fc_b]) {
            rules[i] = Rule::NoDecay;
        }
        let size = net.arch.resolution as usize;
        Ok(FullTask {
            steps: NetSteps::new(s.run.hyper(0.0)?, rules),
            net,
            data: FolderBatches { items: train.items, input, size, min_area: s.crop_area() },
            val,
            classes: train.classes,
            smoothing: s.label_smoothing,
            init: s.init.as_ref().map_or_else(|| "random (from scratch)".to_string(), |p| p.display().to_string()),
            calibrate: s.init.is_some(),
            threads: s.run.threads,
        })
    }
}

const TRAIN: [Metric; 2] = [
    Metric { key: "loss", label: "loss", percent: false },
    Metric { key: "train_top1", label: "train top-1", percent: true },
];
const VAL_TOP1: Metric = Metric { key: "val_top1", label: "val top-1", percent: true };

/// What every classifier training measures.
pub(super) const FIGURES: Figures = Figures {
    train: &TRAIN,
    held_out: &[VAL_TOP1],
    headline: VAL_TOP1,
    curves: ("Classifier training", "top-1 accuracy"),
};

impl Task for FullTask {
    fn state_suffix(&self) -> &'static str {
        "train.safetensors"
    }
    fn figures(&self) -> Figures {
        FIGURES
    }

    /// Calibrates the batch norms of an imported model on the first batch (evaluation
    /// preprocessing; each process its shard), so that training mode starts from the folded
    /// network.
    fn begin(&mut self) -> Result<(), TrainError> {
        if !self.calibrate {
            return Ok(());
        }
        let r = self.net.replicas();
        let mine = crate::train::replicas::shard(self.steps.hyper.batch, r.count(), r.index());
        let first = self.data.load(&self.data.items[mine.clone()], None)?;
        self.net.calibrate_batch_norms(&first, mine.len());
        Ok(())
    }

    fn train_epoch(
        &mut self,
        epoch: usize,
        epochs: usize,
        rng: &mut Rng,
        progress: &mut dyn Progress,
    ) -> Result<EpochTrained, TrainError> {
        let (smoothing, classes) = (self.smoothing, self.classes.len());
        self.steps.epoch(&mut self.net, &self.data, (epoch, epochs), rng, (&TRAIN, progress), |net, (x, y)| {
            let (loss, logits, grads) = net.loss_and_grads(&x, &y, smoothing);
            let correct = logits.chunks_exact(classes).zip(&y).filter(|(row, y)| argmax(row) == **y).count();
            (grads, vec![loss as f64 * y.len() as f64, correct as f64])
        })
    }

    fn model(&mut self) -> Model {
        let (input, labels) = (self.data.input.clone(), Some(self.classes.clone()));
        self.steps.with_average(&mut self.net, |net| net.to_model(input, labels, "mnv2 train"))
    }

    /// Top-1 of the model on the validation folder, in float32.
    fn evaluate(&mut self, model: &Model) -> Result<Vec<Option<f64>>, TrainError> {
        let options = Options { threads: self.threads, precision: Precision::F32, ..Options::default() };
        let scores = Classifier::new(model.clone(), options)
            .and_then(|mut c| classification(&mut c, &self.val, &mut Silent))
            .map_err(|e| TrainError::Evaluation(e.to_string()))?;
        Ok(vec![Some(scores.top1)])
    }

    fn training_metadata(&self, epochs_done: usize) -> Value {
        json!({"epochs": epochs_done, "init": self.init, "mode": "full"})
    }
    fn save_state(&self, path: &Path, rng: Rng, epochs_done: usize, config: &str) -> Result<(), TrainError> {
        self.steps.save(path, &self.net, rng, epochs_done, config)
    }
    fn load_state(&mut self, path: &Path) -> Result<Saved, TrainError> {
        self.steps.load(path, &mut self.net)
    }
}

/// The index of the largest value.
fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().max_by(|p, q| p.1.total_cmp(q.1)).map_or(0, |(i, _)| i)
}

/// Batches of an image folder: decoded, augmented (random resized crop, flip, colour jitter) and
/// normalised, each with its own generator so they can be made ahead of the compute.
struct FolderBatches {
    items: Vec<(PathBuf, usize)>,
    input: InputSpec,
    size: usize,
    /// Smallest area of a random crop, as a fraction of the image.
    min_area: f32,
}

impl FolderBatches {
    /// The images `items` as NHWC floats: augmented, each with its generator of `augment`, or
    /// prepared as for evaluation (central crop, resize) when None.
    fn load(&self, items: &[(PathBuf, usize)], mut augment: Option<&mut [Rng]>) -> Result<Vec<f32>, TrainError> {
        let size = self.size;
        let mut x = Vec::with_capacity(items.len() * size * size * 3);
        for (k, (path, _)) in items.iter().enumerate() {
            let img = mnv2_image::load_rgb(path)?;
            let img = match augment.as_deref_mut() {
                Some(rngs) => {
                    let r = &mut rngs[k];
                    let mut c = random_resized_crop(&img, size, r, self.min_area);
                    if r.uniform() < 0.5 {
                        hflip(&mut c);
                    }
                    color_jitter(&mut c, r, 0.2);
                    c
                }
                None => mnv2_image::prepare(&img, size, 0.875)?,
            };
            self.input.extend_real(&mut x, &img.data);
        }
        Ok(x)
    }
}

impl Batches for FolderBatches {
    type Batch = (Vec<f32>, Vec<usize>);
    const SEEDED: bool = true;
    fn examples(&self) -> usize {
        self.items.len()
    }
    fn make(&self, items: &[usize], rngs: &mut [Rng]) -> Result<Self::Batch, TrainError> {
        let chosen: Vec<(PathBuf, usize)> = items.iter().map(|&i| self.items[i].clone()).collect();
        Ok((self.load(&chosen, Some(rngs))?, chosen.iter().map(|(_, label)| *label).collect()))
    }
}
