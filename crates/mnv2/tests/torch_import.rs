//! PyTorch models in: torchvision's MobileNetV2 from its `state_dict` (`.pth`, and the same
//! tensors in safetensors) against the logits PyTorch and ONNX Runtime gave for the reference
//! NCHW inputs; bad checkpoints give errors.

mod common;

use common::*;
use mnv2::{Classifier, Options, Precision};

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn torchvision_state_dict_gives_pytorchs_logits() {
    let options = Options { precision: Precision::F32, threads: 2, ..Options::default() };
    let mut c = Classifier::load(shared_file("models/torchvision_mobilenet_v2_random.pth"), options).unwrap();
    let arch = c.model().arch;
    assert_eq!((arch.width, arch.resolution, arch.classes), (1.0, 224, 1000));
    assert_eq!(arch.padding, mnv2::arch::Padding::Symmetric);
    for n in 0..5 {
        let out = c.run_real(&nhwc_of("", n, 224), 1).unwrap();
        let (pt, ort) =
            (worst(&out, &reference_of("", n, "pytorch")), worst(&out, &reference_of("", n, "onnxruntime")));
        eprintln!("input{n}: |mnv2 - PyTorch| {pt:.2e}, |mnv2 - ONNX Runtime| {ort:.2e}");
        assert!(pt < 1e-4 && ort < 1e-4, "input{n}: {pt} {ort}");
    }
}

#[test]
fn torchvision_tensors_in_safetensors_load_the_same() {
    // The state_dict's float tensors written as safetensors.torch.save_file writes them.
    let pth = mnv2::import::torch::pth::read_state_dict(
        &std::fs::read(shared_file("models/torchvision_mobilenet_v2_random.pth")).unwrap(),
    )
    .unwrap();
    let mut names: Vec<&String> = pth.keys().collect();
    names.sort();
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for name in names {
        let t = &pth[name];
        let start = data.len();
        data.extend(t.data.iter().flat_map(|v| v.to_le_bytes()));
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [start, data.len()]}),
        );
    }
    let header = serde_json::Value::Object(header).to_string();
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&data);
    let from_st = mnv2::import::load_bytes(&file, "torchvision.safetensors").unwrap();
    let from_pth = mnv2::import::load(shared_file("models/torchvision_mobilenet_v2_random.pth")).unwrap();
    assert_eq!(from_st.layers, from_pth.layers);
    assert_eq!(from_st.arch, from_pth.arch);
}

#[test]
fn bad_checkpoints_are_refused_with_a_reason() {
    let good = std::fs::read(shared_file("models/torchvision_mobilenet_v2_random.pth")).unwrap();
    // Truncated anywhere: an error, never a panic.
    for len in [10, 1000, good.len() / 2, good.len() - 30, good.len() - 1] {
        let e = mnv2::import::load_bytes(&good[..len], "cut.pth").unwrap_err().to_string();
        assert!(!e.is_empty(), "{len}");
    }
    // A pickle calling another global: refused by name.
    let evil = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
    let e = mnv2::import::torch::pickle::state_dict(evil).unwrap_err();
    assert!(e.contains("refused global os.system"), "{e}");
}

/// The reference input `{prefix}input{n}.f32` (1x3xSxS NCHW) as NHWC.
fn nhwc_of(prefix: &str, n: usize, s: usize) -> Vec<f32> {
    let bytes = std::fs::read(shared_file(format!("reference/torchvision/{prefix}input{n}.f32"))).unwrap();
    let nchw: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    mnv2::npy::nchw_to_nhwc(&nchw, 1, 3, s, s)
}

#[test]
fn torchvision_onnx_from_both_exporters_gives_pytorchs_logits() {
    let cases = [
        ("torchvision_mobilenet_v2_random.onnx", "", 5, 1.0, 224),
        ("torchvision_mobilenet_v2_0.5_random_dynamo.onnx", "dynamo_", 2, 0.5, 160),
    ];
    for (file, prefix, inputs, width, resolution) in cases {
        let options = Options { precision: Precision::F32, threads: 2, ..Options::default() };
        let mut c = Classifier::load(shared_file(format!("models/{file}")), options).unwrap();
        let arch = c.model().arch;
        assert_eq!((arch.width, arch.resolution, arch.classes), (width, resolution, 1000), "{file}");
        for n in 0..inputs {
            let out = c.run_real(&nhwc_of(prefix, n, resolution as usize), 1).unwrap();
            let pt = worst(&out, &reference_of(prefix, n, "pytorch"));
            let ort = worst(&out, &reference_of(prefix, n, "onnxruntime"));
            eprintln!("{file} input{n}: |mnv2 - PyTorch| {pt:.2e}, |mnv2 - ONNX Runtime| {ort:.2e}");
            assert!(pt < 1e-4 && ort < 1e-4, "{file} input{n}: {pt} {ort}");
        }
    }
}

fn reference_of(prefix: &str, n: usize, who: &str) -> Vec<f32> {
    let bytes = std::fs::read(shared_file(format!("reference/torchvision/{prefix}input{n}.{who}.f32"))).unwrap();
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn bad_onnx_files_are_refused_naming_the_node() {
    let good = std::fs::read(shared_file("models/torchvision_mobilenet_v2_random.onnx")).unwrap();
    for len in [0, 5, 1000, good.len() / 2, good.len() - 1] {
        let e = mnv2::import::load_bytes(&good[..len], "cut.onnx").unwrap_err().to_string();
        assert!(!e.is_empty(), "{len}");
    }
    // One Clip becomes a Relu (same length): refused, naming the node.
    let mut relu = good.clone();
    let at = relu.windows(6).position(|w| w == b"\x22\x04Clip").expect("an op_type Clip");
    relu[at..at + 6].copy_from_slice(b"\x22\x04Relu");
    let e = mnv2::import::load_bytes(&relu, "relu.onnx").unwrap_err().to_string();
    assert!(e.contains("(Relu)") && e.contains("node"), "{e}");
    // Clip(0, 6) made Clip(0, 0): the Constant's value changed.
    let six = 6.0f32.to_le_bytes();
    let mut clip = good.clone();
    let at = clip.windows(4).position(|w| w == six).expect("a 6.0 constant");
    clip[at..at + 4].copy_from_slice(&0.0f32.to_le_bytes());
    let e = mnv2::import::load_bytes(&clip, "clip.onnx").unwrap_err().to_string();
    assert!(e.contains("Clip(0, 0)") || e.contains("MobileNetV2"), "{e}");
    // Keras's MobileNetV2 in ONNX is NHWC with TensorFlow's ops: refused with a reason.
    let keras = mnv2::import::load(shared_file("models/keras_mobilenet_v2_1.0_224_random_f32.onnx")).unwrap_err();
    assert!(keras.to_string().contains("keras_mobilenet_v2_1.0_224_random_f32.onnx"), "{keras}");
}

/// An imported torchvision model classifies images with torchvision's preprocessing: resize
/// 256, centre crop 224, ImageNet mean and std per channel; `cat.bmp` so prepared is the
/// reference `input4` (made with PIL and torchvision's numbers), and its logits are PyTorch's.
#[test]
fn torchvision_preprocessing_reproduces_the_reference_input() {
    let options = Options { precision: Precision::F32, threads: 2, ..Options::default() };
    let mut c = Classifier::load(shared_file("models/torchvision_mobilenet_v2_random.pth"), options).unwrap();
    assert_eq!(c.model().input.preprocess, mnv2::engine::Preprocess::ResizeThenCrop);
    let cat = mnv2::image::load_rgb(shared_file("images/cat.bmp")).unwrap();
    let prepared = c.preprocess(&cat).unwrap();
    let mut real = Vec::new();
    c.model().input.extend_real(&mut real, &prepared.data);
    let reference = nhwc_of("", 4, 224);
    let (diff, exact) =
        (worst(&real, &reference), real.iter().zip(&reference).filter(|(a, b)| (*a - *b).abs() < 1e-5).count());
    eprintln!("prepared cat.bmp vs torchvision's: worst {diff:.2e}, {exact} of {} within 1e-5", real.len());
    assert!(diff < 1e-5, "{diff}");
    let logits = c.run_bytes(&[&prepared.data]).unwrap();
    assert!(worst(&logits, &reference_of("", 4, "pytorch")) < 1e-4);
    // Saved and loaded again, the model keeps its normalisation and preprocessing.
    let path = std::env::temp_dir().join(format!("mnv2-tv-{}.safetensors", std::process::id()));
    mnv2::import::safetensors::save_model(c.model(), &path, &Default::default()).unwrap();
    let again = mnv2::import::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(again.input, c.model().input);
    assert_eq!(again.arch.padding, mnv2::arch::Padding::Symmetric);
}

/// A torchvision model written to ONNX by mnv2 is read back by mnv2's ONNX importer as the
/// same network (the exporter writes the graph the importer checks).
#[test]
fn onnx_export_reads_back() {
    let model = mnv2::import::load(shared_file("models/torchvision_mobilenet_v2_random.pth")).unwrap();
    let bytes = mnv2::import::onnx::to_onnx(&model).unwrap();
    let back = mnv2::import::load_bytes(&bytes, "export.onnx").unwrap();
    assert_eq!(back.arch, model.arch);
    let options = || Options { precision: Precision::F32, threads: 2, ..Options::default() };
    let x = nhwc_of("", 0, 224);
    let a = Classifier::new(model, options()).unwrap().run_real(&x, 1).unwrap();
    let b = Classifier::new(back, options()).unwrap().run_real(&x, 1).unwrap();
    assert!(worst(&a, &b) < 1e-5, "{}", worst(&a, &b));
}
