//! `mnv2 eval-seg`: intersection-over-union of one class against binary masks.

use crate::args::EvalSegArgs;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mnv2::heads::IouCounter;
use mnv2::{Options, Segmenter};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The mask of image `stem`: `<stem>_mask.png` or `<stem>.png` in `dir`.
fn mask_for(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}_mask.png"), format!("{stem}.png")].into_iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

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
    let mut images: Vec<PathBuf> = std::fs::read_dir(&a.images)
        .with_context(|| format!("reading {}", a.images.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && mask_for(&a.masks, &p.file_stem().unwrap_or_default().to_string_lossy()).is_some())
        .collect();
    images.sort();
    if images.is_empty() {
        bail!("no image in {} has a mask in {}", a.images.display(), a.masks.display());
    }
    let progress = ProgressBar::new(images.len() as u64);
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} images eta {eta}").expect("valid template"));
    let mut iou = IouCounter::default();
    let mut failed = 0;
    for path in &images {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let result = (|| -> anyhow::Result<()> {
            let image = mnv2::image::load_rgb(path)?;
            let (w, h, mask) = mnv2::image::load_gray(mask_for(&a.masks, &stem).expect("filtered above"))?;
            if (w, h) != (image.width, image.height) {
                bail!("mask is {w}x{h}, image {}x{}", image.width, image.height);
            }
            let map = seg.segment(&image)?;
            iou.add(&map.classes, a.class, &mask);
            Ok(())
        })();
        if let Err(e) = result {
            failed += 1;
            progress.suspend(|| eprintln!("mnv2: error: {}: {}", path.display(), crate::one_line(&e)));
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
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
