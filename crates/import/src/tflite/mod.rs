//! TFLite import: reads the flatbuffer and maps a MobileNetV2 graph onto the architecture
//! description, checking every operator, option, connection and weight shape on the way.

mod map;
mod schema;

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
    Ok(model)
}
