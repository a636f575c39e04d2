//! Imports every model in ../shared and runs the float engine against the references.

use mnv2_engine::{F32Engine, OutputKind};
use std::path::PathBuf;

fn shared() -> PathBuf {
    std::env::var_os("MNV2_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn read_f32(path: PathBuf) -> Vec<f32> {
    let b = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn imports_the_four_classification_models() {
    for (file, classes, quantized, labels) in [
        ("mobilenet_v2_1.0_224_quant.tflite", 1001, true, true),
        ("tf2_mobilenet_v2_1.0_224_ptq.tflite", 1001, true, true),
        (
            "mobilenet_v2_1.0_224_inat_bird_quant.tflite",
            965,
            true,
            true,
        ),
        (
            "keras_mobilenet_v2_1.0_224_random_f32.tflite",
            1000,
            false,
            false,
        ),
    ] {
        let m = mnv2_import::load(shared().join("models").join(file)).unwrap();
        assert_eq!(
            (m.arch.width, m.arch.resolution, m.arch.classes),
            (1.0, 224, classes),
            "{file}"
        );
        assert_eq!(m.is_quantized(), quantized, "{file}");
        assert_eq!(m.labels.is_some(), labels, "{file}");
        assert_eq!(
            matches!(m.output, OutputKind::Softmax { .. }),
            quantized,
            "{file}"
        );
    }
}

#[test]
fn float_model_logits_match_tflite_within_1e_4() {
    let model =
        mnv2_import::load(shared().join("models/keras_mobilenet_v2_1.0_224_random_f32.tflite"))
            .unwrap();
    let engine = F32Engine::new(&model, 1).unwrap();
    let mut session = engine.session(1).unwrap();
    let mut out = vec![0.0; 1000];
    for n in 0..5 {
        let input = read_f32(shared().join(format!("reference/float/input{n}.f32")));
        engine.run(&mut session, &input, &mut out).unwrap();
        for peer in ["tflite", "keras", "onnxruntime"] {
            let want = read_f32(shared().join(format!("reference/float/input{n}.{peer}.f32")));
            let max = out
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max <= 1e-4, "input{n} vs {peer}: max |diff| {max}");
        }
    }
}
