//! The MobileNetV2 inference engine: a [`Model`] (an architecture from `mnv2-arch` with weights in
//! its slots) is compiled once into a plan with prepacked weights and run on batches with a fixed
//! arena, so that no inference allocates.

mod bands;
mod error;
mod f32plan;
mod fused;
mod model;
mod q8fused;
mod q8plan;
mod softmax;
mod ssdhead;
mod threads;

pub use error::EngineError;
pub use f32plan::{F32Engine, F32Session};
pub use model::{
    BlockWeights, ConvWeights, DeepLabWeights, InputSpec, LayerWeights, Model, OutputKind, PoolKind, Quant,
    SsdExtraWeights, SsdPredictorWeights, SsdWeights, Task, Tensor, TensorData,
};
pub use q8plan::{Q8Engine, Q8Session, TraceOp};
pub use softmax::softmax_in_place;
pub use threads::Threads;
