//! `mnv2 eval-seg`: intersection-over-union of one class against binary masks.

use crate::args::EvalSegArgs;
use anyhow::{Context, bail};
use mnv2::{Options, Segmenter};
use serde_json::json;
use std::process::ExitCode;

pub fn main(a: EvalSegArgs) -> anyhow::Result<ExitCode> {
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_segmentation_model_path()?,
    };
    let options = Options { threads: a.threads, precision: a.precision, ..Options::default() };
    let mut seg = Segmenter::load(&model_path, options).with_context(|| format!("loading {}", model_path.display()))?;
    if a.class as u32 >= seg.model().arch.classes {
        bail!("--class {} but the model has {} classes", a.class, seg.model().arch.classes);
    }
    let pairs = mnv2::evaluate::mask_pairs(&a.images, &a.masks)?;
    if pairs.is_empty() {
        bail!("no image in {} has a mask in {}", a.images.display(), a.masks.display());
    }
    let mut bar = crate::progress::Bar::default();
    let (iou, failed) = mnv2::evaluate::segmentation(&mut seg, &pairs, a.class, &mut bar);
    let label = seg.labels().get(a.class as usize).to_string();
    if a.json {
        let v = json!({"model": model_path.display().to_string(), "class": a.class, "label": label,
            "images": iou.per_image.len(), "failed": failed, "dataset_iou": iou.dataset_iou(), "mean_iou": iou.mean_iou(),
            "precision": format!("{:?}", seg.precision()).to_lowercase()});
        println!("{v}");
    } else {
        println!(
            "{} ({}): class {} ({label}) on {}: dataset IoU {:.4}, mean per-image IoU {:.4}",
            model_path.display(),
            format!("{:?}", seg.precision()).to_lowercase(),
            a.class,
            crate::count(iou.per_image.len(), "image"),
            iou.dataset_iou(),
            iou.mean_iou()
        );
    }
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
