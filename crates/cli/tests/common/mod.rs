//! Helpers shared by the CLI tests: where ../shared is and how to run the binary.
#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;
use std::process::{Command, Output};

/// `$MNV2_SHARED`, else the `shared` folder beside the checkout.
pub fn shared() -> PathBuf {
    std::env::var_os("MNV2_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// Runs `mnv2` with `args`, ignoring any model the environment points at.
pub fn mnv2(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnv2"))
        .args(args)
        .env_remove("MNV2_MODEL")
        .env_remove("MNV2_MODEL_DIR")
        .output()
        .expect("run mnv2")
}

/// The path of `../shared/models/{name}.tflite`.
pub fn model(name: &str) -> String {
    shared().join(format!("models/{name}.tflite")).display().to_string()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
