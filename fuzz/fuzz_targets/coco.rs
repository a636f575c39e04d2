//! COCO JSON datasets and PennFudan annotation files (`eval-det`, `train-det`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = mnv2::train::detdata::parse_coco(&v, std::path::Path::new("/nonexistent"));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mnv2::train::detdata::parse_pennfudan_boxes(text);
    }
});
