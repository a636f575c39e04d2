//! Where to find a model when none is named.

use crate::Error;
use std::path::PathBuf;

/// File name of the default ImageNet model.
pub const DEFAULT_MODEL: &str = "mobilenet_v2_1.0_224_quant.tflite";

/// `$MNV2_MODEL`, else [`DEFAULT_MODEL`] in `$MNV2_MODEL_DIR`, `./models`, `../shared/models`.
pub fn default_model_path() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("MNV2_MODEL") {
        return Ok(PathBuf::from(p));
    }
    let mut searched = Vec::new();
    let dirs = std::env::var_os("MNV2_MODEL_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("models"), PathBuf::from("../shared/models")]);
    for dir in dirs {
        let candidate = dir.join(DEFAULT_MODEL);
        if candidate.is_file() {
            return Ok(candidate);
        }
        searched.push(dir);
    }
    Err(Error::ModelNotFound { searched })
}
