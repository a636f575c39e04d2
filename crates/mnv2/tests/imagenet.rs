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

/// End to end from the JPEGs through our own decode, crop and resize: top-1 accuracy within two
/// points of TFLite's on the same 100 images (82% and 80%), in float32 and in int8.
#[test]
fn end_to_end_accuracy_from_jpeg() {
    let truth = true_labels();
    let names = imagenet100();
    let dir = shared_file("reference/imagenet100/originals");
    let images: Vec<_> = names.iter().map(|n| mnv2::image::load_rgb(dir.join(format!("{n}.JPEG"))).unwrap()).collect();
    for (model, reference) in [(MODELS[0], 0.82), (MODELS[1], 0.80)] {
        for precision in [Precision::F32, Precision::Int8] {
            let options = Options { precision, ..Options::default() };
            let mut c = Classifier::load(model_path(model), options).unwrap();
            let preds = c.classify(&images, 1).unwrap();
            let correct = preds.iter().zip(&names).filter(|(p, n)| p[0].index == truth[n.as_str()]).count();
            let acc = correct as f64 / 100.0;
            eprintln!("{model} {precision:?}: end-to-end top-1 {acc:.2} (TFLite reference {reference})");
            assert!((acc - reference).abs() <= 0.02 + 1e-9, "{model} {precision:?}: top-1 {acc} vs {reference}");
        }
    }
}

/// Our decode + crop + resize against the reference preprocessing (PIL): the crop box rule and
/// the resize are exact, so differences come only from the JPEG decoder's rounding.
#[test]
fn preprocessing_matches_pil_closely() {
    let names = imagenet100();
    let (mut same, mut total, mut worst) = (0usize, 0usize, 0u8);
    for n in names.iter().take(20) {
        let img = mnv2::image::load_rgb(shared_file(format!("reference/imagenet100/originals/{n}.JPEG"))).unwrap();
        let ours = mnv2::image::prepare(&img, 224, 0.875).unwrap();
        let reference = mnv2::image::load_rgb(shared_file(format!("reference/imagenet100/inputs/{n}.png"))).unwrap();
        for (a, b) in ours.data.iter().zip(&reference.data) {
            same += (a == b) as usize;
            worst = worst.max(a.abs_diff(*b));
            total += 1;
        }
    }
    let frac = same as f64 / total as f64;
    eprintln!("preprocessing: {:.2}% of bytes identical to PIL's, max difference {worst}", 100.0 * frac);
    assert!(frac > 0.85 && worst <= 8, "preprocessing departs from PIL: {frac} identical, max diff {worst}");
}
