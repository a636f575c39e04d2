//! COCO AP against pycocotools on a fixture built by `tools/coco_fixture.py` (synthetic boxes:
//! two categories, crowd regions, duplicates, an image with more than 100 detections).

use mnv2_heads::detect_eval::{DetBox, EvalImage, coco_ap, voc_ap};
use mnv2_train::detdata::parse_coco;
use serde_json::Value;

#[test]
fn coco_ap_matches_pycocotools() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../heads/tests/fixtures/coco_fixture.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let data = parse_coco(&v["ground_truth"], std::path::Path::new(".")).unwrap();
    let ids: Vec<i64> =
        v["ground_truth"]["images"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    let mut images: Vec<EvalImage> =
        data.samples.iter().map(|s| EvalImage { gts: s.boxes.clone(), dets: Vec::new() }).collect();
    for d in v["detections"].as_array().unwrap() {
        let i = ids.iter().position(|&id| id == d["image_id"].as_i64().unwrap()).unwrap();
        let b: Vec<f32> = d["bbox"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        images[i].dets.push(DetBox {
            bbox: [b[0], b[1], b[0] + b[2], b[1] + b[3]],
            class: data.slot_of(d["category_id"].as_i64().unwrap()).unwrap(),
            score: d["score"].as_f64().unwrap() as f32,
        });
    }
    let got = coco_ap(&images, &[1, 2]).unwrap();
    let want = &v["pycocotools"];
    for (name, g) in [("AP", got.ap), ("AP50", got.ap50), ("AP75", got.ap75)] {
        let w = want[name].as_f64().unwrap();
        // Boxes pass through f32 here (float64 in pycocotools): allow a hair of difference.
        assert!((g - w).abs() < 1e-6, "{name}: {g} vs pycocotools {w}");
    }
    // VOC AP at 0.5 is a different interpolation; it must at least be a probability.
    assert!(voc_ap(&images, 1, 0.5).is_some_and(|ap| (0.0..=1.0).contains(&ap)));
}
