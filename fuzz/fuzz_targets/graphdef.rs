//! TensorFlow frozen GraphDefs (protobuf): the importer, then the float engine's compilation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = mnv2::import::load_tf_graph(data, "fuzz.pb") {
        mnv2::fuzzing::compile(&model);
    }
});
