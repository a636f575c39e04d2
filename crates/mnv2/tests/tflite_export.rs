//! TFLite export read back by the TFLite importer: the same model, weights, quantization,
//! padding, normalisation and labels, for TFLite's own uint8 QAT and int8 PTQ models, a Keras
//! float model, a torchvision model (symmetric padding, written as PAD + VALID) and a model
//! quantized by mnv2. (LiteRT running the exported files: crates/python/tests/test_export.py.)

mod common;

use common::*;
use mnv2::model::{Model, Preprocess};

fn round_trip(model: &Model) -> Model {
    let bytes = mnv2::import::to_tflite(model).unwrap();
    mnv2::import::load_bytes(&bytes, "exported.tflite").unwrap()
}

fn assert_same(a: &Model, b: &Model) {
    assert_eq!(a.arch, b.arch);
    assert_eq!(a.input, b.input);
    assert_eq!(a.output, b.output);
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.layers.len(), b.layers.len());
    for (n, (x, y)) in a.layers.iter().zip(&b.layers).enumerate() {
        assert!(x == y, "layer {n} differs:\n{}\n{}", summary(x), summary(y));
    }
}

/// A layer's shapes and quantization, without its values.
fn summary(l: &mnv2::model::LayerWeights) -> String {
    let s = format!("{l:?}");
    s.chars().take(600).collect()
}

#[test]
fn tflite_models_come_back_unchanged() {
    for name in ["mobilenet_v2_1.0_224_quant", "tf2_mobilenet_v2_1.0_224_ptq", "keras_mobilenet_v2_1.0_224_random_f32"]
    {
        let original = mnv2::import::load(model(name)).unwrap();
        assert_same(&round_trip(&original), &original);
    }
}

#[test]
fn torchvision_model_keeps_symmetric_padding_and_its_normalisation() {
    let original = mnv2::import::load(shared_file("models/torchvision_mobilenet_v2_random.pth")).unwrap();
    assert_eq!(original.arch.padding, mnv2::arch::Padding::Symmetric);
    let bytes = mnv2::import::to_tflite(&original).unwrap();
    // The stem and the four stride-2 depthwise convs: TensorFlow's "same" pads 0 before and 1
    // after on these even sizes, PyTorch 1 and 1.
    let pads = bytes.windows(9).filter(|w| w == b".paddings").count();
    assert_eq!(pads, 5);
    let again = mnv2::import::load_bytes(&bytes, "exported.tflite").unwrap();
    assert_same(&again, &original);
    assert_eq!(again.input.preprocess, Preprocess::ResizeThenCrop);
}

#[test]
fn a_model_quantized_by_mnv2_comes_back_unchanged() {
    // Ten images: a batch of eight and a short one of two (filled up with repeats).
    let original = mnv2::import::load(model("mobilenet_v2_1.0_224_quant")).unwrap();
    let images = mnv2::quantize::calibration_images(&shared_file("datasets/flowers/train"), 10).unwrap();
    let quantized = mnv2::quantize::quantize_model(&original, &images, 0.875, &mut mnv2::Silent).unwrap();
    let again = round_trip(&quantized);
    assert_same(&again, &quantized);
    assert!(again.is_quantized() && again.activations_signed());
}

#[test]
fn detectors_and_wrong_pads_are_refused() {
    let detector = mnv2::import::load(shared_file("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb")).unwrap();
    let e = mnv2::import::to_tflite(&detector).unwrap_err().to_string();
    assert!(e.contains("only classifiers"), "{e}");
    // A PAD of 1 before and 2 after (the amounts are the only [0, 0, 1, 1, 1, 1, 0, 0] in the file).
    let original = mnv2::import::load(shared_file("models/torchvision_mobilenet_v2_random.pth")).unwrap();
    let mut bytes = mnv2::import::to_tflite(&original).unwrap();
    let amounts: Vec<u8> = [0i32, 0, 1, 1, 1, 1, 0, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let at = bytes.windows(32).position(|w| w == amounts.as_slice()).unwrap();
    bytes[at + 12] = 2;
    let e = mnv2::import::load_bytes(&bytes, "bad.tflite").unwrap_err().to_string();
    assert!(e.contains("PAD is not 1 before and 1 after"), "{e}");
}
