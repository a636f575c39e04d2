//! ONNX models: the protobuf decode, the node-by-node walk and the mapping onto the architecture.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mnv2::import::onnx::load_onnx(data, "fuzz.onnx");
});
