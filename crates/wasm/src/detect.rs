//! Object detection from JavaScript.

use crate::{js_error, options, rgba};
use wasm_bindgen::prelude::*;
use web_sys::ImageData;

/// One detected object, in the image's pixels.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone)]
pub struct DetectedBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    /// Class slot (1-based: 0 is the background).
    pub class: u32,
    pub label: String,
    pub score: f32,
}

/// An SSDLite detection model (TensorFlow frozen graph, or mnv2 safetensors); it runs in float32.
#[wasm_bindgen]
pub struct Detector {
    inner: mnv2::Detector,
}

#[wasm_bindgen]
impl Detector {
    /// Loads a model from its file's bytes; `name` is the file name (the released pedestrian
    /// detector is known by it, its graph carrying no class names).
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], name: &str) -> Result<Detector, JsError> {
        let inner = mnv2::Detector::from_bytes(bytes, name, &options(None)?).map_err(js_error)?;
        Ok(Detector { inner })
    }

    /// The objects in an image with a score of at least `minScore`, best first.
    pub fn detect(&mut self, image: &ImageData, min_score: f32) -> Result<Vec<DetectedBox>, JsError> {
        let rgb = rgba::rgb_of_image_data(image)?;
        let boxes = self.inner.detect(&rgb).map_err(js_error)?;
        Ok(boxes
            .into_iter()
            .filter(|b| b.score >= min_score)
            .map(|b| DetectedBox {
                x0: b.bbox[0],
                y0: b.bbox[1],
                x1: b.bbox[2],
                y1: b.bbox[3],
                class: b.class as u32,
                label: b.label,
                score: b.score,
            })
            .collect())
    }
}
