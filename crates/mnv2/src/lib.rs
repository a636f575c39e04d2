//! MobileNetV2 in Rust: the library API.
//!
//! ```no_run
//! use mnv2::{Classifier, Options};
//! let mut classifier = Classifier::load("../shared/models/mobilenet_v2_1.0_224_quant.tflite", Options::default())?;
//! let image = mnv2::image::load_rgb("../shared/images/cat.bmp")?;
//! for p in classifier.classify(&[image], 5)?.remove(0) {
//!     println!("{:5.1}%  {} ({})", 100.0 * p.score, p.label, p.index);
//! }
//! # Ok::<(), mnv2::Error>(())
//! ```
//!
//! The types here (`Classifier`, `Segmenter`, `Detector`) run whole tasks from images;
//! [`training`] trains classifiers and detectors from files, [`evaluate`] scores models on
//! labelled data, [`bench`] times them. The crates underneath: [`arch`] (Table 2 as data,
//! DeepLab and SSDLite), [`model`] (an architecture with its weights, float or quantized),
//! [`kernels`] (by instruction-set level), [`engine`] (the fp32 and int8 plans, one [`engine::Plan`]
//! interface), [`import`] (TFLite, TensorFlow GraphDef, mnv2 safetensors), [`image`] (decode,
//! crop, resize, drawing, curves), [`heads`] (labels, class maps, anchors, NMS, metrics),
//! [`train`] (backward passes, optimizers, the `Trainer`) and [`limits`] (caps on sizes from
//! outside).

mod backend;
pub mod bench;
mod classifier;
mod detector;
mod error;
pub mod evaluate;
#[doc(hidden)]
pub mod fuzzing;
mod locate;
pub mod npy;
pub mod quantize;
pub mod report;
mod segmenter;
pub mod training;

pub use classifier::{Classifier, ClassifierInput, Options, Precision, parse_preprocess, prepare_image};
pub use detector::{Detector, ObjectBox};
pub use error::Error;
pub use locate::{
    DEFAULT_DETECTION_MODEL, DEFAULT_MODEL, DEFAULT_SEGMENTATION_MODEL, default_detection_model_path,
    default_model_path, default_segmentation_model_path,
};
pub use segmenter::{PAD_VALUE, Segmenter};

pub use mnv2_arch as arch;
pub use mnv2_engine as engine;
pub use mnv2_heads as heads;
pub use mnv2_image as image;
pub use mnv2_import as import;
pub use mnv2_kernels as kernels;
pub use mnv2_limits as limits;
pub use mnv2_model as model;
pub use mnv2_train as train;

pub use mnv2_heads::Prediction;
pub use mnv2_limits::{LimitError, Limits};
pub use mnv2_train::{Progress, Silent};
