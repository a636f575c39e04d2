//! What a new user meets first: one input rule (files and folders) and one output rule (folders
//! created) for every command, training that skips a bad image and says what it did, and the
//! summary line at the end of a run.

mod common;

use common::*;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn segment_and_detect_take_folders_and_create_their_output_folders() {
    let dir = temp_dir("folders");
    let images = dir.join("images/nested");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(shared_file("images/dog_segmentation.bmp"), images.join("dog.bmp")).unwrap();
    std::fs::copy(shared_file("images/kite_and_cold.jpg"), images.join("kite.jpg")).unwrap();
    std::fs::write(images.join("notes.txt"), "not an image, not listed").unwrap();
    let seg_out = dir.join("out/seg/deeper");
    let seg_model = shared_file("models/deeplabv3_mnv2_dm05_pascal_quant.tflite");
    let out = mnv2(&["segment", "--model", s(&seg_model), "--out", s(&seg_out), s(&dir.join("images"))]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in ["dog.mask.png", "dog.overlay.png", "kite.mask.png", "kite.overlay.png"] {
        assert!(seg_out.join(name).is_file(), "{name}");
    }
    let det_out = dir.join("out/det");
    let det_model = shared_file("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb");
    let out = mnv2(&["detect", "--model", s(&det_model), "--json", "--out", s(&det_out), s(&dir.join("images"))]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2, "{}", text(&out.stdout));
    assert!(det_out.join("kite.boxes.png").is_file() && det_out.join("dog.boxes.png").is_file());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn training_skips_a_bad_image_counts_it_and_ends_with_a_summary() {
    let dir = temp_dir("train-bad");
    let (train, val) = (flowers(&dir, "train", 12), flowers(&dir, "val", 1));
    // One truncated JPEG among 24 images: skipped, named, counted.
    let good = std::fs::read(shared_file("images/parrot.jpg")).unwrap();
    std::fs::write(train.join("daisy/zz_cut.jpg"), &good[..good.len() / 2]).unwrap();
    let out_path = dir.join("run/model.safetensors");
    let init = shared_file("models/mobilenet_v2_1.0_224_quant.tflite");
    let args = |data: &Path| {
        let mut v = vec!["train", "--data", s(data), "--val", s(&val), "--init", s(&init), "--freeze-backbone"];
        v.extend(["--batch", "8", "--epochs", "1", "-o", s(&out_path)]);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let a = args(&train);
    let out = mnv2(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("skipping") && err.contains("zz_cut.jpg") && err.contains("truncated JPEG"), "{err}");
    assert!(err.contains("skipped 1 image of 25"), "{err}");
    let summary = text(&out.stdout);
    assert!(
        summary.contains("val top-1") && summary.contains("(best") && summary.contains("after 1 epoch,"),
        "{summary}"
    );
    assert!(summary.contains("metrics.jsonl") && summary.contains("curves.png"), "{summary}");
    // Past the limit (5%, at least one) the run stops and says why.
    std::fs::write(train.join("sunflowers/zz_text.jpg"), b"not a picture").unwrap();
    let a = args(&train);
    let out = mnv2(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("2 of the 26 images"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_has_a_default_model_and_skips_unreadable_images() {
    let dir = temp_dir("eval");
    let data = dir.join("data/tabby, tabby cat");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(shared_file("images/cat.bmp"), data.join("cat.bmp")).unwrap();
    std::fs::write(data.join("broken.png"), b"\x89PNG broken").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mnv2"))
        .args(["eval", "--data", s(&dir.join("data")), "--json"])
        .env("MNV2_MODEL_DIR", shared_file("models"))
        .env_remove("MNV2_MODEL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("broken.png"), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["images"].as_u64(), v["failed"].as_u64()), (Some(1), Some(1)), "{v}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `bench --profile` names every step of the network: the stem, the 17 bottlenecks of the
/// paper's Table 2 with their shapes, the head conv, the pool and the classifier.
#[test]
fn bench_profile_lists_every_step() {
    let m = shared_file("models/tf2_mobilenet_v2_1.0_224_ptq.tflite");
    let out = mnv2(&["bench", "--model", s(&m), "--iters", "2", "--warmup", "1", "--profile", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let profile: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let steps: Vec<String> =
        profile["profile"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap().to_string()).collect();
    assert_eq!(steps.iter().filter(|s| s.starts_with("block ")).count(), 17, "{steps:?}");
    assert!(steps.iter().any(|s| s.starts_with("stem conv 3x3 -> 32")), "{steps:?}");
    assert!(steps.contains(&"block 17: 7x7x960 -> 7x7x320".to_string()), "{steps:?}");
    assert!(steps.iter().any(|s| s.starts_with("classifier -> 1001")), "{steps:?}");
}
