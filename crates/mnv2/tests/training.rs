//! Training through the library, without the binary: a tiny network from scratch (width 0.35,
//! 64x64) on eight real flower images and a linear probe on a real backbone. An interrupted run
//! resumed from its state ends with exactly the uninterrupted run's model; the progress reports
//! arrive; the saved model loads and has the folder's labels.

use mnv2::training::{ClassifierSettings, RunSettings, train_classifier};
use mnv2_testdata::shared_file;
use std::path::{Path, PathBuf};

/// The first `n` images of two flower classes of `split`, copied under `root`.
fn subset(root: &Path, split: &str, n: usize) -> PathBuf {
    let dir = root.join(split);
    for class in ["daisy", "sunflowers"] {
        let src = shared_file("datasets/flowers").join(split).join(class);
        std::fs::create_dir_all(dir.join(class)).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.into_iter().take(n) {
            std::fs::copy(&f, dir.join(class).join(f.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// Records what the trainer reports.
#[derive(Default)]
struct Log {
    stages: Vec<String>,
    steps: usize,
    notes: Vec<String>,
}

impl mnv2::Progress for Log {
    fn start(&mut self, _total: usize, what: &str) {
        self.stages.push(what.to_string());
    }
    fn advance(&mut self, n: usize, _status: &str) {
        self.steps += n;
    }
    fn note(&mut self, line: &str) {
        self.notes.push(line.to_string());
    }
}

fn settings(root: &Path, out: &str, stop_after: usize, resume: bool) -> ClassifierSettings {
    let run = RunSettings {
        epochs: 2,
        batch: 4,
        ema: Some(0.9),
        stop_after: Some(stop_after),
        resume,
        threads: 1,
        ..RunSettings::new(root.join(out))
    };
    ClassifierSettings {
        data: root.join("train"),
        val: root.join("val"),
        width: 0.35,
        resolution: 64,
        ..ClassifierSettings::new(run)
    }
}

#[test]
fn from_scratch_resumes_exactly_and_reports_progress() {
    let root = std::env::temp_dir().join(format!("mnv2-lib-train-{}", std::process::id()));
    subset(&root, "train", 4);
    subset(&root, "val", 2);
    let mut log = Log::default();
    let summary = train_classifier(&settings(&root, "whole.safetensors", 2, false), &mut log).unwrap().unwrap();
    assert!(summary.contains("val top-1") && summary.contains("after 2 epochs"), "{summary}");
    // Two epochs of two steps (8 images, batch 4), each epoch announced and reported.
    assert_eq!(log.stages, ["epoch 1/2", "epoch 2/2"]);
    assert_eq!(log.steps, 4);
    assert!(log.notes.iter().any(|n| n.starts_with("epoch 2: loss ")), "{:?}", log.notes);

    train_classifier(&settings(&root, "split.safetensors", 1, false), &mut mnv2::Silent).unwrap();
    let mut resumed = Log::default();
    train_classifier(&settings(&root, "split.safetensors", 2, true), &mut resumed).unwrap();
    assert_eq!(resumed.stages, ["epoch 2/2"]);
    let read = |name: &str| std::fs::read(root.join(name)).unwrap();
    assert!(read("whole.safetensors") == read("split.safetensors"), "resumed model differs");
    assert!(read("whole.train.safetensors") == read("split.train.safetensors"), "resumed state differs");
    let lines = String::from_utf8(read("split.metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");

    // Finished: resuming again has nothing to do, and says so.
    let mut again = Log::default();
    assert_eq!(train_classifier(&settings(&root, "split.safetensors", 2, true), &mut again).unwrap(), None);
    assert!(again.notes.iter().any(|n| n.contains("training already finished (2 of 2 epochs)")), "{:?}", again.notes);

    let model = mnv2::import::load(root.join("whole.safetensors")).unwrap();
    assert_eq!(model.labels.as_deref(), Some(&["daisy".to_string(), "sunflowers".to_string()][..]));
    assert_eq!((model.arch.width, model.arch.resolution, model.arch.classes), (0.35, 64, 2));
    std::fs::remove_dir_all(&root).ok();
}

/// A linear probe on the ImageNet backbone separates daisies from sunflowers on the images it
/// trained on (they differ plainly; 6 of each), and its loss falls.
#[test]
fn probe_learns_and_its_state_resumes() {
    let root = std::env::temp_dir().join(format!("mnv2-lib-probe-{}", std::process::id()));
    subset(&root, "train", 6);
    subset(&root, "val", 2);
    let probe = |out: &str, stop_after: usize, resume: bool| {
        let mut s = settings(&root, out, stop_after, resume);
        s.init = Some(shared_file("models/mobilenet_v2_1.0_224_quant.tflite"));
        s.freeze_backbone = true;
        s.run.epochs = 4;
        s.run.ema = None;
        train_classifier(&s, &mut mnv2::Silent).unwrap();
    };
    probe("whole.safetensors", 4, false);
    probe("split.safetensors", 2, false);
    probe("split.safetensors", 4, true);
    let read = |name: &str| std::fs::read(root.join(name)).unwrap();
    assert!(read("whole.safetensors") == read("split.safetensors"), "resumed probe differs");
    let metrics: Vec<serde_json::Value> = String::from_utf8(read("whole.metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(metrics.len(), 4);
    assert!(metrics[3]["loss"].as_f64() < metrics[0]["loss"].as_f64(), "{metrics:?}");
    assert_eq!(metrics[3]["train_top1"].as_f64(), Some(1.0), "{metrics:?}");
    std::fs::remove_dir_all(&root).ok();
}
