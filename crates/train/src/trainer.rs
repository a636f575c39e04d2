//! The epoch loop every training run shares: resume (or start afresh), train an epoch, evaluate,
//! append the epoch's figures, save the model and the training state (both atomically), redraw
//! the curves, and report progress through a [`Progress`]. What differs between a classifier, a
//! detector and a linear probe (data, loss, evaluation, state) is a [`Task`].

use crate::TrainError;
use crate::data::Rng;
use crate::run_files::{RunFiles, check_config, headline, nothing_left};
use mnv2_model::Model;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

/// Where long work reports to (a progress bar, a log, nothing). Every method has a silent default.
pub trait Progress {
    /// A stage of `total` steps begins; `what` names it ("epoch 2/10", "train features").
    fn start(&mut self, _total: usize, _what: &str) {}
    /// `n` more steps are done; `status` is a short line of the latest figures (may be empty).
    fn advance(&mut self, _n: usize, _status: &str) {}
    /// The stage is over.
    fn finish(&mut self) {}
    /// A line for the user: an image skipped, options changed, an epoch's results.
    fn note(&mut self, _line: &str) {}
    /// Whether the caller wants training to stop (asked after every step; the run then ends
    /// with [`TrainError::Cancelled`], the last finished epoch saved).
    fn cancelled(&mut self) -> bool {
        false
    }
}

/// A [`Progress`] that reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// One figure of an epoch: its key in the metrics file, how it is shown, and whether it is a
/// 0..1 fraction shown in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    pub percent: bool,
}

impl Metric {
    /// `value` as shown after the label: `50.00%` or `0.7241`.
    pub fn show(&self, value: f64) -> String {
        if self.percent { format!("{:.2}%", 100.0 * value) } else { format!("{value:.4}") }
    }
}

/// The figures of a task: measured while training (means over the epoch's images; the first is
/// the loss) and on held-out data, the one the final summary reports, and the curves' titles.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub train: &'static [Metric],
    pub held_out: &'static [Metric],
    /// The held-out figure the summary reports (best and last).
    pub headline: Metric,
    /// Title of the curves and of their y axis.
    pub curves: (&'static str, &'static str),
}

/// What an epoch of training measured: images seen and the mean of each training figure.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochTrained {
    pub seen: usize,
    pub means: Vec<f64>,
}

/// A saved training state: epochs done, the generator to continue with, the options stored.
#[derive(Debug, Clone)]
pub struct Saved {
    pub epoch: usize,
    pub rng: Rng,
    pub config: Option<String>,
}

/// What one kind of training does; the [`Trainer`] does the rest.
pub trait Task {
    /// Suffix of the training-state file beside the output (`train.safetensors`).
    fn state_suffix(&self) -> &'static str;
    /// The figures this task measures.
    fn figures(&self) -> Figures;
    /// Setup of a run starting afresh (not resumed), e.g. calibrating batch norms.
    fn begin(&mut self) -> Result<(), TrainError> {
        Ok(())
    }
    /// One epoch of training (epochs count from 0); `rng` is the run's generator.
    fn train_epoch(
        &mut self,
        epoch: usize,
        epochs: usize,
        rng: &mut Rng,
        progress: &mut dyn Progress,
    ) -> Result<EpochTrained, TrainError>;
    /// The model as evaluated and saved (the moving average of the weights where there is one).
    fn model(&mut self) -> Model;
    /// The held-out figures of `model`, in the order of [`Figures::held_out`] (None: nothing held out).
    fn evaluate(&mut self, model: &Model) -> Result<Vec<Option<f64>>, TrainError>;
    /// The `mnv2.training` metadata saved with the model after `epochs_done` epochs.
    fn training_metadata(&self, epochs_done: usize) -> Value;
    /// Saves the state to continue from after `epochs_done` epochs.
    fn save_state(&self, path: &std::path::Path, rng: Rng, epochs_done: usize, config: &str) -> Result<(), TrainError>;
    /// Loads a state saved by [`Task::save_state`].
    fn load_state(&mut self, path: &std::path::Path) -> Result<Saved, TrainError>;
}

/// How long a run goes and where it writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The model file written after every epoch; the run's other files go beside it.
    pub output: PathBuf,
    /// The options that change the result ([`crate::run_files::config`]), stored with the state.
    pub config: String,
    pub epochs: usize,
    /// Stop after this many epochs (the state can be resumed later).
    pub stop_after: Option<usize>,
    pub resume: bool,
    /// Resume even if the options differ from the state's.
    pub allow_changes: bool,
    pub seed: u64,
    /// Whether this process writes the run's files, evaluates and reports (false on all but the
    /// first process of a data-parallel run, which only train).
    pub lead: bool,
}

/// Runs a [`Task`] for the epochs of a [`RunOptions`].
pub struct Trainer<'a> {
    pub options: RunOptions,
    pub progress: &'a mut dyn Progress,
}

impl Trainer<'_> {
    /// Trains from the start or from the saved state; returns the summary line, or None when a
    /// resumed run has nothing left to do (having said why) or this process is not the lead.
    pub fn run(&mut self, task: &mut dyn Task) -> Result<Option<String>, TrainError> {
        let started = Instant::now();
        let o = &self.options;
        let files = RunFiles::new(&o.output, task.state_suffix());
        let (mut rng, mut first) = (Rng(o.seed), 0);
        if o.resume {
            let saved = task.load_state(&files.state)?;
            for change in check_config(saved.config.as_deref(), &o.config, o.allow_changes, &files.state)? {
                self.progress.note(&format!("resuming with changed options: {change}"));
            }
            let last = o.stop_after.unwrap_or(o.epochs);
            if let Some(why) = nothing_left(saved.epoch, o.epochs, last, &o.output) {
                self.progress.note(&why);
                return Ok(None);
            }
            if o.lead {
                files.trim_metrics(saved.epoch)?;
            }
            (rng, first) = (saved.rng, saved.epoch);
        } else {
            task.begin()?;
            if o.lead {
                files.clear_metrics()?;
            }
        }
        let last = o.stop_after.map_or(o.epochs, |s| s.min(o.epochs));
        for epoch in first..last {
            if self.progress.cancelled() {
                return Err(TrainError::Cancelled);
            }
            self.epoch(task, &files, epoch, &mut rng)?;
        }
        if !self.options.lead {
            return Ok(None);
        }
        let history = files.history()?;
        let f = task.figures();
        let scores = headline(&history, (f.headline.key, f.headline.label, f.headline.percent));
        let epochs = if history.len() == 1 { "1 epoch".to_string() } else { format!("{} epochs", history.len()) };
        Ok(Some(format!(
            "{}: {scores} after {epochs}, {:.1} s; metrics {}, curves {}, training state {}",
            files.output.display(),
            started.elapsed().as_secs_f64(),
            files.metrics.display(),
            files.curves.display(),
            files.state.display()
        )))
    }

    /// Epoch `epoch` (from 0): train, evaluate, and write every file.
    fn epoch(&mut self, task: &mut dyn Task, files: &RunFiles, epoch: usize, rng: &mut Rng) -> Result<(), TrainError> {
        let o = &self.options;
        let t0 = Instant::now();
        let trained = task.train_epoch(epoch, o.epochs, rng, self.progress)?;
        let secs = t0.elapsed().as_secs_f64();
        if !o.lead {
            return Ok(());
        }
        let model = task.model();
        let held_out = task.evaluate(&model)?;
        let f = task.figures();
        let mut line = serde_json::Map::new();
        line.insert("epoch".into(), json!(epoch + 1));
        let mut shown = Vec::new();
        for (m, v) in f.train.iter().zip(&trained.means) {
            line.insert(m.key.into(), json!(v));
            shown.push(format!("{} {}", m.label, m.show(*v)));
        }
        for (m, v) in f.held_out.iter().zip(&held_out) {
            line.insert(m.key.into(), json!(v));
            shown.extend(v.map(|v| format!("{} {}", m.label, m.show(v))));
        }
        let images_per_s = trained.seen as f64 / secs;
        line.insert("images_per_s".into(), json!(images_per_s));
        line.insert("seconds".into(), json!(secs));
        files.append(&Value::Object(line))?;
        let meta = [("mnv2.training".to_string(), task.training_metadata(epoch + 1).to_string())];
        mnv2_import::safetensors::save_model(&model, &o.output, &meta.into_iter().collect())?;
        task.save_state(&files.state, *rng, epoch + 1, &o.config)?;
        crate::curves::draw(files, &f)?;
        self.progress.note(&format!("epoch {}: {}, {images_per_s:.1} images/s", epoch + 1, shown.join(", ")));
        Ok(())
    }
}
