//! SSD post-processing against the SSDLite pedestrian detector's own graph outputs
//! (`shared/reference/ssdlite`): anchors, box decoding and per-class NMS.

mod common;

use mnv2_heads::detect::{AnchorSpec, BoxCorners, NmsConfig, decode, postprocess};

fn corners(t: &[f32]) -> Vec<BoxCorners> {
    t.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect()
}

#[test]
fn anchors_decoding_and_nms_match_the_release_graph() {
    let dir = common::shared().join("reference/ssdlite");
    let maps: Vec<(u32, u32)> =
        mnv2_arch::SsdLite::new(1.0, 300, 1).unwrap().feature_maps().iter().map(|s| (s.h, s.w)).collect();
    let anchors = AnchorSpec::default().anchors(&maps);
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "safetensors") {
            continue;
        }
        let (t, _) = mnv2_train::safetensors::read(&std::fs::read(&path).unwrap()).unwrap();
        let want_anchors = corners(&t["anchors_corners"].data);
        assert_eq!(anchors.len(), want_anchors.len());
        for (a, b) in anchors.iter().zip(&want_anchors) {
            assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6), "{path:?}: anchor {a:?} vs {b:?}");
        }
        let boxes = decode(&corners(&t["box_encodings"].data), &anchors);
        let dets = postprocess(&boxes, &t["class_logits"].data, 1, &NmsConfig::default());
        let (want_boxes, want_scores) = (corners(&t["detection_boxes"].data), &t["detection_scores"].data);
        // Compare every confident detection; far down the list near-equal scores may swap order.
        let confident = want_scores.iter().filter(|&&s| s >= 1e-3).count();
        assert!(dets.len() >= confident, "{path:?}: {} detections, want at least {confident}", dets.len());
        for i in 0..confident {
            assert!(
                (dets[i].score - want_scores[i]).abs() < 1e-5,
                "{path:?} #{i}: score {} vs {}",
                dets[i].score,
                want_scores[i]
            );
            let (a, b) = (dets[i].bbox, want_boxes[i]);
            assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5), "{path:?} #{i}: {a:?} vs {b:?}");
            assert_eq!(dets[i].class, 1);
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} reference files");
}
