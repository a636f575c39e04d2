//! The MobileNetV2 inference engine: a [`Model`] (an architecture from `mnv2-arch` with weights in
//! its slots) is compiled once into a plan with prepacked weights and run on batches with a fixed
//! arena, so that no inference allocates.

mod bands;
mod error;
mod f32plan;
mod fused;
mod model;
pub mod profile;
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

/// `v` cut into `n` equal parts, one per image or lane (n empty slices when `v` is empty).
fn per_image<T>(v: &mut [T], n: usize) -> Vec<&mut [T]> {
    if v.is_empty() {
        return (0..n).map(|_| <&mut [T]>::default()).collect();
    }
    v.chunks_mut(v.len() / n).collect()
}

/// Refuses a session whose buffers, `elem` bytes times the sum of count x length over `parts`,
/// would exceed the process-wide memory limit (the batch size comes from outside).
fn check_session_memory(batch: usize, elem: usize, parts: &[(usize, usize)]) -> Result<(), EngineError> {
    let total = parts.iter().try_fold(0usize, |sum, &(count, len)| sum.checked_add(count.checked_mul(len)?));
    mnv2_limits::Limits::global().check_memory(batch, total.and_then(|t| t.checked_mul(elem)))?;
    Ok(())
}
