//! The models a server holds: a name, and an engine for the task the file's model performs.

use crate::{ServeConfig, ServeError};
use mnv2::{Classifier, Detector, Options, Segmenter};
use std::path::PathBuf;

/// `NAME=PATH` (or just `PATH`, named after the file) as given to `mnv2 serve --model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub name: String,
    pub path: PathBuf,
}

impl std::str::FromStr for ModelSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, path) = match s.split_once('=') {
            Some((name, path)) => (name.to_string(), PathBuf::from(path)),
            None => {
                let path = PathBuf::from(s);
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                (stem, path)
            }
        };
        let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            return Err(format!("model name {name:?}: use letters, digits, '-', '_' or '.'"));
        }
        Ok(ModelSpec { name, path })
    }
}

/// What a model does, and the path segment of its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Classify,
    Segment,
    Detect,
}

impl TaskKind {
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Classify => "classify",
            TaskKind::Segment => "segment",
            TaskKind::Detect => "detect",
        }
    }
}

/// A loaded model's engine.
pub(crate) enum Engine {
    Classify(Box<Classifier>),
    Segment(Box<Segmenter>),
    Detect(Box<Detector>),
}

impl Engine {
    /// Loads `spec`'s file and compiles it for the task its model performs.
    pub fn load(spec: &ModelSpec, config: &ServeConfig) -> Result<Engine, ServeError> {
        let err = |source| ServeError::Model { name: spec.name.clone(), source };
        let options = Options { threads: config.threads, precision: config.precision, ..Options::default() };
        let model = mnv2::import::load(&spec.path).map_err(|e| err(e.into()))?;
        Ok(match model.task {
            mnv2::model::Task::Classify => Engine::Classify(Box::new(Classifier::new(model, options).map_err(err)?)),
            mnv2::model::Task::Segment(_) => Engine::Segment(Box::new(Segmenter::new(model, options).map_err(err)?)),
            // Loaded by path again: the detector names the release model's one class from its file name.
            mnv2::model::Task::Detect(_) => Engine::Detect(Box::new(Detector::load(&spec.path, options).map_err(err)?)),
        })
    }

    /// Another engine on the same compiled model (weights shared) with threads of its own.
    pub fn instance(&self, name: &str) -> Result<Engine, ServeError> {
        let err = |source| ServeError::Model { name: name.to_string(), source };
        Ok(match self {
            Engine::Classify(c) => Engine::Classify(Box::new(c.instance().map_err(err)?)),
            Engine::Segment(s) => Engine::Segment(Box::new(s.instance().map_err(err)?)),
            Engine::Detect(d) => Engine::Detect(Box::new(d.instance().map_err(err)?)),
        })
    }

    pub fn task(&self) -> TaskKind {
        match self {
            Engine::Classify(_) => TaskKind::Classify,
            Engine::Segment(_) => TaskKind::Segment,
            Engine::Detect(_) => TaskKind::Detect,
        }
    }

    /// Input resolution of the network (images of any size are resized to it).
    pub fn input_size(&self) -> usize {
        match self {
            Engine::Classify(c) => c.input_size(),
            Engine::Segment(s) => s.input_size(),
            Engine::Detect(d) => d.input_size(),
        }
    }

    /// For classifiers: how images become the input, so that requests can be cropped and
    /// resized where they are decoded (in parallel) rather than on the batch thread.
    pub fn classifier_input(&self) -> Option<mnv2::ClassifierInput> {
        match self {
            Engine::Classify(c) => Some(c.input()),
            _ => None,
        }
    }

    pub fn precision(&self) -> &'static str {
        match self {
            Engine::Classify(c) => precision_name(c.precision()),
            Engine::Segment(s) => precision_name(s.precision()),
            Engine::Detect(_) => "f32",
        }
    }
}

fn precision_name(p: mnv2::Precision) -> &'static str {
    match p {
        mnv2::Precision::Int8 => "int8",
        _ => "f32",
    }
}
