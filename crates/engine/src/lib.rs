//! The MobileNetV2 inference engine: a [`Model`] (an architecture from `mnv2-arch` with weights in
//! its slots) is compiled once into a plan with prepacked weights and run on batches with a fixed
//! arena, so that no inference allocates.

mod bands;
mod error;
mod f32plan;
mod fused;
mod lower;
pub(crate) use mnv2_model as model;
mod plan;
pub mod profile;
mod q8plan;
mod softmax;
mod ssdhead;
mod threads;

pub use error::EngineError;
pub use f32plan::{F32Engine, F32Session};
pub use mnv2_model::{
    BlockWeights, ConvWeights, DeepLabWeights, InputSpec, LayerWeights, Model, ModelError, OutputKind, PoolKind,
    Preprocess, Quant, SsdExtraWeights, SsdPredictorWeights, SsdWeights, Task, Tensor, TensorData,
};
pub use plan::{Plan, Runner, Session};
pub use q8plan::{Q8Engine, Q8Session, TraceOp};
pub use softmax::softmax_in_place;
pub use threads::Threads;

use mnv2_kernels::upsample::{Score, UpsampleArgmax};

/// `v` cut into `n` equal parts, one per image or lane (n empty slices when `v` is empty).
fn per_image<T>(v: &mut [T], n: usize) -> Vec<&mut [T]> {
    if v.is_empty() {
        return (0..n).map(|_| <&mut [T]>::default()).collect();
    }
    v.chunks_mut(v.len() / n).collect()
}

/// The class map of each image of a batch of score maps (segmentation's last step): per image the
/// candidate classes of every quad, then bands of output rows on `th`'s workers (several bands
/// per worker, as rows across class boundaries cost more).
fn class_maps<T: Score>(th: &Threads, up: &UpsampleArgmax, scores: &[T], maps: &mut [u8]) {
    let ((h, w, c), (oh, ow)) = (up.input(), up.output());
    assert_eq!(scores.len() / (h * w * c), maps.len() / (oh * ow), "a class map per score map");
    let _timed = profile::scope(|| format!("resize {h}x{w} -> {oh}x{ow} + argmax"));
    let band = oh.div_ceil(4 * th.count()).max(1);
    for (s, map) in scores.chunks_exact(h * w * c).zip(maps.chunks_exact_mut(oh * ow)) {
        let candidates = T::candidates(up, s);
        th.for_chunks(map, band * ow, |i, rows| {
            T::rows(up, s, &candidates, i * band..i * band + rows.len() / ow, rows)
        });
    }
}

/// Runs a segmentation plan on a batch and writes each image's class map: `run` fills the score
/// maps (kept in the session between runs, taken out by `scores` while it runs), which are then
/// upsampled and argmaxed (see [`class_maps`]). `up` is the head's upsampling, none when the
/// plan is not a segmentation model.
fn segment<S, T: Score>(
    th: &Threads,
    up: Option<&UpsampleArgmax>,
    session: &mut S,
    scores: fn(&mut S) -> &mut Vec<T>,
    run: impl FnOnce(&mut S, &mut [T]) -> Result<(), EngineError>,
    classes: &mut [u8],
) -> Result<(), EngineError> {
    let up = up.ok_or(EngineError::NotSegmentation)?;
    let mut taken = std::mem::take(scores(session));
    let result = run(session, &mut taken);
    if result.is_ok() {
        let (oh, ow) = up.output();
        let (h, w, c) = up.input();
        assert_eq!(classes.len() / (oh * ow), taken.len() / (h * w * c), "class map buffer size");
        class_maps(th, up, &taken, classes);
    }
    *scores(session) = taken;
    result
}

/// Refuses a session whose buffers, `elem` bytes times the sum of count x length over `parts`,
/// would exceed the process-wide memory limit (the batch size comes from outside).
fn check_session_memory(batch: usize, elem: usize, parts: &[(usize, usize)]) -> Result<(), EngineError> {
    let total = parts.iter().try_fold(0usize, |sum, &(count, len)| sum.checked_add(count.checked_mul(len)?));
    mnv2_limits::Limits::global().check_memory(batch, total.and_then(|t| t.checked_mul(elem)))?;
    Ok(())
}
