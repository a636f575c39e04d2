//! Training from files, as `mnv2 train` and `mnv2 train-det` do: a classifier on an image folder
//! (every layer, or a linear probe on a frozen backbone) and an SSDLite detector on PennFudan or
//! COCO annotations. Each builds a [`Task`](crate::train::Task) and runs it with the
//! [`Trainer`](crate::train::Trainer) of `mnv2-train`, which writes the model, its training state,
//! metrics and curves after every epoch and resumes from them.
//!
//! ```no_run
//! use mnv2::training::{ClassifierSettings, RunSettings, train_classifier};
//! let settings = ClassifierSettings {
//!     data: "flowers/train".into(),
//!     val: "flowers/val".into(),
//!     init: Some("mobilenet_v2_1.0_224_quant.tflite".into()),
//!     ..ClassifierSettings::new(RunSettings::new("flowers.safetensors"))
//! };
//! let summary = train_classifier(&settings, &mut mnv2::train::Silent)?;
//! # Ok::<(), mnv2::Error>(())
//! ```

mod classifier;
mod detector;
mod probe;

pub use classifier::{ClassifierSettings, train_classifier};
pub use detector::{DetectorSettings, train_detector};

use crate::Error;
use crate::train::optim::{Optimizer, Schedule};
use crate::train::run_files::num;
use crate::train::{Hyper, RunOptions};
use serde_json::{Value, json};
use std::path::PathBuf;

/// What every training run is told: where it writes, how long it goes, the optimizer.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The model written after every epoch; the training state, metrics and curves go beside it.
    pub output: PathBuf,
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// `rmsprop`, `sgd` or `adamw`.
    pub optimizer: String,
    /// Peak learning rate.
    pub lr: f32,
    /// `cosine`, `exponential` (0.98 per epoch) or `constant`.
    pub schedule: String,
    pub weight_decay: f32,
    /// Decay of a moving average of the weights, evaluated and saved instead of them.
    pub ema: Option<f32>,
    pub seed: u64,
    /// Threads of the evaluation engines (0: one per core).
    pub threads: usize,
    /// Continue from the training state beside `output`.
    pub resume: bool,
    /// Resume even where the options differ from the state's.
    pub allow_changes: bool,
    /// Stop after this many epochs of `epochs`.
    pub stop_after: Option<usize>,
    /// The processes a data-parallel run is split across (MPI ranks; this one alone by default).
    /// Each makes an equal shard of every batch; the first writes the run's files.
    pub processes: crate::train::Processes,
}

impl RunSettings {
    /// The defaults of `mnv2 train` writing `output`.
    pub fn new(output: impl Into<PathBuf>) -> RunSettings {
        RunSettings {
            output: output.into(),
            epochs: 15,
            batch: 32,
            optimizer: "adamw".into(),
            lr: 1e-3,
            schedule: "cosine".into(),
            weight_decay: 4e-5,
            ema: None,
            seed: 1,
            threads: 0,
            resume: false,
            allow_changes: false,
            stop_after: None,
            processes: crate::train::Processes::default(),
        }
    }

    /// The optimizer settings, with a warm-up over `warmup` epochs.
    fn hyper(&self, warmup: f32) -> Result<Hyper, Error> {
        Ok(Hyper {
            optimizer: Optimizer::parse(&self.optimizer)?,
            lr: self.lr,
            schedule: Schedule::parse(&self.schedule, self.epochs)?,
            warmup,
            weight_decay: self.weight_decay,
            ema: self.ema,
            batch: self.batch,
        })
    }

    /// The run's options for the [`Trainer`](crate::train::Trainer), with the task's options
    /// `task` (those that change the result) stored beside these.
    fn run_options(&self, task: &[(&str, Value)]) -> RunOptions {
        let mut pairs = task.to_vec();
        pairs.extend([
            ("epochs", json!(self.epochs)),
            ("batch", json!(self.batch)),
            ("optimizer", json!(self.optimizer)),
            ("lr", num(self.lr)),
            ("schedule", json!(self.schedule)),
            ("weight_decay", num(self.weight_decay)),
            ("ema", self.ema.map_or(json!(null), num)),
            ("seed", json!(self.seed)),
        ]);
        RunOptions {
            output: self.output.clone(),
            config: crate::train::run_files::config(&pairs),
            epochs: self.epochs,
            stop_after: self.stop_after,
            resume: self.resume,
            allow_changes: self.allow_changes,
            seed: self.seed,
            lead: self.processes.lead(),
        }
    }

    /// Creates the folder `output` goes into.
    fn create_output_folder(&self) -> Result<(), Error> {
        match self.output.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|source| {
                let (folder, path) = (dir.display().to_string(), self.output.display().to_string());
                crate::train::TrainError::Folder { folder, path, source }.into()
            }),
            _ => Ok(()),
        }
    }
}

/// Refuses `what` in a data-parallel run: only a classifier trained end to end splits its
/// batches across processes.
fn one_process(run: &RunSettings, what: &str) -> Result<(), Error> {
    match run.processes.0.count() {
        1 => Ok(()),
        n => Err(crate::train::TrainError::Data(format!("{what} trains in one process, not across {n}")).into()),
    }
}

/// An image folder with the images that cannot be used dropped, each named through `progress`;
/// more than [`max_skipped`](crate::train::data::max_skipped) of them is an error.
pub fn open_folder(
    path: &std::path::Path,
    progress: &mut dyn crate::train::Progress,
) -> Result<crate::train::data::ImageFolder, Error> {
    let mut set = crate::train::data::ImageFolder::open(path)?;
    let total = set.items.len();
    let dropped = set.drop_unreadable();
    for reason in &dropped {
        progress.note(&format!("skipping {reason}"));
    }
    check_skipped(dropped.len(), total, path, progress)?;
    Ok(set)
}

/// Refuses a training set (`set`) in which more than
/// [`max_skipped`](crate::train::data::max_skipped) of its `total` images could not be used,
/// and says how many were skipped otherwise.
fn check_skipped(
    skipped: usize,
    total: usize,
    set: &std::path::Path,
    progress: &mut dyn crate::train::Progress,
) -> Result<(), Error> {
    let limit = crate::train::data::max_skipped(total);
    if skipped > limit {
        let why = format!(
            "{skipped} of the {total} images in {} cannot be used (at most {limit} are skipped)",
            set.display()
        );
        return Err(crate::train::TrainError::Data(why).into());
    }
    if skipped > 0 {
        let images = if skipped == 1 { "1 image".to_string() } else { format!("{skipped} images") };
        progress.note(&format!("{}: skipped {images} of {total}", set.display()));
    }
    Ok(())
}
