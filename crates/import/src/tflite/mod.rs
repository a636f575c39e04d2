//! TFLite import: reads the flatbuffer and maps a MobileNetV2 graph onto the architecture
//! description, checking every operator, option, connection and weight shape on the way.

mod map;
mod schema;

use mnv2_engine::Model;

use crate::ImportError;

/// Loads a MobileNetV2 TFLite model from bytes. `name` is used in messages.
pub fn load_tflite(bytes: &[u8], name: &str) -> Result<Model, ImportError> {
    let graph = schema::Graph::parse(bytes)?;
    let mut model = map::map_graph(&graph, bytes, name)?;
    model.labels = crate::zip::labels_for(bytes, model.arch.classes as usize);
    Ok(model)
}
