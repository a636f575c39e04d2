//! What the fuzz targets (`fuzz/`) run on a model an importer accepted: compiling it for both
//! engines must fail with an error or succeed, never panic. Not part of the API.

use mnv2_engine::{F32Engine, Model, Q8Engine};

/// Compiles `model` for the float engine and, when it is quantized, for the integer engine.
pub fn compile(model: &Model) {
    let _ = F32Engine::new(model, 1);
    if model.is_quantized() {
        let _ = Q8Engine::new(model, 1);
    }
}
