//! Import errors: each names what was wrong with which file.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("unknown model format ({0}); supported: .tflite, mnv2 .safetensors, TensorFlow frozen .pb")]
    UnknownFormat(String),
    #[error("corrupt model file: {0}")]
    Malformed(String),
    #[error("unsupported model feature: {0}")]
    Unsupported(String),
    #[error("not a MobileNetV2 graph: {0}")]
    NotMobileNetV2(String),
    #[error(transparent)]
    Read(#[from] mnv2_limits::LimitError),
    #[error(transparent)]
    Model(#[from] mnv2_model::ModelError),
}
