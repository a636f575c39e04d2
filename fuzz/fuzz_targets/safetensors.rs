//! safetensors: mnv2 models (the importer, then compilation) and training checkpoints.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mnv2::train::safetensors::read(data);
    let _ = mnv2::import::safetensors::read_metadata(data);
    if let Ok(model) = mnv2::import::safetensors::load_safetensors(data, "fuzz.safetensors") {
        mnv2::fuzzing::compile(&model);
    }
});
