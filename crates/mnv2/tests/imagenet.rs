//! ImageNet classification against the TFLite references in ../shared/reference/imagenet100.

mod common;

use common::*;
use mnv2::{Classifier, Options, Precision};

const MODELS: [&str; 2] = ["mobilenet_v2_1.0_224_quant", "tf2_mobilenet_v2_1.0_224_ptq"];

/// fp32 (dequantized weights, float activations) top-1 against TFLite's integer top-1, from the
/// same prepared input PNGs: an independent float implementation agrees on 97 and 98 of 100.
#[test]
fn fp32_top1_agrees_with_tflite_integer_reference() {
    let names = imagenet100();
    assert_eq!(names.len(), 100);
    let dir = shared_file("reference/imagenet100/inputs");
    let inputs: Vec<Vec<u8>> =
        names.iter().map(|n| mnv2::image::load_rgb(dir.join(format!("{n}.png"))).unwrap().data).collect();
    for model in MODELS {
        let options = Options { threads: 2, precision: Precision::F32, ..Options::default() };
        let mut c = Classifier::load(model_path(model), options).unwrap();
        let mut agree = 0;
        for (chunk, chunk_names) in inputs.chunks(10).zip(names.chunks(10)) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            let probs = c.probabilities(&refs).unwrap();
            for (p, name) in probs.chunks_exact(1001).zip(chunk_names) {
                let reference = std::fs::read(dir.join(format!("{name}.{model}.u8"))).unwrap();
                let ours = mnv2::heads::top_k(p, 1)[0].0;
                if ours == argmax_u8(&reference) {
                    agree += 1;
                } else {
                    eprintln!("{model} {name}: ours {ours}, tflite {}", argmax_u8(&reference));
                }
            }
        }
        eprintln!("{model}: fp32 top-1 agrees with TFLite on {agree}/100");
        assert!(agree >= 96, "{model}: fp32 top-1 agrees on only {agree}/100");
    }
}

fn model_path(name: &str) -> std::path::PathBuf {
    model(name)
}

/// End to end from the JPEGs through our own decode, crop and resize. The prepared inputs equal
/// PIL's byte for byte (`crates/image/tests/jpeg_like_pil.rs`) and the int8 engine is TFLite's
/// arithmetic, so int8 top-1 is TFLite's on every image (82% and 80% correct); float32 within two
/// points of that accuracy.
#[test]
fn end_to_end_accuracy_from_jpeg() {
    let truth = true_labels();
    let names = imagenet100();
    let dir = shared_file("reference/imagenet100/originals");
    let inputs = shared_file("reference/imagenet100/inputs");
    let images: Vec<_> = names.iter().map(|n| mnv2::image::load_rgb(dir.join(format!("{n}.JPEG"))).unwrap()).collect();
    for (model, reference) in [(MODELS[0], 0.82), (MODELS[1], 0.80)] {
        let tflite_top1: Vec<usize> =
            names.iter().map(|n| argmax_u8(&std::fs::read(inputs.join(format!("{n}.{model}.u8"))).unwrap())).collect();
        for precision in [Precision::F32, Precision::Int8] {
            let options = Options { precision, ..Options::default() };
            let mut c = Classifier::load(model_path(model), options).unwrap();
            let preds = c.classify(&images, 1).unwrap();
            let correct = preds.iter().zip(&names).filter(|(p, n)| p[0].index == truth[n.as_str()]).count();
            let acc = correct as f64 / 100.0;
            eprintln!("{model} {precision:?}: end-to-end top-1 {acc:.2} (TFLite reference {reference})");
            assert!((acc - reference).abs() <= 0.02 + 1e-9, "{model} {precision:?}: top-1 {acc} vs {reference}");
            if precision == Precision::Int8 {
                let agree = preds.iter().zip(&tflite_top1).filter(|(p, t)| p[0].index == **t).count();
                assert_eq!(agree, 100, "{model}: int8 top-1 from the JPEGs equals TFLite's on {agree}/100");
            }
        }
    }
}
