//! Imports every model in ../shared and runs the float engine against the references.

use mnv2_engine::{F32Engine, OutputKind};
use std::path::PathBuf;

use mnv2_testdata::shared_file;

fn read_f32(path: PathBuf) -> Vec<f32> {
    let b = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn imports_the_four_classification_models() {
    for (file, classes, quantized, labels) in [
        ("mobilenet_v2_1.0_224_quant.tflite", 1001, true, true),
        ("tf2_mobilenet_v2_1.0_224_ptq.tflite", 1001, true, true),
        ("mobilenet_v2_1.0_224_inat_bird_quant.tflite", 965, true, true),
        ("keras_mobilenet_v2_1.0_224_random_f32.tflite", 1000, false, false),
    ] {
        let m = mnv2_import::load(shared_file("models").join(file)).unwrap();
        assert_eq!((m.arch.width, m.arch.resolution, m.arch.classes), (1.0, 224, classes), "{file}");
        assert_eq!(m.is_quantized(), quantized, "{file}");
        assert_eq!(m.labels.is_some(), labels, "{file}");
        assert_eq!(matches!(m.output, OutputKind::Softmax { .. }), quantized, "{file}");
    }
}

#[test]
fn float_model_logits_match_tflite_within_1e_4() {
    let model = mnv2_import::load(shared_file("models/keras_mobilenet_v2_1.0_224_random_f32.tflite")).unwrap();
    let engine = F32Engine::new(&model, 1).unwrap();
    let mut session = engine.session(1).unwrap();
    let mut out = vec![0.0; 1000];
    for n in 0..5 {
        let input = read_f32(shared_file(format!("reference/float/input{n}.f32")));
        engine.run(&mut session, &input, &mut out).unwrap();
        for peer in ["tflite", "keras", "onnxruntime"] {
            let want = read_f32(shared_file(format!("reference/float/input{n}.{peer}.f32")));
            let max = out.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(max <= 1e-4, "input{n} vs {peer}: max |diff| {max}");
        }
    }
}

/// A real model cut short anywhere is rejected with an error, never a panic.
#[test]
fn truncated_models_are_errors() {
    let bytes = std::fs::read(shared_file("models/mobilenet_v2_1.0_224_quant.tflite")).unwrap();
    let mut lengths: Vec<usize> = (0..4096).step_by(13).collect();
    lengths.extend((0..bytes.len()).step_by(bytes.len() / 300));
    lengths.extend(bytes.len() - 100..bytes.len());
    for n in lengths {
        let r = mnv2_import::load_bytes(&bytes[..n], "cut.tflite");
        assert!(r.is_err(), "a model truncated to {n} of {} bytes was accepted", bytes.len());
    }
}

/// Random bit flips give an error or a model that still fits the architecture; never a panic.
#[test]
fn flipped_bytes_never_panic() {
    let original = std::fs::read(shared_file("models/tf2_mobilenet_v2_1.0_224_ptq.tflite")).unwrap();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut rejected = 0;
    for _ in 0..300 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bytes = original.clone();
        // Most of the file is weights; aim half of the flips at the first 64 KiB of structure.
        let pos = if state & 1 == 0 { (state >> 8) as usize % 65536 } else { (state >> 8) as usize % bytes.len() };
        bytes[pos] ^= 1 << ((state >> 4) % 8);
        match mnv2_import::load_bytes(&bytes, "flipped.tflite") {
            Ok(m) => m.validate().unwrap(),
            Err(e) => {
                assert!(!e.to_string().is_empty());
                rejected += 1;
            }
        }
    }
    eprintln!("{rejected} of 300 flipped files rejected");
}

/// A model saved as mnv2 safetensors loads back to the same float network (and labels).
#[test]
fn safetensors_round_trip() {
    let original = mnv2_import::load(shared_file("models/mobilenet_v2_1.0_224_inat_bird_quant.tflite")).unwrap();
    let bytes = mnv2_import::safetensors::model_to_safetensors(&original, &Default::default()).unwrap();
    let back = mnv2_import::load_bytes(&bytes, "bird.safetensors").unwrap();
    assert_eq!(back.arch, original.arch);
    assert_eq!(back.labels, original.labels);
    let input: Vec<f32> = (0..224 * 224 * 3).map(|i| ((i * 31 % 255) as f32 - 128.0) / 128.0).collect();
    let (mut a, mut b) = (vec![0.0; 965], vec![0.0; 965]);
    let e = F32Engine::new(&original, 1).unwrap();
    e.run(&mut e.session(1).unwrap(), &input, &mut a).unwrap();
    let e = F32Engine::new(&back, 1).unwrap();
    e.run(&mut e.session(1).unwrap(), &input, &mut b).unwrap();
    assert_eq!(a, b);
    for n in (0..bytes.len()).step_by(bytes.len() / 97) {
        assert!(mnv2_import::load_bytes(&bytes[..n], "cut.safetensors").is_err(), "{n}");
    }
}
