//! PyTorch checkpoints: the restricted unpickler on raw pickles, and whole `.pth` zips.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mnv2::import::torch::pickle::state_dict(data);
    let _ = mnv2::import::torch::pth::read_state_dict(data);
});
