//! Integer execution against every intermediate tensor of TFLite's reference interpreter
//! (../shared/reference/layers/<model>/index.json), byte for byte.

mod common;

use mnv2::engine::{Q8Engine, TraceOp};
use serde_json::Value;

fn check_model(name: &str) {
    let dir = common::shared_file("reference/layers").join(name);
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let model = mnv2::import::load(common::model(name)).unwrap();
    let png = common::shared_file("reference").join(index["input_png"].as_str().unwrap());
    let input = mnv2::image::load_rgb(png).unwrap().data;
    let engine = Q8Engine::new(&model, 1).unwrap();
    let mut session = engine.session(1).unwrap();
    let mut traced: Vec<(TraceOp, Vec<u8>)> = Vec::new();
    let mut out = vec![0u8; engine.output_len()];
    engine.run_traced(&mut session, &input, &mut out, &mut |op, t| traced.push((op, t.to_vec()))).unwrap();
    // The banded run gives the same bytes as this layer-by-layer traced one.
    let mut banded = vec![0u8; engine.output_len()];
    engine.run(&mut session, &input, &mut banded).unwrap();
    assert_eq!(banded, out, "{name}: banded and layer-by-layer runs differ");
    let mut ours = traced.into_iter();
    let mut last: Vec<u8> = Vec::new();
    let layers = index["layers"].as_array().unwrap();
    for (i, layer) in layers.iter().enumerate() {
        let op = layer["op"].as_str().unwrap();
        let mut reference = std::fs::read(dir.join(layer["file"].as_str().unwrap())).unwrap();
        if layer["dtype"] == "int8" {
            reference.iter_mut().for_each(|b| *b ^= 0x80); // int8 bytes as u8 + 128
        }
        let is_final_quantize = op == "QUANTIZE" && i + 1 == layers.len();
        // TFLite's arena reuses memory: it computes each residual ADD in place over its projection,
        // and (in the int8 model) the softmax over the logits. Such a dump holds the later result,
        // byte-identical to that later file; those tensors are checked through the later layer.
        let raw = std::fs::read(dir.join(layer["file"].as_str().unwrap())).unwrap();
        let overwritten = layers[i + 1..].iter().any(|later| {
            later["op"] != "RESHAPE" && std::fs::read(dir.join(later["file"].as_str().unwrap())).unwrap() == raw
        });
        if op != "RESHAPE" && !is_final_quantize {
            let (kind, tensor) = ours.next().unwrap_or_else(|| panic!("{name}: no tensor for layer {i} ({op})"));
            let _ = kind;
            last = tensor;
        }
        assert_eq!(last.len(), reference.len(), "{name}: layer {i} ({op}) size");
        if overwritten {
            continue; // checked through the ADD that follows
        }
        let differing: Vec<usize> = (0..last.len()).filter(|&j| last[j] != reference[j]).collect();
        if op == "SOFTMAX" || is_final_quantize {
            // TFLite may build the softmax with floating-point exp: allow off-by-one in a few entries.
            let worst = differing.iter().map(|&j| last[j].abs_diff(reference[j])).max().unwrap_or(0);
            assert!(
                worst <= 1 && differing.len() <= 10,
                "{name}: layer {i} ({op}): {} bytes differ, worst by {worst}",
                differing.len()
            );
        } else {
            assert!(
                differing.is_empty(),
                "{name}: first differing layer is {i} ({op} {}): {} of {} bytes differ, first at {} (ours {}, TFLite {})",
                layer["name"].as_str().unwrap_or("").split(';').next().unwrap_or(""),
                differing.len(),
                last.len(),
                differing[0],
                last[differing[0]],
                reference[differing[0]]
            );
        }
    }
    assert!(ours.next().is_none(), "{name}: more tensors than TFLite has layers");
}

#[test]
fn uint8_qat_model_reproduces_every_layer() {
    check_model("mobilenet_v2_1.0_224_quant");
}

#[test]
fn int8_ptq_model_reproduces_every_layer() {
    check_model("tf2_mobilenet_v2_1.0_224_ptq");
}
