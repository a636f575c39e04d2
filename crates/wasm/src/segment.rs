//! Semantic segmentation from JavaScript.

use crate::{js_error, options, rgba};
use wasm_bindgen::prelude::*;
use web_sys::ImageData;

/// A class present in a segmentation and the fraction of the picture it covers.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone)]
pub struct ClassShare {
    pub class: u8,
    pub label: String,
    pub fraction: f64,
}

/// The class of every pixel of an image, at the image's own size, and the overlay picture.
#[wasm_bindgen(getter_with_clone)]
pub struct Segmentation {
    pub width: u32,
    pub height: u32,
    /// One class index per pixel, row by row.
    pub classes: Vec<u8>,
    /// The classes present, the largest first.
    pub present: Vec<ClassShare>,
    /// The image with every non-background class tinted in its PASCAL colour, and a legend.
    pub overlay: ImageData,
}

/// A segmentation model (Mobile DeepLabv3).
#[wasm_bindgen]
pub struct Segmenter {
    inner: mnv2::Segmenter,
}

#[wasm_bindgen]
impl Segmenter {
    /// Loads a model from its file's bytes (`precision` as for `Classifier`).
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], name: &str, precision: Option<String>) -> Result<Segmenter, JsError> {
        let model = mnv2::import::load_bytes(bytes, name).map_err(js_error)?;
        let inner = mnv2::Segmenter::new(model, options(precision)?).map_err(js_error)?;
        Ok(Segmenter { inner })
    }

    /// Segments an image.
    pub fn segment(&mut self, image: &ImageData) -> Result<Segmentation, JsError> {
        let rgb = rgba::rgb_of_image_data(image)?;
        let map = self.inner.segment(&rgb).map_err(js_error)?;
        let labels = self.inner.labels();
        let present = map
            .fractions()
            .into_iter()
            .map(|(class, fraction)| ClassShare { class, label: labels.get(class as usize).to_string(), fraction })
            .collect();
        let overlay = rgba::image_data_of_rgb(&self.inner.overlay(&rgb, &map))?;
        Ok(Segmentation { width: map.width as u32, height: map.height as u32, classes: map.classes, present, overlay })
    }

    /// The class names, by index.
    #[wasm_bindgen(getter)]
    pub fn labels(&self) -> Vec<String> {
        self.inner.labels().names().to_vec()
    }
}
