//! `mnv2 segment`: class masks and overlays for images of any size.

use crate::args::SegmentArgs;
use anyhow::Context;
use mnv2::{Options, Segmenter};
use serde_json::json;
use std::process::ExitCode;

pub fn main(a: SegmentArgs) -> anyhow::Result<ExitCode> {
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_segmentation_model_path()?,
    };
    let options =
        Options { threads: a.threads, precision: a.precision, labels: a.labels.clone(), ..Options::default() };
    let mut seg = Segmenter::load(&model_path, options).with_context(|| format!("loading {}", model_path.display()))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    Ok(crate::files::for_each_image(&a.images, |path| one(&mut seg, path, &a)))
}

/// Segments one image, writes its two PNGs, returns the line to print.
fn one(seg: &mut Segmenter, path: &std::path::Path, a: &SegmentArgs) -> anyhow::Result<String> {
    let image = mnv2::image::load_rgb(path)?;
    let map = seg.segment(&image)?;
    let stem = path.file_stem().map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
    let mask_path = a.out.join(format!("{stem}.mask.png"));
    let overlay_path = a.out.join(format!("{stem}.overlay.png"));
    mnv2::image::save_gray_png(map.width, map.height, &map.classes, &mask_path)?;
    mnv2::image::save_png(&seg.overlay(&image, &map), &overlay_path)?;
    let fractions = map.fractions();
    Ok(if a.json {
        let classes = mnv2::report::classes(seg.labels(), &map);
        json!({"path": path.display().to_string(), "mask": mask_path.display().to_string(),
               "overlay": overlay_path.display().to_string(), "classes": classes})
        .to_string()
    } else {
        let listed: Vec<String> =
            fractions.iter().map(|&(c, f)| format!("{} {:.1}%", seg.labels().get(c as usize), 100.0 * f)).collect();
        format!("{}: {} -> {}, {}", path.display(), listed.join(", "), mask_path.display(), overlay_path.display())
    })
}
