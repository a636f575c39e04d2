//! TFLite import: reads the flatbuffer and maps a MobileNetV2 graph onto the architecture
//! description, checking every operator, option, connection and weight shape on the way.

mod export;
mod map;
mod schema;

pub use export::to_tflite;

pub(crate) use map::WIDTHS;

use mnv2_model::Model;

use crate::ImportError;

/// Loads a MobileNetV2 TFLite model from bytes. `name` is used in messages.
pub fn load_tflite(bytes: &[u8], name: &str) -> Result<Model, ImportError> {
    let graph = schema::Graph::parse(bytes)?;
    let mut model = map::map_graph(&graph, bytes, name)?;
    // TFLite metadata appends its associated files (the labels) as a ZIP archive after the
    // flatbuffer: if one starts there but cannot be read, the file was cut short.
    let flatbuffer_end = graph.buffers.iter().map(|b| b.start + b.len).max().unwrap_or(0);
    let appended = bytes.get(flatbuffer_end..).is_some_and(|rest| rest.windows(4).any(|w| w == b"PK\x03\x04"));
    if appended && !crate::zip::readable(bytes) {
        return Err(ImportError::Malformed(format!(
            "{name}: the archive appended to the model (its labels) is truncated or corrupt"
        )));
    }
    model.labels = crate::zip::labels_for(bytes, model.arch.classes as usize);
    // What mnv2's exporter writes: labels, and the normalisation a float input cannot carry.
    if let Some(labels) =
        crate::safetensors::labels_of(&graph.metadata).filter(|l| l.len() == model.arch.classes as usize)
    {
        model.labels = Some(labels);
    }
    if graph.metadata.contains_key("mnv2.input") {
        let (mean, std, preprocess) = crate::safetensors::input_of(&graph.metadata)
            .map_err(|e| ImportError::Malformed(format!("{name}: {e}")))?;
        model.input.preprocess = preprocess;
        if model.input.quant.is_none() {
            (model.input.mean, model.input.std) = (mean, std);
        }
    }
    Ok(model)
}
