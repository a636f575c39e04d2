//! `mnv2 eval-det`: average precision of a detector on a PennFudan-format or COCO-JSON dataset:
//! AP at IoU 0.5 (PASCAL VOC, all-point interpolation) and COCO AP@[.5:.95] (pycocotools' rules).

use crate::args::EvalDetArgs;
use anyhow::{Context, bail};
use mnv2::evaluate::{average_precision, detect_all};
use mnv2::train::detdata::DetDataset;
use mnv2::{Detector, Options};
use serde_json::json;
use std::process::ExitCode;

pub fn main(a: EvalDetArgs) -> anyhow::Result<ExitCode> {
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_detection_model_path()?,
    };
    let mut det = Detector::load(&model_path, Options { threads: a.threads, ..Options::default() })
        .with_context(|| format!("loading {}", model_path.display()))?;
    let mut data = DetDataset::open(&a.data, a.images.as_deref())?;
    if let Some(list) = &a.subset {
        let bytes = mnv2::Limits::global().read_file(list, "a list of names")?;
        let text = String::from_utf8_lossy(&bytes);
        let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        data = data.subset(&names);
    }
    if data.samples.is_empty() {
        bail!("no images to evaluate in {}", a.data.display());
    }
    if data.classes.len() != det.classes() {
        bail!("the dataset has {} classes, the model {}", data.classes.len(), det.classes());
    }
    let start = std::time::Instant::now();
    let images = detect_all(&mut det, &data.samples, &mut crate::progress::Bar::default())?;
    let scores = average_precision(&images, data.classes.len());
    let (Some(coco), false) = (&scores.coco, scores.per_class.is_empty()) else {
        bail!("the dataset has no ground-truth boxes");
    };
    let (ap50, objects, per_class) = (scores.ap50, scores.objects, &scores.per_class);
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        let per: Vec<_> =
            per_class.iter().map(|&(c, ap)| json!({"class": c, "label": data.classes[c - 1], "ap50": ap})).collect();
        println!(
            "{}",
            json!({"model": model_path.display().to_string(), "images": images.len(), "objects": objects,
                   "ap50": ap50, "coco_ap": coco.ap, "coco_ap50": coco.ap50, "coco_ap75": coco.ap75,
                   "per_class": per, "seconds": secs})
        );
    } else {
        println!("{}, {}, {secs:.1} s", crate::count(images.len(), "image"), crate::count(objects, "object"));
        println!("AP@0.5 (VOC, all-point)   {ap50:.4}");
        println!("COCO AP@[.5:.95]          {:.4}", coco.ap);
        println!("COCO AP@0.5 / AP@0.75     {:.4} / {:.4}", coco.ap50, coco.ap75);
        if per_class.len() > 1 {
            for &(c, ap) in per_class {
                println!("  {:<20} AP@0.5 {ap:.4}", data.classes[c - 1]);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
