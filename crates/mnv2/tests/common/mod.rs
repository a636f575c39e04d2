//! Paths and readers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

#[allow(unused_imports)] // each test file uses a different subset
pub use mnv2_testdata::{shared, shared_file};

pub fn model(name: &str) -> PathBuf {
    shared_file("models").join(format!("{name}.tflite"))
}

/// The 100 reference image names, sorted.
pub fn imagenet100() -> Vec<String> {
    let dir = shared_file("reference/imagenet100/originals");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".JPEG").to_string())
        .collect();
    names.sort();
    names
}

/// Index of the largest byte (first on ties), as TFLite's top-1.
pub fn argmax_u8(v: &[u8]) -> usize {
    let max = *v.iter().max().unwrap();
    v.iter().position(|&x| x == max).unwrap()
}

/// The true class of a reference image (1001-class index) from the manifest.
pub fn true_labels() -> std::collections::HashMap<String, usize> {
    let text = std::fs::read_to_string(shared_file("reference/imagenet100/manifest.json")).unwrap();
    let mut out = std::collections::HashMap::new();
    // A tiny scan of the manifest: pairs of "image": "...", and "label_index_1001": N.
    let mut rest = text.as_str();
    while let Some(at) = rest.find("\"image\": \"") {
        rest = &rest[at + 10..];
        let name = &rest[..rest.find('"').unwrap()];
        let li = rest.find("\"label_index_1001\": ").unwrap();
        let num: String = rest[li + 20..].chars().take_while(|c| c.is_ascii_digit()).collect();
        out.insert(name.to_string(), num.parse().unwrap());
    }
    out
}
