//! PyTorch models in: torchvision's MobileNetV2 from its `state_dict` (`.pth`, and the same
//! tensors in safetensors) against the logits PyTorch and ONNX Runtime gave for the reference
//! NCHW inputs; bad checkpoints give errors.

mod common;

use common::*;
use mnv2::{Classifier, Options, Precision};

/// The reference input `input{n}.f32` (1x3x224x224 NCHW) as NHWC.
fn nhwc_input(n: usize) -> Vec<f32> {
    let bytes = std::fs::read(shared_file(format!("reference/torchvision/input{n}.f32"))).unwrap();
    let nchw: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let (c, hw) = (3, 224 * 224);
    (0..hw * c).map(|i| nchw[(i % c) * hw + i / c]).collect()
}

fn reference(n: usize, who: &str) -> Vec<f32> {
    let bytes = std::fs::read(shared_file(format!("reference/torchvision/input{n}.{who}.f32"))).unwrap();
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

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
        let out = c.run_real(&nhwc_input(n), 1).unwrap();
        let (pt, ort) = (worst(&out, &reference(n, "pytorch")), worst(&out, &reference(n, "onnxruntime")));
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
