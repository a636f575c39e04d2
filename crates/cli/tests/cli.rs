//! The `mnv2` binary end to end on the files in ../shared.

mod common;

use common::*;
use std::process::Command;

fn quant_model() -> String {
    shared_file("models/mobilenet_v2_1.0_224_quant.tflite").display().to_string()
}

#[test]
fn classify_json_gives_the_true_class() {
    // TFLite's top-1 for this image is index 1 (tench) with 248/256.
    let jpeg = shared_file("reference/imagenet100/originals/n01440764_tench.JPEG");
    let out = mnv2(&["classify", "--model", &quant_model(), "--json", "--top", "3", jpeg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert_eq!(line.lines().count(), 1);
    assert!(line.starts_with("{\"path\":"), "{line}");
    assert!(line.contains("\"top\":[{\"index\":1,\"label\":\"tench, Tinca tinca\",\"score\":0.9"), "{line}");
}

#[test]
fn classify_text_reports_bad_files_and_goes_on() {
    let dir = std::env::temp_dir().join(format!("mnv2-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("not_an_image.jpg");
    std::fs::write(&bad, b"this is text").unwrap();
    let truncated = dir.join("truncated.jpg");
    let parrot = std::fs::read(shared_file("images/parrot.jpg")).unwrap();
    std::fs::write(&truncated, &parrot[..parrot.len() / 3]).unwrap();
    let good = shared_file("images/parrot.jpg");
    let out = mnv2(&[
        "classify",
        "--model",
        &quant_model(),
        bad.to_str().unwrap(),
        truncated.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("parrot.jpg") && stdout.contains("macaw (index 89)"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.lines().any(|l| l.starts_with("mnv2: error:") && l.contains("not_an_image.jpg")), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn corrupt_model_is_one_error_line() {
    let dir = std::env::temp_dir().join(format!("mnv2-cli-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(quant_model()).unwrap();
    for (i, len) in [10usize, 5000, bytes.len() / 2, bytes.len() - 1].into_iter().enumerate() {
        let cut = dir.join(format!("cut{i}.tflite"));
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let out =
            mnv2(&["classify", "--model", cut.to_str().unwrap(), shared_file("images/cat.bmp").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "length {len}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("mnv2: error: loading"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_model_says_how_to_get_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_mnv2"))
        .args(["classify", "x.jpg"])
        .current_dir(std::env::temp_dir())
        .env_remove("MNV2_MODEL")
        .env_remove("MNV2_MODEL_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--model") && stderr.contains("MNV2_MODEL"), "{stderr}");
}

#[test]
fn info_prints_table_2_and_totals() {
    let out = mnv2(&["info", "--width", "1.0", "--resolution", "224"]);
    assert!(out.status.success());
    let t = text(&out.stdout);
    assert_eq!(t.lines().filter(|l| l.contains("bottleneck")).count(), 17);
    assert!(t.contains("3.47 M") && t.contains("300.8 M"), "{t}");
    let j = mnv2(&["info", "--width", "0.35", "--resolution", "96", "--classes", "1001", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["layers"].as_array().unwrap().len(), 21);
    let macs = v["macs"].as_u64().unwrap() as f64 / 1e6;
    assert!((macs - 11.0).abs() <= 1.0, "{macs}");
    assert!(!mnv2(&["info", "--width", "-1"]).status.success());
}

#[test]
fn info_describes_the_ssdlite_detector() {
    // heads.md: 19*19*3 + (100 + 25 + 9 + 4 + 1) * 6 = 1917 anchors at 300x300.
    let j = mnv2(&["info", "--task", "detect", "--classes", "90", "--resolution", "300", "--json"]);
    assert!(j.status.success(), "{}", text(&j.stderr));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["anchors"], 1917);
    assert_eq!(v["feature_maps"][0], serde_json::json!([19, 19, 576]));
    assert_eq!(v["feature_maps"][5], serde_json::json!([1, 1, 128]));
    let params = v["params"].as_u64().unwrap() as f64 / 1e6;
    assert!((params - 4.3).abs() < 0.3, "{params}"); // paper Table 6: 4.3 M
    assert!(!mnv2(&["info", "--task", "bogus"]).status.success());
}

#[test]
fn run_int8_reproduces_tflite_bytes_and_f32_is_close() {
    let input = shared_file("reference/imagenet100/inputs/n02120505_grey_fox.png");
    let reference =
        std::fs::read(shared_file("reference/imagenet100/inputs/n02120505_grey_fox.mobilenet_v2_1.0_224_quant.u8"))
            .unwrap();
    let out_path = std::env::temp_dir().join(format!("mnv2-run-{}.npy", std::process::id()));
    let out_s = out_path.to_str().unwrap();
    // Default for a quantized model: integer arithmetic, raw uint8 output.
    let out = mnv2(&["run", "--model", &quant_model(), "--input", input.to_str().unwrap(), "--output", out_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let npy = mnv2::npy::parse(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(npy.shape, vec![1, 1001]);
    assert_eq!(npy.data, mnv2::npy::NpyData::U8(reference.clone()), "int8 output differs from TFLite's bytes");
    // Float32: probabilities close to TFLite's uint8 softmax (scale 1/256), the same top-1.
    let out = mnv2(&[
        "run",
        "--model",
        &quant_model(),
        "--precision",
        "f32",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out_s,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let npy = mnv2::npy::parse(&std::fs::read(&out_path).unwrap()).unwrap();
    let mnv2::npy::NpyData::F32(p) = npy.data else { panic!("float output expected") };
    let max_diff = p.iter().zip(&reference).map(|(a, &q)| (a - q as f32 / 256.0).abs()).fold(0.0, f32::max);
    assert!(max_diff < 0.1, "max difference {max_diff}");
    let top = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let ref_top = reference.iter().enumerate().max_by_key(|(i, v)| (**v, std::cmp::Reverse(*i))).unwrap().0;
    assert_eq!(top(&p), ref_top);
    // A float model cannot run in int8.
    let float = shared_file("models/keras_mobilenet_v2_1.0_224_random_f32.tflite");
    let out = mnv2(&[
        "run",
        "--model",
        float.to_str().unwrap(),
        "--precision",
        "int8",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out_s,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("quantized"), "{}", text(&out.stderr));
    std::fs::remove_file(&out_path).ok();
}

/// PyTorch's files and layout through `mnv2 run`: the torchvision `.pth` and ONNX fixtures on a
/// reference NCHW input written as a `.npy`, logits within 1e-4 of PyTorch's.
#[test]
fn run_takes_pytorch_models_and_nchw_inputs() {
    let raw = std::fs::read(shared_file("reference/torchvision/input4.f32")).unwrap();
    let nchw: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let dir = std::env::temp_dir().join(format!("mnv2-nchw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.npy");
    std::fs::write(&input, mnv2::npy::f32_bytes(&[1, 3, 224, 224], &nchw)).unwrap();
    let raw = std::fs::read(shared_file("reference/torchvision/input4.pytorch.f32")).unwrap();
    let pytorch: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    for model in ["torchvision_mobilenet_v2_random.pth", "torchvision_mobilenet_v2_random.onnx"] {
        let model = shared_file(format!("models/{model}"));
        let output = dir.join("out.npy");
        let out = mnv2(&[
            "run",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let npy = mnv2::npy::parse(&std::fs::read(&output).unwrap()).unwrap();
        let mnv2::npy::NpyData::F32(logits) = npy.data else { panic!("float output") };
        let worst = logits.iter().zip(&pytorch).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-4, "{}: {worst}", model.display());
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `mnv2 quantize` writes an int8 model the other commands run in integer arithmetic; the
/// `--preprocess` choice parses.
#[test]
fn quantize_writes_an_int8_model_that_classifies() {
    let dir = std::env::temp_dir().join(format!("mnv2-quantize-{}", std::process::id()));
    let out = dir.join("q.safetensors");
    let flowers = shared_file("datasets/flowers/train");
    let q = mnv2(&[
        "quantize",
        "--model",
        &quant_model(),
        "--images",
        flowers.to_str().unwrap(),
        "--count",
        "16",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(q.status.success(), "{}", text(&q.stderr));
    let cat = shared_file("images/cat.bmp");
    for preprocess in ["auto", "crop-resize", "resize-crop"] {
        let c = mnv2(&[
            "classify",
            "--model",
            out.to_str().unwrap(),
            "--preprocess",
            preprocess,
            "--json",
            "--top",
            "1",
            cat.to_str().unwrap(),
        ]);
        assert!(c.status.success(), "{}", text(&c.stderr));
        assert!(text(&c.stdout).contains("Egyptian cat"), "{preprocess}: {}", text(&c.stdout));
    }
    let bad = mnv2(&["classify", "--model", out.to_str().unwrap(), "--preprocess", "squash", cat.to_str().unwrap()]);
    assert!(!bad.status.success() && text(&bad.stderr).contains("resize-crop"));
    let model = mnv2::import::load(&out).unwrap();
    assert!(model.is_quantized());
    // Exported to TFLite, it classifies the same (the file is read back by the TFLite importer).
    let tflite = dir.join("q.tflite");
    let e = mnv2(&["export", "--model", out.to_str().unwrap(), "-o", tflite.to_str().unwrap()]);
    assert!(e.status.success() && text(&e.stderr).contains("integer arithmetic"), "{}", text(&e.stderr));
    let c = mnv2(&["classify", "--model", tflite.to_str().unwrap(), "--json", "--top", "1", cat.to_str().unwrap()]);
    assert!(text(&c.stdout).contains("Egyptian cat"), "{}", text(&c.stdout));
    let bad = mnv2(&["export", "--model", out.to_str().unwrap(), "-o", dir.join("q.pb").to_str().unwrap()]);
    assert!(!bad.status.success() && text(&bad.stderr).contains(".onnx or .tflite"), "{}", text(&bad.stderr));
    std::fs::remove_dir_all(&dir).ok();
}
