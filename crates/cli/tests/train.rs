//! `mnv2 train` and `mnv2 eval` on a handful of real images: the loss falls, a resumed run ends
//! with the same weights as an uninterrupted one, and the result is a model the other commands load.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A small image folder: the first `n` images of two flower classes.
fn subset(root: &Path, split: &str, n: usize) -> PathBuf {
    let dir = root.join(split);
    for class in ["daisy", "sunflowers"] {
        let src = shared_file("datasets/flowers").join(split).join(class);
        let dst = dir.join(class);
        std::fs::create_dir_all(&dst).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.into_iter().take(n) {
            std::fs::copy(&f, dst.join(f.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn weights(state: &Path) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    v["w"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn probe_trains_resumes_exactly_and_evaluates() {
    let root = std::env::temp_dir().join(format!("mnv2-train-{}", std::process::id()));
    let (train, val) = (subset(&root, "train", 6), subset(&root, "val", 3));
    let init = shared_file("models/mobilenet_v2_1.0_224_quant.tflite");
    let (t, v, i) = (train.to_str().unwrap(), val.to_str().unwrap(), init.to_str().unwrap());
    let run = |out: &Path, stop_after: &str, resume: bool| {
        let mut args =
            vec!["train", "--data", t, "--val", v, "--init", i, "--freeze-backbone", "--batch", "4", "--epochs", "4"];
        args.extend(["--stop-after", stop_after]);
        args.extend(["-o", out.to_str().unwrap()]);
        if resume {
            args.push("--resume");
        }
        let o = mnv2(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let whole = root.join("whole.safetensors");
    run(&whole, "4", false);
    let split = root.join("split.safetensors");
    run(&split, "2", false);
    run(&split, "4", true);
    // Interrupted after two epochs and resumed: the same weights, bit for bit.
    assert!(weights(&root.join("whole.state.json")) == weights(&root.join("split.state.json")), "resume differs");
    // The loss falls over the epochs.
    let metrics: Vec<serde_json::Value> = std::fs::read_to_string(root.join("whole.metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(metrics.len(), 4);
    assert!(metrics[3]["loss"].as_f64().unwrap() < metrics[0]["loss"].as_f64().unwrap());
    assert!(root.join("whole.curves.png").is_file());
    // The trained model classifies and evaluates with its own labels.
    let o = mnv2(&["eval", "--model", whole.to_str().unwrap(), "--data", v, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["images"], 6);
    assert!(e["top1"].as_f64().unwrap() >= 0.5, "{e}");
    std::fs::remove_dir_all(&root).ok();
}

/// Full fine-tuning (every layer, with a moving average of the weights) for two short epochs: it
/// runs, and stopping after one epoch then resuming ends with exactly the uninterrupted run's model.
#[test]
fn full_finetune_resumes_exactly() {
    let root = std::env::temp_dir().join(format!("mnv2-finetune-{}", std::process::id()));
    let (train, val) = (subset(&root, "train", 4), subset(&root, "val", 2));
    let init = shared_file("models/mobilenet_v2_1.0_224_quant.tflite");
    let (t, v, i) = (train.to_str().unwrap(), val.to_str().unwrap(), init.to_str().unwrap());
    let run = |out: &Path, stop_after: &str, resume: bool| {
        let mut args =
            vec!["train", "--data", t, "--val", v, "--init", i, "--batch", "4", "--epochs", "2", "--lr", "3e-4"];
        args.extend(["--stop-after", stop_after, "-o", out.to_str().unwrap()]);
        if resume {
            args.push("--resume");
        }
        let o = mnv2(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (whole, split) = (root.join("whole.safetensors"), root.join("split.safetensors"));
    run(&whole, "2", false);
    run(&split, "1", false);
    run(&split, "2", true);
    assert!(std::fs::read(&whole).unwrap() == std::fs::read(&split).unwrap(), "resumed model differs");
    let metrics = std::fs::read_to_string(root.join("whole.metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    std::fs::remove_dir_all(&root).ok();
}
