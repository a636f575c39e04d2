//! Image classification from JavaScript.

use crate::{js_error, options, rgba};
use wasm_bindgen::prelude::*;
use web_sys::ImageData;

/// One class of a classification: its index in the model's output, name and probability.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone)]
pub struct Prediction {
    pub index: u32,
    pub label: String,
    pub score: f32,
}

/// A classification model (TFLite, mnv2 safetensors, ONNX or PyTorch file), compiled for this
/// page.
#[wasm_bindgen]
pub struct Classifier {
    inner: mnv2::Classifier,
}

#[wasm_bindgen]
impl Classifier {
    /// Loads a model from its file's bytes; `name` is the file name (for messages), `precision`
    /// "auto" (integer for quantized models), "f32" or "int8".
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], name: &str, precision: Option<String>) -> Result<Classifier, JsError> {
        let model = mnv2::import::load_bytes(bytes, name).map_err(js_error)?;
        let inner = mnv2::Classifier::new(model, options(precision)?).map_err(js_error)?;
        Ok(Classifier { inner })
    }

    /// The top `k` classes of an image (cropped and resized as the model was trained).
    pub fn classify(&mut self, image: &ImageData, k: usize) -> Result<Vec<Prediction>, JsError> {
        self.top(rgba::rgb_of_image_data(image)?, k)
    }

    /// [`Classifier::classify`] for raw RGBA bytes (where there is no `ImageData`, as in Node).
    #[wasm_bindgen(js_name = classifyRgba)]
    pub fn classify_rgba(
        &mut self,
        rgba: &[u8],
        width: u32,
        height: u32,
        k: usize,
    ) -> Result<Vec<Prediction>, JsError> {
        self.top(rgba::rgb_of_rgba(rgba, width, height)?, k)
    }

    /// The probabilities of every class for an input already prepared: `inputSize` squared RGB
    /// bytes (what benchmarks time: the network alone).
    pub fn probabilities(&mut self, rgb: &[u8]) -> Result<Vec<f32>, JsError> {
        self.inner.probabilities(&[rgb]).map_err(js_error)
    }

    /// The square input size of the network.
    #[wasm_bindgen(getter, js_name = inputSize)]
    pub fn input_size(&self) -> usize {
        self.inner.input_size()
    }

    /// The arithmetic the network runs in: "f32" or "int8".
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> String {
        match self.inner.precision() {
            mnv2::Precision::Int8 => "int8",
            _ => "f32",
        }
        .to_string()
    }

    /// The model's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.model().name.clone()
    }

    fn top(&mut self, image: mnv2::image::Rgb8, k: usize) -> Result<Vec<Prediction>, JsError> {
        let mut top = self.inner.classify(&[image], k).map_err(js_error)?;
        Ok(top
            .pop()
            .unwrap_or_default()
            .into_iter()
            .map(|p| Prediction { index: p.index as u32, label: p.label, score: p.score })
            .collect())
    }
}
