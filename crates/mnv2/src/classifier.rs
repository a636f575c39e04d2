//! Image classification end to end: image -> crop/resize -> network -> top-k labelled scores.

use mnv2_engine::{F32Engine, F32Session, Model, OutputKind, softmax_in_place};
use mnv2_heads::{Labels, Prediction};
use mnv2_image::Rgb8;
use std::path::Path;

use crate::Error;

/// Arithmetic the network runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Float32; quantized weights are dequantized.
    #[default]
    F32,
    /// Integer arithmetic as TFLite defines it (quantized models only).
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" | "fp32" | "float" => Ok(Precision::F32),
            "int8" | "i8" | "uint8" | "u8" | "quantized" => Ok(Precision::Int8),
            _ => Err(format!("unknown precision {s:?} (f32 or int8)")),
        }
    }
}

/// How to run a classifier.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (0: one per core).
    pub threads: usize,
    pub precision: Precision,
    /// Fraction of each side kept by the central crop.
    pub crop: f32,
    /// Labels file overriding those in the model.
    pub labels: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: 0,
            precision: Precision::F32,
            crop: 0.875,
            labels: None,
        }
    }
}

/// A loaded model ready to classify images.
pub struct Classifier {
    model: Model,
    engine: F32Engine,
    session: Option<F32Session>,
    labels: Labels,
    crop: f32,
}

impl Classifier {
    /// Loads a model file and compiles it.
    pub fn load(path: impl AsRef<Path>, options: Options) -> Result<Classifier, Error> {
        let model = mnv2_import::load(path)?;
        Classifier::new(model, options)
    }

    pub fn new(model: Model, options: Options) -> Result<Classifier, Error> {
        if !(options.crop > 0.0 && options.crop <= 1.0) {
            return Err(mnv2_image::ImageError::CropFraction(options.crop).into());
        }
        if options.precision == Precision::Int8 {
            return Err(Error::Unsupported(
                "int8 execution is not implemented yet; use --precision f32".into(),
            ));
        }
        let classes = model.arch.classes as usize;
        let labels = match (&options.labels, &model.labels) {
            (Some(path), _) => Labels::from_file(path, classes)?,
            (None, Some(names)) => Labels::fit(names.clone(), classes, &model.name)?,
            (None, None) => Labels::numbered(classes),
        };
        let engine = F32Engine::new(&model, options.threads)?;
        Ok(Classifier {
            model,
            engine,
            session: None,
            labels,
            crop: options.crop,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }
    pub fn labels(&self) -> &Labels {
        &self.labels
    }
    /// The square input size the network expects.
    pub fn input_size(&self) -> usize {
        self.model.arch.resolution as usize
    }

    /// Crops and resizes an image to the network's input (bytes, HWC RGB).
    pub fn preprocess(&self, image: &Rgb8) -> Result<Rgb8, Error> {
        Ok(mnv2_image::prepare(image, self.input_size(), self.crop)?)
    }

    /// Classifies a batch of images: the top `k` predictions of each.
    pub fn classify(&mut self, images: &[Rgb8], k: usize) -> Result<Vec<Vec<Prediction>>, Error> {
        let prepared = images
            .iter()
            .map(|i| self.preprocess(i))
            .collect::<Result<Vec<_>, _>>()?;
        let bytes: Vec<&[u8]> = prepared.iter().map(|p| p.data.as_slice()).collect();
        let probs = self.probabilities(&bytes)?;
        let n = self.model.arch.classes as usize;
        Ok(probs.chunks_exact(n).map(|p| self.labels.predictions(p, k)).collect())
    }

    /// Runs already-prepared inputs (each the model's input size, RGB bytes) and returns the
    /// softmax probabilities, batch x classes.
    pub fn probabilities(&mut self, inputs: &[&[u8]]) -> Result<Vec<f32>, Error> {
        let mut out = self.run_bytes(inputs)?;
        if self.model.output == OutputKind::Logits {
            softmax_in_place(&mut out, self.model.arch.classes as usize);
        }
        Ok(out)
    }

    /// Runs prepared RGB byte inputs and returns the model's raw output (probabilities or logits).
    pub fn run_bytes(&mut self, inputs: &[&[u8]]) -> Result<Vec<f32>, Error> {
        let len = self.model.arch.input().len();
        let (mean, std) = (self.model.input.mean, self.model.input.std);
        let mut real = Vec::with_capacity(inputs.len() * len);
        for (i, bytes) in inputs.iter().enumerate() {
            if bytes.len() != len {
                return Err(Error::Input(format!(
                    "input {i} has {} bytes, expected {len}",
                    bytes.len()
                )));
            }
            real.extend(bytes.iter().map(|&b| (b as f32 - mean) / std));
        }
        self.run_real(&real, inputs.len())
    }

    /// Runs real-valued (already normalised) inputs, batch x H x W x 3.
    pub fn run_real(&mut self, real: &[f32], batch: usize) -> Result<Vec<f32>, Error> {
        if batch == 0 {
            return Ok(Vec::new());
        }
        if self.session.as_ref().is_none_or(|s| s.batch() != batch) {
            self.session = Some(self.engine.session(batch)?);
        }
        let session = self.session.as_mut().expect("session just made");
        let mut out = vec![0.0; batch * self.engine.output_len()];
        self.engine.run(session, real, &mut out)?;
        Ok(out)
    }
}
