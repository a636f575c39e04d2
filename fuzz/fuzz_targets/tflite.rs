//! TFLite flatbuffers: the importer, then (for files it accepts) both engines' compilation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = mnv2::import::load_tflite(data, "fuzz.tflite") {
        mnv2::fuzzing::compile(&model);
    }
});
