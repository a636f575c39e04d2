//! Training errors: what was wrong with which dataset, model, option or checkpoint.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum TrainError {
    /// A dataset that cannot be used (missing folders, bad annotations, too few images).
    #[error("{0}")]
    Data(String),
    /// A model that cannot be trained as asked (wrong task, sizes that differ).
    #[error("{0}")]
    Model(String),
    /// An option value that is not understood.
    #[error("{0}")]
    Options(String),
    /// A training checkpoint that is missing, corrupt, or from another run.
    #[error("{path}: {reason}")]
    Checkpoint { path: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("cannot create the folder {folder} for {path}: {source}")]
    Folder { folder: String, path: String, source: std::io::Error },
    /// The held-out evaluation failed (the message of the library that ran it).
    #[error("evaluation: {0}")]
    Evaluation(String),
    /// The caller's [`Progress`](crate::Progress) asked to stop.
    #[error("training stopped by the caller (the last finished epoch is saved; resume to continue)")]
    Cancelled,
    #[error(transparent)]
    Import(#[from] mnv2_import::ImportError),
    #[error(transparent)]
    Weights(#[from] mnv2_model::ModelError),
    #[error(transparent)]
    Arch(#[from] mnv2_arch::ArchError),
    #[error(transparent)]
    Image(#[from] mnv2_image::ImageError),
    #[error(transparent)]
    Limit(#[from] mnv2_limits::LimitError),
}

impl TrainError {
    /// A [`TrainError::Write`] of `path`.
    pub fn write(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
        move |source| TrainError::Write { path: path.display().to_string(), source }
    }

    /// A [`TrainError::Checkpoint`] of `path`.
    pub fn checkpoint(path: &std::path::Path, reason: impl Into<String>) -> TrainError {
        TrainError::Checkpoint { path: path.display().to_string(), reason: reason.into() }
    }
}
