//! mnv2 safetensors models: the importer, then (for files it accepts) compilation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = mnv2::import::safetensors::load_safetensors(data, "fuzz.safetensors") {
        mnv2::fuzzing::compile(&model);
    }
});
