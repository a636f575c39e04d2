//! Model importers: each reads an external format and maps its weights onto the `mnv2-arch`
//! description (checking every shape), never building a graph of its own.
//!
//! ```no_run
//! let model = mnv2_import::load("../shared/models/mobilenet_v2_1.0_224_quant.tflite").unwrap();
//! println!("{} classes at {}x{}", model.arch.classes, model.arch.resolution, model.arch.resolution);
//! ```

mod error;
mod flatbuf;
mod flatbuf_build;
mod int8_meta;
pub mod onnx;
pub mod safetensors;
mod tfgraph;
mod tflite;
pub mod torch;
mod zip;

pub use error::ImportError;
pub use tfgraph::load_tf_graph;
pub use tflite::{load_tflite, to_tflite};

use mnv2_model::Model;
use std::path::Path;

/// Largest model file accepted (MobileNetV2 1.4 in float32 is about 25 MB).
const MAX_MODEL_BYTES: u64 = 1 << 30;

/// Loads a model file, choosing the importer by its contents.
pub fn load(path: impl AsRef<Path>) -> Result<Model, ImportError> {
    let path = path.as_ref();
    let bytes = mnv2_limits::read_file(path, MAX_MODEL_BYTES, "a model (larger than any MobileNetV2)")?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    load_bytes(&bytes, &name)
}

/// Loads a model from bytes (`name` is used in messages).
pub fn load_bytes(bytes: &[u8], name: &str) -> Result<Model, ImportError> {
    if bytes.len() >= 8 && &bytes[4..8] == b"TFL3" {
        return load_tflite(bytes, name);
    }
    if torch::pth::is_pth(bytes) {
        let tensors = torch::pth::read_state_dict(bytes)?;
        return torch::to_model(torch::pth::torchvision_net(tensors)?, 224, name);
    }
    if safetensors::is_safetensors(bytes) {
        if safetensors::read_metadata(bytes)?.contains_key("mnv2.arch") {
            return safetensors::load_safetensors(bytes, name);
        }
        // Without mnv2's metadata: a state_dict saved by safetensors.torch.save_file.
        let (mut tensors, _) = safetensors::read(bytes)?;
        tensors.retain(|k, _| !k.ends_with("num_batches_tracked"));
        let net = torch::pth::torchvision_net(tensors)?;
        return torch::to_model(net, 224, name);
    }
    if onnx::looks_like_onnx(bytes, name) {
        return onnx::load_onnx(bytes, name);
    }
    // A GraphDef has no magic number; its first field is a node (tag 1, length-delimited: 0x0a).
    if name.ends_with(".pb") || bytes.first() == Some(&0x0a) {
        return tfgraph::load_tf_graph(bytes, name);
    }
    Err(ImportError::UnknownFormat(format!(
        "{name} is neither a TFLite flatbuffer, an mnv2 or PyTorch safetensors file, a PyTorch checkpoint (.pth), an ONNX file nor a TensorFlow frozen graph"
    )))
}
