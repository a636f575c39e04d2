//! `mnv2 detect`: boxes drawn on each image, and optionally one JSON object per image.

use crate::args::DetectArgs;
use anyhow::Context;
use mnv2::{Detector, Options};
use serde_json::json;
use std::process::ExitCode;

pub fn main(a: DetectArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&a.score_threshold) {
        anyhow::bail!("--score-threshold {} is not between 0 and 1", a.score_threshold);
    }
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_detection_model_path()?,
    };
    let options = Options { threads: a.threads, labels: a.labels.clone(), ..Options::default() };
    let mut det = Detector::load(&model_path, options).with_context(|| format!("loading {}", model_path.display()))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    Ok(crate::files::for_each_image(&a.images, |path| one(&mut det, path, &a)))
}

/// Detects objects in one image, writes its picture, returns what to print.
fn one(det: &mut Detector, path: &std::path::Path, a: &DetectArgs) -> anyhow::Result<String> {
    let image = mnv2::image::load_rgb(path)?;
    let boxes: Vec<_> = det.detect(&image)?.into_iter().filter(|b| b.score >= a.score_threshold).collect();
    let stem = path.file_stem().map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
    let out_path = a.out.join(format!("{stem}.boxes.png"));
    mnv2::image::save_png(&det.draw(&image, &boxes, a.score_threshold), &out_path)?;
    Ok(if a.json {
        let detections = mnv2::report::detections(&boxes);
        json!({"path": path.display().to_string(), "boxes_png": out_path.display().to_string(),
               "detections": detections})
        .to_string()
    } else {
        let mut text = format!("{}: {} -> {}", path.display(), crate::count(boxes.len(), "object"), out_path.display());
        for b in &boxes {
            let [x0, y0, x1, y1] = b.bbox.map(|v| v.round() as i64);
            text.push_str(&format!("\n  {:5.1}%  {} at ({x0}, {y0})-({x1}, {y1})", 100.0 * b.score, b.label));
        }
        text
    })
}
