//! Training MobileNetV2: every layer's forward pass keeps what its backward pass needs, and each
//! backward pass is written by hand beside its forward (the llm.c way), on the architecture
//! description of `mnv2-arch`. Activations are NHWC, weights OHWI as in the inference engine.
//!
//! Convolutions pad symmetrically (PyTorch's convention, what the reference gradients use).
//!
//! A run is a [`Trainer`] (epochs, resume, checkpoints, metrics, curves, progress) driving a
//! [`Task`] (what differs between a classifier, a detector and a linear probe); networks trained
//! end to end step through [`NetSteps`] (batches, optimizer, moving average).

pub mod augment;
pub mod convert;
mod curves;
pub mod data;
pub mod detdata;
mod error;
pub mod layers;
pub mod loss;
pub mod model;
pub mod optim;
pub mod probe;
pub mod replicas;
pub mod run_files;
pub mod ssd;
pub mod ssd_augment;
pub mod ssd_loss;
pub mod steps;
pub mod trainer;
mod widest;

pub use error::TrainError;
pub use model::{Grads, Params, TrainNet};
pub use replicas::{Alone, Processes, Replicas};
pub use steps::{Batches, Hyper, NetSteps, Rule, Trainable};
pub use trainer::{EpochTrained, Figures, Metric, Progress, RunOptions, Saved, Silent, Task, Trainer};

/// Sets the number of threads training steps run on (0: one per core), once per process, before
/// any training (later calls are ignored: the pool is already made). Results are bit-identical
/// for a seed and thread count.
pub fn use_threads(threads: usize) {
    // An error means the pool was made already (by an earlier call or use); it then stays.
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
}

/// An upper estimate of the bytes one training step holds for a batch of `batch` images of
/// `arch`: every layer's output (and the expanded and depthwise tensors of each block) kept for
/// the backward pass before and after its batch norm and activation, and a gradient of each, in
/// float32; None if it overflows. Checked against the memory limit before training starts.
pub fn step_bytes(arch: &mnv2_arch::Arch, batch: usize) -> Option<usize> {
    use mnv2_arch::Layer;
    let per_image: usize = arch
        .layers()
        .iter()
        .map(|l| match l {
            Layer::Bottleneck(b) => {
                let expanded = if b.has_expand() { b.depthwise_shapes().0.len() } else { 0 };
                expanded + b.depthwise_shapes().1.len() + b.output().len()
            }
            other => other.output().len(),
        })
        .sum::<usize>()
        + arch.input().len();
    per_image.checked_mul(4 * 4)?.checked_mul(batch)
}

#[cfg(test)]
mod step_bytes_tests {
    /// MobileNetV2 1.0-224 keeps about 6.7 M activations per image (by hand: the stem's 112x112x32
    /// alone is 0.4 M); a step of batch 32 is estimated at a few GB, batch 100000 refused.
    #[test]
    fn estimate_grows_with_the_batch_and_does_not_overflow() {
        let arch = mnv2_arch::Arch::new(1.0, 224, 1001).unwrap();
        let one = super::step_bytes(&arch, 1).unwrap();
        assert!((50 << 20..200 << 20).contains(&one), "{one}");
        assert_eq!(super::step_bytes(&arch, 32), Some(32 * one));
        assert_eq!(super::step_bytes(&arch, usize::MAX), None);
    }
}
