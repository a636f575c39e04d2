//! mnv2 for JavaScript: the engine compiled to WebAssembly (SIMD128 where the build enables it),
//! with `wasm-bindgen` bindings. The model file's bytes come from JavaScript (no file system);
//! images come as `ImageData` (from a canvas) or as raw RGBA bytes.
//!
//! ```js
//! import init, { Classifier } from './pkg/mnv2_wasm.js';
//! await init();
//! const bytes = new Uint8Array(await (await fetch('mobilenet_v2_1.0_224_quant.tflite')).arrayBuffer());
//! const classifier = new Classifier(bytes, 'mobilenet_v2_1.0_224_quant.tflite', 'auto');
//! for (const p of classifier.classify(ctx.getImageData(0, 0, w, h), 5)) console.log(p.label, p.score);
//! ```
//!
//! Everything runs on the calling thread (one engine thread): run it in a Web Worker to keep a
//! page responsive. Errors are thrown as JavaScript `Error`s with mnv2's one-line message.

mod classify;
mod detect;
mod rgba;
mod segment;

pub use classify::{Classifier, Prediction};
pub use detect::{DetectedBox, Detector};
pub use segment::{ClassShare, Segmentation, Segmenter};

use wasm_bindgen::prelude::*;

/// The kernels' instruction-set level in this build: "simd128" or "scalar".
#[wasm_bindgen(js_name = kernelLevel)]
pub fn kernel_level() -> String {
    mnv2::kernels::Isa::detect().name().to_string()
}

/// mnv2's version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// An mnv2 error as the JavaScript `Error` thrown.
fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Options for one engine thread, the precision given by name ("auto", "f32" or "int8").
fn options(precision: Option<String>) -> Result<mnv2::Options, JsError> {
    let precision = match precision.as_deref() {
        None | Some("") => mnv2::Precision::Auto,
        Some(p) => p.parse().map_err(|e: String| JsError::new(&e))?,
    };
    Ok(mnv2::Options { threads: 1, precision, ..mnv2::Options::default() })
}
