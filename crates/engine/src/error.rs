//! Engine errors.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("model weights do not fit the architecture: {0}")]
    Weights(String),
    #[error("input has {found} values, expected {expected} (batch {batch} x {h}x{w}x{c})")]
    InputSize { found: usize, expected: usize, batch: usize, h: u32, w: u32, c: u32 },
    #[error("the model has float weights: integer execution needs a quantized model (use --precision f32)")]
    NotQuantized,
    #[error("the model is not a segmentation model")]
    NotSegmentation,
    #[error("the model is not a detection model")]
    NotDetection,
    #[error("{0} is not supported for this model")]
    Unsupported(String),
    #[error("batch size must be at least 1")]
    EmptyBatch,
    #[error(transparent)]
    Model(#[from] mnv2_model::ModelError),
    #[error(transparent)]
    Limit(#[from] mnv2_limits::LimitError),
    #[error("could not start {threads} worker threads: {reason}")]
    Threads { threads: usize, reason: String },
}
