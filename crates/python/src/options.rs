//! Constructor arguments shared by the model classes: the model path (or the default model),
//! threads, precision, labels.

use crate::errors::OrPyErr;
use mnv2::{Options, Precision};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// `path`, or the task's default model found as `mnv2` finds it (MNV2_MODEL_DIR, ../shared/models).
pub fn model_path(path: Option<PathBuf>, default: fn() -> Result<PathBuf, mnv2::Error>) -> PyResult<PathBuf> {
    match path {
        Some(p) => Ok(p),
        None => default().py_err(),
    }
}

/// The library's options from the keyword arguments.
pub fn options(
    threads: usize,
    precision: &str,
    crop: f32,
    labels: Option<PathBuf>,
    preprocess: &str,
) -> PyResult<Options> {
    let precision: Precision = precision.parse().map_err(PyValueError::new_err)?;
    if !(crop > 0.0 && crop <= 1.0) {
        return Err(PyValueError::new_err(format!("crop must be in (0, 1], got {crop}")));
    }
    let preprocess = mnv2::parse_preprocess(preprocess).map_err(PyValueError::new_err)?;
    Ok(Options { threads, precision, crop, labels, preprocess })
}

/// The arithmetic's name as Python shows it.
pub fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::Int8 => "int8",
        _ => "f32",
    }
}

/// Locks a model for one call; a panic in an earlier call does not make the model unusable
/// (every call starts from its inputs, nothing half-written is read).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
