//! `mnv2.train(...)`: a classifier trained on an image folder by the library's trainer, with the
//! GIL released, progress reported to a Python callable, and Ctrl-C (or an exception raised by
//! the callable) stopping the run after the current step.

use crate::errors::to_py;
use mnv2::training::{ClassifierSettings, RunSettings, train_classifier};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// Forwards the trainer's progress to `callback(event: dict)`; remembers the first Python error
/// (from the callable, or a signal such as KeyboardInterrupt) and then asks the trainer to stop.
struct PyProgress {
    callback: Option<Py<PyAny>>,
    error: Option<PyErr>,
}

impl PyProgress {
    fn send(&mut self, fill: impl FnOnce(&Bound<'_, PyDict>) -> PyResult<()>) {
        if self.error.is_some() {
            return;
        }
        let result = Python::attach(|py| -> PyResult<()> {
            py.check_signals()?;
            if let Some(cb) = &self.callback {
                let event = PyDict::new(py);
                fill(&event)?;
                cb.call1(py, (event,))?;
            }
            Ok(())
        });
        self.error = result.err();
    }
}

impl mnv2::Progress for PyProgress {
    fn start(&mut self, total: usize, what: &str) {
        self.send(|e| {
            e.set_item("event", "start")?;
            e.set_item("total", total)?;
            e.set_item("what", what)
        });
    }
    fn advance(&mut self, n: usize, status: &str) {
        self.send(|e| {
            e.set_item("event", "advance")?;
            e.set_item("steps", n)?;
            e.set_item("status", status)
        });
    }
    fn finish(&mut self) {
        self.send(|e| e.set_item("event", "finish"));
    }
    fn note(&mut self, line: &str) {
        self.send(|e| {
            e.set_item("event", "note")?;
            e.set_item("line", line)
        });
    }
    fn cancelled(&mut self) -> bool {
        if self.error.is_none() {
            self.error = Python::attach(|py| py.check_signals()).err();
        }
        self.error.is_some()
    }
}

/// Trains a classifier on `data` (one sub-folder per class), validated on `val`, writing the
/// model to `output` (its training state, metrics and curves beside it) after every epoch;
/// returns the summary line (None when a resumed run had nothing left to do).
#[pyfunction]
#[pyo3(signature = (
    data, val, output, *, init=None, freeze_backbone=false, width=1.0, resolution=224,
    label_smoothing=0.1, min_crop_area=None, epochs=15, batch=32, optimizer="adamw".to_string(), lr=1e-3,
    schedule="cosine".to_string(), weight_decay=4e-5, ema=None, seed=1, threads=0, resume=false,
    allow_changes=false, stop_after=None, progress=None
))]
#[allow(clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    data: PathBuf,
    val: PathBuf,
    output: PathBuf,
    init: Option<PathBuf>,
    freeze_backbone: bool,
    width: f32,
    resolution: u32,
    label_smoothing: f32,
    min_crop_area: Option<f32>,
    epochs: usize,
    batch: usize,
    optimizer: String,
    lr: f32,
    schedule: String,
    weight_decay: f32,
    ema: Option<f32>,
    seed: u64,
    threads: usize,
    resume: bool,
    allow_changes: bool,
    stop_after: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Option<String>> {
    let run = RunSettings {
        epochs,
        batch,
        optimizer,
        lr,
        schedule,
        weight_decay,
        ema,
        seed,
        threads,
        resume,
        allow_changes,
        stop_after,
        ..RunSettings::new(output)
    };
    let settings =
        ClassifierSettings { data, val, init, freeze_backbone, width, resolution, label_smoothing, min_crop_area, run };
    let mut reporter = PyProgress { callback: progress, error: None };
    let result = py.detach(|| train_classifier(&settings, &mut reporter));
    if let Some(e) = reporter.error {
        return Err(e);
    }
    result.map_err(to_py)
}
