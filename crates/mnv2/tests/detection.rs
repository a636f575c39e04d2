//! SSD post-processing against the SSDLite pedestrian detector's own graph outputs
//! (`shared/reference/ssdlite`): anchors, box decoding and per-class NMS.

mod common;

use mnv2_heads::detect::{AnchorSpec, BoxCorners, NmsConfig, decode, postprocess};

fn corners(t: &[f32]) -> Vec<BoxCorners> {
    t.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect()
}

#[test]
fn anchors_decoding_and_nms_match_the_release_graph() {
    let dir = common::shared_file("reference/ssdlite");
    let maps: Vec<(u32, u32)> =
        mnv2_arch::SsdLite::new(1.0, 300, 1).unwrap().feature_maps().iter().map(|s| (s.h, s.w)).collect();
    let anchors = AnchorSpec::default().anchors(&maps);
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "safetensors") {
            continue;
        }
        let (t, _) = mnv2_import::safetensors::read(&std::fs::read(&path).unwrap()).unwrap();
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

/// Largest |a - b| over two slices of equal length.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn imported_detector_reproduces_tensorflow_raw_outputs() {
    let model = mnv2_import::load(common::shared_file("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb")).unwrap();
    assert_eq!(model.arch.classes, 2);
    let engine = mnv2_engine::F32Engine::new(&model, 0).unwrap();
    assert_eq!(engine.detection_layout(), Some((1917, 2)));
    let mut session = engine.session(1).unwrap();
    let dir = common::shared_file("reference/ssdlite");
    for name in ["kite_and_cold", "pets", "FudanPed00001", "FudanPed00002", "FudanPed00003"] {
        let img = mnv2_image::load_rgb(dir.join(format!("{name}.300.png"))).unwrap();
        assert_eq!((img.width, img.height), (300, 300));
        let input: Vec<f32> = img.data.iter().map(|&p| (p as f32 - 127.5) / 127.5).collect();
        let mut out = vec![0.0; engine.output_len()];
        engine.run(&mut session, &input, &mut out).unwrap();
        let (t, _) =
            mnv2_import::safetensors::read(&std::fs::read(dir.join(format!("{name}.safetensors"))).unwrap()).unwrap();
        let (boxes, logits) = out.split_at(1917 * 4);
        let (db, dl) = (max_diff(boxes, &t["box_encodings"].data), max_diff(logits, &t["class_logits"].data));
        eprintln!("{name}: box codes within {db:.2e}, logits within {dl:.2e}");
        assert!(db < 1e-3 && dl < 1e-3, "{name}: box codes {db}, logits {dl}");
        if name == "kite_and_cold" {
            assert!(max_diff(&input, &t["normalized_input"].data) < 1e-6);
            let (f0, f1) = session.detection_features(&engine).unwrap();
            let (d0, d1) = (max_diff(f0, &t["feature_map_0"].data), max_diff(&f1, &t["feature_map_1"].data));
            eprintln!("{name}: feature maps within {d0:.2e} and {d1:.2e}");
            assert!(d0 < 1e-3 && d1 < 1e-3, "feature maps {d0}, {d1}");
        }
    }
}

#[test]
fn detector_reproduces_the_release_graphs_detections() {
    let model = common::shared_file("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb");
    let mut det = mnv2::Detector::load(&model, mnv2::Options::default()).unwrap();
    assert_eq!(det.labels().get(1), "pedestrian");
    let dir = common::shared_file("reference/ssdlite");
    let mut compared = 0;
    for name in ["kite_and_cold", "pets", "FudanPed00001", "FudanPed00002", "FudanPed00003"] {
        let img = mnv2_image::load_rgb(dir.join(format!("{name}.300.png"))).unwrap();
        let got = det.detect_normalized(&img).unwrap();
        let (t, _) =
            mnv2_import::safetensors::read(&std::fs::read(dir.join(format!("{name}.safetensors"))).unwrap()).unwrap();
        let (want_boxes, want_scores) = (corners(&t["detection_boxes"].data), &t["detection_scores"].data);
        for (i, (&score, b)) in want_scores.iter().zip(&want_boxes).enumerate().filter(|(_, (s, _))| **s >= 0.05) {
            let d = &got[i];
            assert!((d.score - score).abs() < 1e-3, "{name} #{i}: score {} vs {score}", d.score);
            assert!(d.bbox.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3), "{name} #{i}: {:?} vs {b:?}", d.bbox);
            compared += 1;
        }
    }
    // kite_and_cold has 5 boxes at >= 0.05 and each PennFudan image 1-2.
    assert!(compared >= 8, "{compared} detections compared");
}

#[test]
fn detector_round_trips_through_safetensors() {
    let pb = common::shared_file("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb");
    let model = mnv2_import::load(&pb).unwrap();
    let path = std::env::temp_dir().join(format!("mnv2-ssd-{}.safetensors", std::process::id()));
    mnv2_import::safetensors::save_model(&model, &path, &Default::default()).unwrap();
    let back = mnv2_import::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert!(back.ssdlite().is_some());
    let engine = mnv2_engine::F32Engine::new(&back, 1).unwrap();
    let mut session = engine.session(1).unwrap();
    let dir = common::shared_file("reference/ssdlite");
    let img = mnv2_image::load_rgb(dir.join("FudanPed00001.300.png")).unwrap();
    let input: Vec<f32> = img.data.iter().map(|&p| (p as f32 - 127.5) / 127.5).collect();
    let mut out = vec![0.0; engine.output_len()];
    engine.run(&mut session, &input, &mut out).unwrap();
    let (t, _) =
        mnv2_import::safetensors::read(&std::fs::read(dir.join("FudanPed00001.safetensors")).unwrap()).unwrap();
    let (boxes, logits) = out.split_at(1917 * 4);
    assert!(max_diff(boxes, &t["box_encodings"].data) < 1e-3);
    assert!(max_diff(logits, &t["class_logits"].data) < 1e-3);
}

#[test]
fn detector_batches_on_two_threads_equal_single_images() {
    let model = mnv2_import::load(common::shared_file("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb")).unwrap();
    let dir = common::shared_file("reference/ssdlite");
    let mut input = Vec::new();
    for name in ["kite_and_cold", "FudanPed00002"] {
        let img = mnv2_image::load_rgb(dir.join(format!("{name}.300.png"))).unwrap();
        input.extend(img.data.iter().map(|&p| (p as f32 - 127.5) / 127.5));
    }
    let engine = mnv2_engine::F32Engine::new(&model, 2).unwrap();
    let per = engine.output_len();
    let mut both = vec![0.0; 2 * per];
    let mut s2 = engine.session(2).unwrap();
    engine.run(&mut s2, &input, &mut both).unwrap();
    let (tap2, last2) = s2.detection_features(&engine).map(|(a, b)| (a.to_vec(), b.to_vec())).unwrap();
    let mut s1 = engine.session(1).unwrap();
    for (i, img) in input.chunks(input.len() / 2).enumerate() {
        let mut one = vec![0.0; per];
        engine.run(&mut s1, img, &mut one).unwrap();
        assert!(one == both[i * per..(i + 1) * per], "image {i}: batch differs from alone");
        let (tap, last) = s1.detection_features(&engine).unwrap();
        assert!(tap == &tap2[i * tap.len()..(i + 1) * tap.len()], "image {i}: tapped map");
        assert!(last == last2[i * last.len()..(i + 1) * last.len()], "image {i}: last map");
    }
}
