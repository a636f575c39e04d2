//! `.npy` inputs of `mnv2 run`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mnv2::npy::parse(data);
});
