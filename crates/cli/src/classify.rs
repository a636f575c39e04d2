//! `mnv2 classify`: top-k classes for image files and directories.

use crate::args::ClassifyArgs;
use crate::files;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use mnv2::{Classifier, Options, Prediction};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn main(a: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_model_path()?,
    };
    let options = Options {
        threads: a.threads,
        precision: a.precision,
        crop: a.crop,
        labels: a.labels.clone(),
        preprocess: a.preprocess.0,
    };
    let mut classifier =
        Classifier::load(&model_path, options).with_context(|| format!("loading {}", model_path.display()))?;
    // A batch too large for the memory limit is refused now, before any image is read.
    classifier.reserve(a.batch)?;
    let paths = mnv2::image::image_paths(&a.inputs);
    let progress = if paths.len() > 1 { ProgressBar::new(paths.len() as u64) } else { ProgressBar::hidden() };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images {per_sec} eta {eta}").expect("valid template"),
    );
    let mut failed = 0usize;
    let mut batch: Vec<(PathBuf, mnv2::image::Rgb8)> = Vec::new();
    let report_error = |path: &Path, msg: &str, progress: &ProgressBar| {
        progress.suspend(|| eprintln!("mnv2: error: {}", files::with_path(path, msg)));
    };
    for item in paths {
        match item {
            Err((path, msg)) => {
                report_error(&path, &msg, &progress);
                failed += 1;
            }
            // Each image is cropped and resized as soon as it is read: a batch holds only inputs.
            Ok(path) => match classifier.input().load(&path) {
                Ok(input) => batch.push((path, input)),
                Err(e) => {
                    report_error(&path, &e.to_string(), &progress);
                    failed += 1;
                }
            },
        }
        progress.inc(1);
        if batch.len() == a.batch {
            failed += flush(&mut classifier, &mut batch, &a, &progress);
        }
    }
    failed += flush(&mut classifier, &mut batch, &a, &progress);
    progress.finish_and_clear();
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Classifies and prints the pending batch; returns how many images failed.
fn flush(
    c: &mut Classifier,
    batch: &mut Vec<(PathBuf, mnv2::image::Rgb8)>,
    a: &ClassifyArgs,
    progress: &ProgressBar,
) -> usize {
    if batch.is_empty() {
        return 0;
    }
    let inputs: Vec<&[u8]> = batch.iter().map(|(_, input)| input.data.as_slice()).collect();
    let result = c.classify_prepared(&inputs, a.top);
    let failed = match result {
        Ok(preds) => {
            progress.suspend(|| {
                for ((path, _), p) in batch.iter().zip(preds) {
                    print_result(path, &p, a.json);
                }
            });
            0
        }
        Err(e) => {
            progress.suspend(|| {
                for (path, _) in batch.iter() {
                    eprintln!("mnv2: error: {}: {e}", path.display());
                }
            });
            batch.len()
        }
    };
    batch.clear();
    failed
}

fn print_result(path: &Path, preds: &[Prediction], as_json: bool) {
    if as_json {
        println!("{}", json!({"path": path.display().to_string(), "top": mnv2::report::top(preds)}));
    } else {
        println!("{}", path.display());
        for p in preds {
            println!("  {:>7.3}%  {} (index {})", 100.0 * p.score, p.label, p.index);
        }
    }
}
