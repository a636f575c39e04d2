//! Mobile DeepLabv3 against TFLite's argmax maps in ../shared/reference/segmentation.

mod common;

use common::*;
use mnv2::engine::{F32Engine, Q8Engine};

const MODELS: [&str; 2] = ["deeplabv3_mnv2_pascal_quant", "deeplabv3_mnv2_dm05_pascal_quant"];
const IMAGES: [&str; 3] = ["bird_segmentation", "dog_segmentation", "dog_segmentation_256"];

/// The reference input: the image at the top-left of a 513x513 zero canvas.
fn canvas(name: &str) -> Vec<u8> {
    let img = mnv2::image::load_rgb(shared_file("images").join(format!("{name}.bmp"))).unwrap();
    let mut c = vec![0u8; 513 * 513 * 3];
    for y in 0..img.height.min(513) {
        let w = img.width.min(513) * 3;
        c[y * 513 * 3..y * 513 * 3 + w].copy_from_slice(&img.data[y * img.width * 3..y * img.width * 3 + w]);
    }
    c
}

fn agreement(ours: &[u8], name: &str, model: &str) -> f64 {
    let reference = std::fs::read(shared_file(format!("reference/segmentation/{name}.{model}.argmax.u8"))).unwrap();
    assert_eq!(ours.len(), reference.len());
    ours.iter().zip(&reference).filter(|(a, b)| a == b).count() as f64 / ours.len() as f64
}

#[test]
fn int8_argmax_maps_match_tflite() {
    for model_name in MODELS {
        let m = mnv2::import::load(model(model_name)).unwrap();
        let e = Q8Engine::new(&m, 2).unwrap();
        let mut s = e.session(1).unwrap();
        for name in IMAGES {
            let mut map = vec![0u8; 513 * 513];
            e.run_segment(&mut s, &canvas(name), &mut map).unwrap();
            let a = agreement(&map, name, model_name);
            eprintln!("int8 {model_name} {name}: {:.4}% of pixels agree with TFLite", 100.0 * a);
            assert!(a >= 0.999, "{model_name} {name}: {a}");
        }
    }
}

#[test]
fn fp32_argmax_maps_match_tflite() {
    for model_name in MODELS {
        let m = mnv2::import::load(model(model_name)).unwrap();
        let e = F32Engine::new(&m, 2).unwrap();
        let mut s = e.session(1).unwrap();
        for name in IMAGES {
            let mut input = Vec::new();
            m.input.extend_real(&mut input, &canvas(name));
            let mut map = vec![0u8; 513 * 513];
            e.run_segment(&mut s, &input, &mut map).unwrap();
            let a = agreement(&map, name, model_name);
            eprintln!("fp32 {model_name} {name}: {:.4}% of pixels agree with TFLite", 100.0 * a);
            assert!(a >= 0.985, "{model_name} {name}: {a}");
        }
    }
}
