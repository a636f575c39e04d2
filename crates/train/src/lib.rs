//! Training MobileNetV2: every layer's forward pass keeps what its backward pass needs, and each
//! backward pass is written by hand beside its forward (the llm.c way), on the architecture
//! description of `mnv2-arch`. Activations are NHWC, weights OHWI as in the inference engine.
//!
//! Convolutions pad symmetrically (PyTorch's convention, what the reference gradients use).

pub mod augment;
pub mod convert;
pub mod data;
pub mod detdata;
pub mod layers;
pub mod loss;
pub mod model;
pub mod optim;
pub mod probe;
pub mod safetensors;
pub mod ssd;
pub mod ssd_augment;
pub mod ssd_loss;

pub use model::{Grads, Params, TrainNet};
