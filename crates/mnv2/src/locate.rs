//! Where to find a model when none is named.

use crate::Error;
use std::path::PathBuf;

/// File name of the default ImageNet model.
pub const DEFAULT_MODEL: &str = "mobilenet_v2_1.0_224_quant.tflite";

/// File name of the default segmentation model.
pub const DEFAULT_SEGMENTATION_MODEL: &str = "deeplabv3_mnv2_pascal_quant.tflite";

/// File name of the default detection model (a trained SSDLite pedestrian detector).
pub const DEFAULT_DETECTION_MODEL: &str = "ssdlite_mobilenet_v2_pedestrian_frozen.pb";

/// [`DEFAULT_DETECTION_MODEL`] in `$MNV2_MODEL_DIR`, `./models`, `../shared/models`.
pub fn default_detection_model_path() -> Result<PathBuf, Error> {
    find_model(DEFAULT_DETECTION_MODEL)
}

/// `$MNV2_MODEL`, else [`DEFAULT_MODEL`] in `$MNV2_MODEL_DIR`, `./models`, `../shared/models`.
pub fn default_model_path() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("MNV2_MODEL") {
        return Ok(PathBuf::from(p));
    }
    find_model(DEFAULT_MODEL)
}

/// [`DEFAULT_SEGMENTATION_MODEL`] in `$MNV2_MODEL_DIR`, `./models`, `../shared/models`.
pub fn default_segmentation_model_path() -> Result<PathBuf, Error> {
    find_model(DEFAULT_SEGMENTATION_MODEL)
}

fn find_model(file: &str) -> Result<PathBuf, Error> {
    let mut searched = Vec::new();
    let dirs = std::env::var_os("MNV2_MODEL_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("models"), PathBuf::from("../shared/models")]);
    for dir in dirs {
        let candidate = dir.join(file);
        if candidate.is_file() {
            return Ok(candidate);
        }
        searched.push(dir);
    }
    Err(Error::ModelNotFound { file: file.to_string(), searched })
}
