//! Image classification end to end: image -> crop/resize -> network -> top-k labelled scores.

use mnv2_engine::{Model, OutputKind, Preprocess, Quant, softmax_in_place};
use mnv2_heads::{Labels, Prediction};
use mnv2_image::Rgb8;
use std::path::Path;
use std::sync::Arc;

use crate::backend::{Backend, concat_inputs};
use crate::{Error, Limits};

/// Arithmetic the network runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Integer arithmetic for quantized models, float32 for float models.
    #[default]
    Auto,
    /// Float32; quantized weights are dequantized.
    F32,
    /// Integer arithmetic exactly as TFLite's kernels compute it (quantized models only).
    Int8,
}

impl Precision {
    /// Whether `model` runs in integer arithmetic with this choice.
    pub fn is_int8_for(self, model: &Model) -> bool {
        match self {
            Precision::Auto => model.is_quantized(),
            Precision::F32 => false,
            Precision::Int8 => true,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Precision::Auto),
            "f32" | "fp32" | "float" => Ok(Precision::F32),
            "int8" | "i8" | "uint8" | "u8" | "quantized" => Ok(Precision::Int8),
            _ => Err(format!("unknown precision {s:?} (auto, f32 or int8)")),
        }
    }
}

/// A `--preprocess` / `preprocess=` choice: `auto` (None: the model's own), `crop-resize` or
/// `resize-crop`.
pub fn parse_preprocess(s: &str) -> Result<Option<Preprocess>, String> {
    match s {
        "auto" => Ok(None),
        "crop-resize" => Ok(Some(Preprocess::CropThenResize)),
        "resize-crop" => Ok(Some(Preprocess::ResizeThenCrop)),
        _ => Err(format!("preprocess {s:?}: auto, crop-resize or resize-crop")),
    }
}

/// An image as a `size` x `size` network input, keeping `crop` of each side, in the order
/// `preprocess` says (TF-slim: crop then resize; torchvision: resize then crop).
pub fn prepare_image(image: &Rgb8, size: usize, crop: f32, preprocess: Preprocess) -> Result<Rgb8, Error> {
    Ok(match preprocess {
        Preprocess::CropThenResize => mnv2_image::prepare(image, size, crop)?,
        Preprocess::ResizeThenCrop => mnv2_image::resize_then_crop(image, size, crop)?,
    })
}

/// How a classifier's images become its input: the input size, the fraction of each side the
/// central crop keeps and the order of the two (see [`prepare_image`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassifierInput {
    pub size: usize,
    pub crop: f32,
    pub preprocess: Preprocess,
}

impl ClassifierInput {
    /// An image's bytes decoded within `limits` and prepared (`name` is used in messages): the
    /// bytes of [`mnv2_image::decode_rgb_within`] then [`prepare_image`], where cropping first
    /// lets the decoder make only the crop's pixels.
    pub fn decode(&self, bytes: &[u8], name: &str, limits: &Limits) -> Result<Rgb8, Error> {
        Ok(match self.preprocess {
            Preprocess::CropThenResize => {
                let cropped = mnv2_image::decode_central_crop_within(bytes, name, limits, self.crop)?;
                mnv2_image::resize_bilinear(&cropped, self.size, self.size)
            }
            Preprocess::ResizeThenCrop => {
                let image = mnv2_image::decode_rgb_within(bytes, name, limits)?;
                mnv2_image::resize_then_crop(&image, self.size, self.crop)?
            }
        })
    }

    /// [`ClassifierInput::decode`] of an image file, within [`Limits::global`].
    pub fn load(&self, path: &Path) -> Result<Rgb8, Error> {
        let limits = Limits::global();
        let bytes = limits.read_file(path, "an image")?;
        self.decode(&bytes, &path.display().to_string(), &limits)
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
    /// Crop-then-resize or resize-then-crop, overriding the model's (None: the model's).
    pub preprocess: Option<Preprocess>,
}

impl Default for Options {
    fn default() -> Self {
        Options { threads: 0, precision: Precision::Auto, crop: 0.875, labels: None, preprocess: None }
    }
}

/// A loaded model ready to classify images.
pub struct Classifier {
    /// Shared with every [`Classifier::instance`].
    model: Arc<Model>,
    backend: Backend,
    labels: Labels,
    crop: f32,
    preprocess: Preprocess,
}

impl Classifier {
    /// Loads a model file and compiles it.
    pub fn load(path: impl AsRef<Path>, options: Options) -> Result<Classifier, Error> {
        let model = mnv2_import::load(path)?;
        Classifier::new(model, options)
    }

    pub fn new(model: Model, options: Options) -> Result<Classifier, Error> {
        match model.task {
            mnv2_engine::Task::Classify => {}
            mnv2_engine::Task::Segment(_) => {
                return Err(Error::Unsupported(format!("{} is a segmentation model (use segment)", model.name)));
            }
            mnv2_engine::Task::Detect(_) => {
                return Err(Error::Unsupported(format!("{} is a detection model (use detect)", model.name)));
            }
        }
        if !(options.crop > 0.0 && options.crop <= 1.0) {
            return Err(mnv2_image::ImageError::CropFraction(options.crop).into());
        }
        let classes = model.arch.classes as usize;
        let labels = match (&options.labels, &model.labels) {
            (Some(path), _) => Labels::from_file(path, classes)?,
            (None, Some(names)) => Labels::fit(names.clone(), classes, &model.name)?,
            (None, None) => Labels::numbered(classes),
        };
        let backend = Backend::new(&model, &options)?;
        let preprocess = options.preprocess.unwrap_or(model.input.preprocess);
        Ok(Classifier { model: Arc::new(model), backend, labels, crop: options.crop, preprocess })
    }

    /// Another classifier on the same compiled network and model (weights shared, not copied),
    /// with worker threads and activation memory of its own: one per batch run side by side.
    pub fn instance(&self) -> Result<Classifier, Error> {
        Ok(Classifier {
            model: self.model.clone(),
            backend: self.backend.instance()?,
            labels: self.labels.clone(),
            crop: self.crop,
            preprocess: self.preprocess,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }
    /// The arithmetic the network runs in (never `Auto`).
    pub fn precision(&self) -> Precision {
        self.backend.precision()
    }
    pub fn labels(&self) -> &Labels {
        &self.labels
    }
    /// The square input size the network expects.
    pub fn input_size(&self) -> usize {
        self.model.arch.resolution as usize
    }

    /// The fraction of each side the central crop keeps.
    pub fn crop(&self) -> f32 {
        self.crop
    }

    /// How images become this classifier's input.
    pub fn input(&self) -> ClassifierInput {
        ClassifierInput { size: self.input_size(), crop: self.crop, preprocess: self.preprocess }
    }

    /// Crops and resizes an image to the network's input (bytes, HWC RGB), in the order the
    /// model was trained with (TF-slim: crop then resize; torchvision: resize then crop).
    pub fn preprocess(&self, image: &Rgb8) -> Result<Rgb8, Error> {
        prepare_image(image, self.input_size(), self.crop, self.preprocess)
    }

    /// Classifies a batch of images: the top `k` predictions of each.
    pub fn classify(&mut self, images: &[Rgb8], k: usize) -> Result<Vec<Vec<Prediction>>, Error> {
        let prepared = images.iter().map(|i| self.preprocess(i)).collect::<Result<Vec<_>, _>>()?;
        let bytes: Vec<&[u8]> = prepared.iter().map(|p| p.data.as_slice()).collect();
        self.classify_prepared(&bytes, k)
    }

    /// Classifies already-prepared inputs (see [`Classifier::preprocess`]): the top `k`
    /// predictions of each.
    pub fn classify_prepared(&mut self, inputs: &[&[u8]], k: usize) -> Result<Vec<Vec<Prediction>>, Error> {
        let probs = self.probabilities(inputs)?;
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

    /// The backbone's pooled features (1280 per image for width <= 1) of prepared inputs, in
    /// float32: what a linear classifier on a frozen backbone trains on.
    pub fn features(&mut self, inputs: &[&[u8]]) -> Result<Vec<f32>, Error> {
        if !matches!(self.backend, Backend::F32(..)) {
            return Err(Error::Unsupported("features need --precision f32".into()));
        }
        self.run_bytes(inputs)?;
        match &self.backend {
            Backend::F32(r) => Ok(r.session().map_or_else(Vec::new, |s| s.pooled().to_vec())),
            Backend::Int8(_) => unreachable!("checked above"),
        }
    }

    /// Makes the activation memory for batches of `batch` images now (it is otherwise made on the
    /// first run of that size), refusing a batch too large for the memory limit.
    pub fn reserve(&mut self, batch: usize) -> Result<(), Error> {
        self.backend.reserve(batch)
    }

    /// Bytes of activation memory held for the last batch size run (0 before the first run).
    pub fn arena_bytes(&self) -> usize {
        self.backend.arena_bytes()
    }

    /// Runs prepared RGB byte inputs in integer arithmetic and returns the model's raw output
    /// bytes (uint8, or int8 stored +128 when [`Classifier::raw_output_is_int8`]).
    pub fn run_int8(&mut self, inputs: &[&[u8]]) -> Result<Vec<u8>, Error> {
        let Backend::Int8(runner) = &mut self.backend else {
            return Err(Error::Unsupported("the classifier runs in float32, not int8".into()));
        };
        // The session first: it refuses a batch too large for memory before the inputs are copied.
        if !inputs.is_empty() {
            runner.reserve(inputs.len())?;
        }
        let len = self.model.arch.input().len();
        let mut bytes = Vec::with_capacity(inputs.len() * len);
        for (i, b) in inputs.iter().enumerate() {
            if b.len() != len {
                return Err(Error::Input(format!("input {i} has {} bytes, expected {len}", b.len())));
            }
            bytes.extend_from_slice(b);
        }
        Ok(runner.run(&bytes, inputs.len())?)
    }

    /// Whether [`Classifier::run_int8`]'s bytes are int8 values stored +128.
    pub fn raw_output_is_int8(&self) -> bool {
        matches!(&self.backend, Backend::Int8(r) if r.plan.output_signed())
    }

    /// Runs prepared RGB byte inputs and returns the model's output in real values, batch x
    /// classes: probabilities or logits, as the model gives them (in int8, the output bytes
    /// dequantized).
    pub fn run_bytes(&mut self, inputs: &[&[u8]]) -> Result<Vec<f32>, Error> {
        if let Backend::Int8(..) = self.backend {
            let raw = self.run_int8(inputs)?;
            return Ok(dequantize_output(&raw, self.output_quant().as_ref(), self.raw_output_is_int8()));
        }
        if !inputs.is_empty() {
            self.reserve(inputs.len())?;
        }
        let real = concat_inputs(inputs, self.model.arch.input().len(), &self.model.input)?;
        self.run_real(&real, inputs.len())
    }

    /// The quantization of the int8 output bytes (None: 1/256 from zero).
    fn output_quant(&self) -> Option<Quant> {
        match &self.model.output {
            OutputKind::Softmax { quant, requantized } => requantized.clone().or(quant.clone()),
            OutputKind::Logits => self.model.layers.last().and_then(|l| match l {
                mnv2_engine::LayerWeights::Classifier(w) => w.output.clone(),
                _ => None,
            }),
        }
    }

    /// Runs real-valued (already normalised) inputs, batch x H x W x 3, in float32.
    pub fn run_real(&mut self, real: &[f32], batch: usize) -> Result<Vec<f32>, Error> {
        let Backend::F32(runner) = &mut self.backend else {
            return Err(Error::Unsupported("float inputs need --precision f32 (the model runs in int8)".into()));
        };
        Ok(runner.run(real, batch)?)
    }
}

/// Real values of integer output bytes.
fn dequantize_output(raw: &[u8], q: Option<&Quant>, signed: bool) -> Vec<f32> {
    let (scale, zp) = q.map_or((1.0 / 256.0, 0), |q| (q.scale[0], q.zero_point[0] as i32));
    let offset = if signed { 128 } else { 0 };
    raw.iter().map(|&b| scale * ((b as i32 - offset) - zp) as f32).collect()
}
