//! Post-training quantization: the ImageNet model's weights dequantized and quantized again by
//! mnv2 (calibrated on 200 flowers images, none of them ImageNet's test images) against the
//! TFLite int8 models' 80-82% top-1 on the 100 reference inputs.

mod common;

use common::*;
use mnv2::{Classifier, Options, Precision};

#[test]
fn requantized_imagenet_model_keeps_its_accuracy() {
    let original = mnv2::import::load(model("mobilenet_v2_1.0_224_quant")).unwrap();
    let images = mnv2::quantize::calibration_images(&shared_file("datasets/flowers/train"), 200).unwrap();
    assert_eq!(images.len(), 200);
    let quantized = mnv2::quantize::quantize_model(&original, &images, 0.875, &mut mnv2::Silent).unwrap();
    assert!(quantized.is_quantized() && quantized.activations_signed());
    // Saved as mnv2 safetensors and loaded again: the same model, integers and all.
    let path = std::env::temp_dir().join(format!("mnv2-int8-{}.safetensors", std::process::id()));
    mnv2::import::safetensors::save_model(&quantized, &path, &Default::default()).unwrap();
    let again = mnv2::import::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(again.layers, quantized.layers);
    assert_eq!((&again.input, &again.output), (&quantized.input, &quantized.output));
    let options = Options { precision: Precision::Int8, threads: 2, ..Options::default() };
    let mut c = Classifier::new(quantized, options).unwrap();
    let labels = true_labels();
    let dir = shared_file("reference/imagenet100/inputs");
    let mut correct = 0;
    let names = imagenet100();
    for name in &names {
        let input = mnv2::image::load_rgb(dir.join(format!("{name}.png"))).unwrap();
        let out = c.run_int8(&[&input.data]).unwrap();
        correct += (argmax_u8(&out) == labels[name]) as usize;
    }
    eprintln!("mnv2-quantized mobilenet_v2_1.0_224_quant: top-1 {correct}/{}", names.len());
    assert!(correct >= 79, "top-1 {correct}/100");
}
