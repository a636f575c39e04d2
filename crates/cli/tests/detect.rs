//! `mnv2 detect` and `mnv2 eval-det` with the released SSDLite pedestrian detector.

mod common;

use common::{mnv2, shared_file, text};
use serde_json::Value;

fn detector() -> String {
    shared_file("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb").display().to_string()
}

#[test]
fn detect_writes_boxes_png_and_json_in_image_pixels() {
    let out = std::env::temp_dir().join(format!("mnv2-detect-{}", std::process::id()));
    let img = shared_file("images/kite_and_cold.jpg");
    let o = mnv2(&[
        "detect",
        "--model",
        &detector(),
        "--json",
        "--score-threshold",
        "0.1",
        "--out",
        out.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(v["path"], img.display().to_string());
    let dets = v["detections"].as_array().unwrap();
    // TensorFlow's top scores on the 300x300 reference are 0.456 and 0.213 (the full-size JPEG
    // resized by the graph scores a little differently).
    assert!(dets.len() >= 2, "{dets:?}");
    let (w, h) = (1352.0, 900.0);
    for d in dets {
        assert_eq!(d["label"], "pedestrian");
        assert_eq!(d["class"], 1);
        let s = d["score"].as_f64().unwrap();
        assert!((0.1..=1.0).contains(&s));
        let b: Vec<f64> = d["box"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert!(b[0] < b[2] && b[1] < b[3] && b[0] >= 0.0 && b[2] <= w && b[3] <= h, "{b:?}");
        // The two people stand in the lower half of the picture.
        assert!(b[1] > h / 2.0, "{b:?}");
    }
    let png = mnv2::image::load_rgb(out.join("kite_and_cold.boxes.png")).unwrap();
    assert_eq!((png.width, png.height), (1352, 900));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn eval_det_matches_tensorflow_on_pennfudan() {
    let data = shared_file("datasets/PennFudanPed");
    let o = mnv2(&["eval-det", "--model", &detector(), "--json", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(v["images"], 142);
    assert_eq!(v["objects"], 354);
    let ap = v["ap50"].as_f64().unwrap();
    // TensorFlow running the same graph: AP@0.5 0.929 (shared/reference/ssdlite/README.md).
    assert!((ap - 0.929).abs() < 0.01, "AP@0.5 {ap}");
    let coco = v["coco_ap"].as_f64().unwrap();
    assert!(coco > 0.3 && coco < ap, "COCO AP {coco}");
}

#[test]
fn detect_and_eval_det_reject_bad_input() {
    let o = mnv2(&["detect", "--score-threshold", "2", "x.jpg"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("score-threshold"), "{}", text(&o.stderr));
    // A classification model is not a detector.
    let cls = common::model("mobilenet_v2_1.0_224_quant");
    let img = shared_file("images/cat.bmp");
    let o = mnv2(&["detect", "--model", &cls, img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("not a detection"), "{}", text(&o.stderr));
    // A missing image is one error line; the run goes on and exits 1.
    let out = std::env::temp_dir().join(format!("mnv2-detect-bad-{}", std::process::id()));
    let o = mnv2(&[
        "detect",
        "--model",
        &detector(),
        "--out",
        out.to_str().unwrap(),
        "/nonexistent.jpg",
        img.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr).lines().count(), 1, "{}", text(&o.stderr));
    std::fs::remove_dir_all(&out).ok();
    // And a detector is not a classifier.
    let o = mnv2(&["classify", "--model", &detector(), img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("is a detection model"), "{}", text(&o.stderr));
    let o = mnv2(&["eval-det", "--model", &detector(), "--data", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("mnv2: error:"), "{}", text(&o.stderr));
}

#[test]
fn train_det_runs_resumes_and_writes_a_loadable_detector() {
    let dir = std::env::temp_dir().join(format!("mnv2-train-det-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tiny.safetensors");
    let data = shared_file("datasets/PennFudanPed");
    let init = common::model("mobilenet_v2_1.0_224_quant");
    // 14 training images at 96x96, two images per batch: seconds per epoch.
    let args = |extra: &[&str]| {
        let mut v = vec![
            "train-det",
            "--data",
            data.to_str().unwrap(),
            "--init",
            &init,
            "--holdout",
            "0.9",
            "--resolution",
            "96",
            "--batch",
            "2",
            "--epochs",
            "2",
            "-o",
            out.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| mnv2(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let o = run(args(&["--stop-after", "1"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = run(args(&["--resume"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let metrics = std::fs::read_to_string(dir.join("tiny.metrics.jsonl")).unwrap();
    let lines: Vec<Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{metrics}");
    assert_eq!(lines[1]["epoch"], 2);
    for l in &lines {
        assert!(l["loss"].as_f64().unwrap().is_finite() && l["val_ap50"].as_f64().is_some());
    }
    // Interrupted and resumed equals uninterrupted, bit for bit.
    let resumed = std::fs::read(&out).unwrap();
    let o = run(args(&[]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(std::fs::read(&out).unwrap() == resumed, "resumed training differs from an uninterrupted run");
    let holdout = std::fs::read_to_string(dir.join("tiny.holdout.txt")).unwrap();
    assert_eq!(holdout.lines().count(), 128); // round(0.9 * 142)
    assert!(dir.join("tiny.curves.png").is_file());
    // The output is a detector every command loads.
    let img = shared_file("images/kite_and_cold.jpg");
    let o = mnv2(&[
        "detect",
        "--model",
        out.to_str().unwrap(),
        "--json",
        "--out",
        dir.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert!(v["detections"].is_array());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn train_det_fine_tunes_a_detector() {
    let dir = std::env::temp_dir().join(format!("mnv2-finetune-det-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("ft.safetensors");
    let data = shared_file("datasets/PennFudanPed");
    let o = mnv2(&[
        "train-det",
        "--data",
        data.to_str().unwrap(),
        "--init",
        &detector(),
        "--holdout",
        "0.95",
        "--resolution",
        "300",
        "--batch",
        "2",
        "--epochs",
        "1",
        "--lr",
        "1e-5",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let metrics = std::fs::read_to_string(dir.join("ft.metrics.jsonl")).unwrap();
    let v: Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    // Starting from the trained detector (batch norms calibrated so training starts from its
    // function), the held-out images are still found after an epoch at a tiny learning rate.
    let ap = v["val_ap50"].as_f64().unwrap();
    assert!(ap > 0.85, "held-out AP@0.5 {ap}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_det_reads_coco_json_like_the_pennfudan_folder() {
    // The first 12 PennFudan images written as COCO JSON must score exactly as the folder does.
    let root = shared_file("datasets/PennFudanPed");
    let mut names: Vec<String> = std::fs::read_dir(root.join("Annotation"))
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.truncate(12);
    let (mut images, mut anns) = (Vec::new(), Vec::new());
    for (i, n) in names.iter().enumerate() {
        images.push(serde_json::json!({"id": i + 1, "file_name": format!("{n}.jpg")}));
        let text = std::fs::read_to_string(root.join(format!("Annotation/{n}.txt"))).unwrap();
        for line in text.lines().filter(|l| l.starts_with("Bounding box")) {
            let nums: Vec<f64> = line
                .rsplit(':')
                .next()
                .unwrap()
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            let (x0, y0, x1, y1) = (nums[0] - 1.0, nums[1] - 1.0, nums[2], nums[3]);
            anns.push(serde_json::json!({"id": anns.len() + 1, "image_id": i + 1, "category_id": 1,
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}));
        }
    }
    let coco = serde_json::json!({"images": images, "annotations": anns,
        "categories": [{"id": 1, "name": "pedestrian"}]});
    let dir = std::env::temp_dir().join(format!("mnv2-coco-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("ped.json");
    std::fs::write(&json, coco.to_string()).unwrap();
    let subset = dir.join("subset.txt");
    std::fs::write(&subset, names.join("\n")).unwrap();
    let images_dir = root.join("Images");
    let a = mnv2(&[
        "eval-det",
        "--model",
        &detector(),
        "--json",
        "--data",
        json.to_str().unwrap(),
        "--images",
        images_dir.to_str().unwrap(),
    ]);
    let b = mnv2(&[
        "eval-det",
        "--model",
        &detector(),
        "--json",
        "--data",
        root.to_str().unwrap(),
        "--subset",
        subset.to_str().unwrap(),
    ]);
    assert!(a.status.success() && b.status.success(), "{} {}", text(&a.stderr), text(&b.stderr));
    let (va, vb): (Value, Value) =
        (serde_json::from_str(&text(&a.stdout)).unwrap(), serde_json::from_str(&text(&b.stdout)).unwrap());
    assert_eq!(va["images"], 12);
    assert_eq!(va["objects"], vb["objects"]);
    for k in ["ap50", "coco_ap", "coco_ap75"] {
        assert!((va[k].as_f64().unwrap() - vb[k].as_f64().unwrap()).abs() < 1e-9, "{k}: {va} vs {vb}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_times_a_detector() {
    let o = mnv2(&["bench", "--model", &detector(), "--iters", "2", "--threads", "1", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(v["precision"], "f32");
    assert!(v["arena_bytes"].as_u64().unwrap() > 1_000_000, "{v}");
    assert!(v["latency_ms"]["min"].as_f64().unwrap() > 0.0);
}
