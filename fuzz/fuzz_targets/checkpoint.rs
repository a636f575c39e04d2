//! Training checkpoints (safetensors of float tensors and metadata) read by `--resume`, and the
//! tensor entries every safetensors reader shares: small inputs, so the fuzzer runs fast here
//! where the model target's seed is a whole model.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mnv2::import::safetensors::read(data);
    let _ = mnv2::import::safetensors::read_metadata(data);
});
