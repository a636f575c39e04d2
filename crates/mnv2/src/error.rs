//! The library's error type: one variant per layer it comes from.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Import(#[from] mnv2_import::ImportError),
    #[error(transparent)]
    Model(#[from] mnv2_model::ModelError),
    #[error(transparent)]
    Engine(#[from] mnv2_engine::EngineError),
    #[error(transparent)]
    Image(#[from] mnv2_image::ImageError),
    #[error(transparent)]
    Arch(#[from] mnv2_arch::ArchError),
    #[error(transparent)]
    Limit(#[from] mnv2_limits::LimitError),
    #[error(transparent)]
    Train(#[from] mnv2_train::TrainError),
    #[error(transparent)]
    Labels(#[from] mnv2_heads::LabelError),
    #[error("{0}")]
    Npy(String),
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "no model given and no {file} found (looked in: {}); pass --model PATH or set MNV2_MODEL \
         (or MNV2_MODEL_DIR); {file} is one of the published pretrained models",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    ModelNotFound { file: String, searched: Vec<PathBuf> },
    #[error("{0}")]
    Unsupported(String),
    #[error("input: {0}")]
    Input(String),
}
