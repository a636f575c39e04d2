//! `mnv2 segment` and `mnv2 eval-seg` end to end.

mod common;

use common::*;

#[test]
fn segment_writes_mask_and_overlay_at_the_original_size() {
    let out_dir = std::env::temp_dir().join(format!("mnv2-seg-{}", std::process::id()));
    let bird = shared_file("images/bird_segmentation.bmp");
    let pets = shared_file("images/pets.jpg"); // 512x430: resized, padded, cropped back
    let bad = out_dir.join("broken.jpg");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(&bad, b"\xff\xd8\xff not really").unwrap();
    let m = model("deeplabv3_mnv2_pascal_quant");
    let args = ["segment", "--model", &m, "--json", "--out", out_dir.to_str().unwrap()];
    let mut all: Vec<&str> = args.to_vec();
    let (b, p, x) = (bird.to_str().unwrap(), pets.to_str().unwrap(), bad.to_str().unwrap());
    all.extend([b, x, p]);
    let out = mnv2(&all);
    assert_eq!(out.status.code(), Some(1), "one image was broken");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().any(|l| l.starts_with("mnv2: error:") && l.contains("broken.jpg")), "{stderr}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    // The bird: background and bird (class 3), about a fifth of the picture.
    let classes = lines[0]["classes"].as_array().unwrap();
    let bird_share = classes.iter().find(|c| c["class"] == 3).unwrap()["fraction"].as_f64().unwrap();
    assert!((0.15..0.3).contains(&bird_share), "{bird_share}");
    assert_eq!(classes.iter().find(|c| c["class"] == 3).unwrap()["label"], "bird");
    // The dogs (class 12) in a non-square picture; the mask has the picture's own size.
    assert!(lines[1]["classes"].as_array().unwrap().iter().any(|c| c["class"] == 12));
    let (w, h, mask) = mnv2::image::load_gray(out_dir.join("pets.mask.png")).unwrap();
    let img = mnv2::image::load_rgb(&pets).unwrap();
    assert_eq!((w, h), (img.width, img.height));
    assert!(mask.iter().all(|&c| c < 21));
    let overlay = mnv2::image::load_rgb(out_dir.join("pets.overlay.png")).unwrap();
    assert_eq!((overlay.width, overlay.height), (img.width, img.height));
    std::fs::remove_dir_all(&out_dir).ok();
}

/// The PennFudan protocol of ../shared/datasets/PennFudanPed/README.md: TFLite gets dataset-level
/// person IoU 0.767 (depth 1.0) and 0.753 (depth 0.5) on the 142 images.
#[test]
fn eval_seg_matches_tflite_on_pennfudan() {
    let data = shared_file("datasets/PennFudanPed");
    let (images, masks) = (data.join("Images"), data.join("PedMasks"));
    for (name, reference) in [("deeplabv3_mnv2_pascal_quant", 0.767), ("deeplabv3_mnv2_dm05_pascal_quant", 0.753)] {
        let m = model(name);
        let out = mnv2(&[
            "eval-seg",
            "--model",
            &m,
            "--images",
            images.to_str().unwrap(),
            "--masks",
            masks.to_str().unwrap(),
            "--class",
            "15",
            "--json",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["images"], 142);
        let iou = v["dataset_iou"].as_f64().unwrap();
        eprintln!("{name}: dataset IoU {iou:.4}, mean per image {:.4}", v["mean_iou"].as_f64().unwrap());
        assert!((iou - reference).abs() <= 0.005, "{name}: IoU {iou} vs TFLite {reference}");
    }
}

#[test]
fn eval_seg_and_segment_reject_bad_arguments() {
    let m = model("deeplabv3_mnv2_pascal_quant");
    let out =
        mnv2(&["eval-seg", "--model", &m, "--images", "/nonexistent", "--masks", "/nonexistent", "--class", "15"]);
    assert_eq!(out.status.code(), Some(2));
    let out = mnv2(&["eval-seg", "--model", &m, "--images", ".", "--masks", ".", "--class", "99"]);
    assert_eq!(out.status.code(), Some(2));
    // A classification model is not a segmentation model.
    let cls = model("mobilenet_v2_1.0_224_quant");
    let out = mnv2(&["segment", "--model", &cls, shared_file("images/cat.bmp").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a segmentation model"));
}
