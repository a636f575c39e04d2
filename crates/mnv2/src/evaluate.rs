//! Scoring a model on a labelled dataset: top-1/top-5 and the confusion matrix of a classifier on
//! an image folder, the AP of a detector (PASCAL VOC AP@0.5 and COCO AP@[.5:.95]) on PennFudan or
//! COCO annotations, and the IoU of one class of a segmenter against binary masks. An image that
//! cannot be read is reported through the [`Progress`] and left out; the rest are scored.

use crate::train::Progress;
use crate::train::data::ImageFolder;
use crate::train::detdata::DetSample;
use crate::{Classifier, Detector, Error, Segmenter};
use mnv2_heads::IouCounter;
use mnv2_heads::detect_eval::{CocoAp, DetBox, EvalImage, coco_ap, voc_ap};
use std::path::{Path, PathBuf};

/// A classifier's scores on an image folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassScores {
    /// Images scored (those that could be read).
    pub images: usize,
    pub failed: usize,
    pub top1: f64,
    pub top5: f64,
    /// `confusion[truth][prediction]`, in the folder's class order (predictions of labels that
    /// are not folder classes are left out).
    pub confusion: Vec<Vec<usize>>,
}

/// Scores `c` on `set`, whose class folders must all be labels of the model.
pub fn classification(
    c: &mut Classifier,
    set: &ImageFolder,
    progress: &mut dyn Progress,
) -> Result<ClassScores, Error> {
    // Folder names to the model's output indices.
    let index: Vec<usize> = set
        .classes
        .iter()
        .map(|name| (0..c.labels().len()).find(|&i| c.labels().get(i) == name))
        .collect::<Option<_>>()
        .ok_or_else(|| Error::Input(format!("the class folders {:?} are not all labels of the model", set.classes)))?;
    let k = set.classes.len();
    let mut s = ClassScores { images: 0, failed: 0, top1: 0.0, top5: 0.0, confusion: vec![vec![0; k]; k] };
    let (mut top1, mut top5) = (0usize, 0usize);
    progress.start(set.items.len(), "images");
    for chunk in set.items.chunks(16) {
        let (mut truths, mut prepared) = (Vec::with_capacity(chunk.len()), Vec::with_capacity(chunk.len()));
        for (path, truth) in chunk {
            match c.input().load(path) {
                Ok(input) => {
                    truths.push(*truth);
                    prepared.push(input);
                }
                Err(e) => {
                    s.failed += 1;
                    progress.note(&format!("error: {e}"));
                }
            }
        }
        let inputs: Vec<&[u8]> = prepared.iter().map(|i| i.data.as_slice()).collect();
        for (truth, preds) in truths.iter().zip(c.classify_prepared(&inputs, 5)?) {
            let want = index[*truth];
            top1 += (preds[0].index == want) as usize;
            top5 += preds.iter().any(|p| p.index == want) as usize;
            if let Some(col) = index.iter().position(|&i| i == preds[0].index) {
                s.confusion[*truth][col] += 1;
            }
        }
        progress.advance(chunk.len(), "");
    }
    progress.finish();
    s.images = set.items.len() - s.failed;
    let n = s.images.max(1) as f64;
    (s.top1, s.top5) = (top1 as f64 / n, top5 as f64 / n);
    Ok(s)
}

/// A detector's output on every sample beside its ground truth (all the boxes post-processing keeps).
pub fn detect_all(
    det: &mut Detector,
    samples: &[DetSample],
    progress: &mut dyn Progress,
) -> Result<Vec<EvalImage>, Error> {
    let mut images = Vec::with_capacity(samples.len());
    progress.start(samples.len(), "images");
    for s in samples {
        let image = mnv2_image::load_rgb(&s.image)?;
        let dets =
            det.detect(&image)?.into_iter().map(|b| DetBox { bbox: b.bbox, class: b.class, score: b.score }).collect();
        images.push(EvalImage { gts: s.boxes.clone(), dets });
        progress.advance(1, "");
    }
    progress.finish();
    Ok(images)
}

/// A detector's average precision over `classes` object classes (slots 1..=classes).
#[derive(Debug, Clone, PartialEq)]
pub struct DetScores {
    /// AP@0.5 (VOC, all-point) of each class with ground truth.
    pub per_class: Vec<(usize, f64)>,
    /// Their mean (0 when no class has ground truth).
    pub ap50: f64,
    /// COCO AP@[.5:.95], AP@0.5 and AP@0.75 (None when there is no ground truth).
    pub coco: Option<CocoAp>,
    /// Ground-truth objects that are not crowds.
    pub objects: usize,
}

/// The AP of the detections in `images`.
pub fn average_precision(images: &[EvalImage], classes: usize) -> DetScores {
    let slots: Vec<usize> = (1..=classes).collect();
    let per_class: Vec<(usize, f64)> = slots.iter().filter_map(|&c| voc_ap(images, c, 0.5).map(|ap| (c, ap))).collect();
    let ap50 =
        if per_class.is_empty() { 0.0 } else { per_class.iter().map(|p| p.1).sum::<f64>() / per_class.len() as f64 };
    let objects = images.iter().map(|i| i.gts.iter().filter(|g| !g.crowd).count()).sum();
    DetScores { per_class, ap50, coco: coco_ap(images, &slots), objects }
}

/// The mask of image `stem` in `dir`: `<stem>_mask.png` or `<stem>.png`.
pub fn mask_for(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}_mask.png"), format!("{stem}.png")].into_iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Every file in `images` that has a mask in `masks`, with it, in name order.
pub fn mask_pairs(images: &Path, masks: &Path) -> Result<Vec<(PathBuf, PathBuf)>, Error> {
    let entries =
        std::fs::read_dir(images).map_err(|source| Error::Io { path: images.display().to_string(), source })?;
    let mut pairs: Vec<(PathBuf, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let mask = mask_for(masks, &p.file_stem().unwrap_or_default().to_string_lossy())?;
            Some((p, mask))
        })
        .collect();
    pairs.sort();
    Ok(pairs)
}

/// The IoU of class `class` of `seg` against each binary mask of `pairs` (image, mask); returns
/// the counts and how many pairs failed (each named through `progress`).
pub fn segmentation(
    seg: &mut Segmenter,
    pairs: &[(PathBuf, PathBuf)],
    class: u8,
    progress: &mut dyn Progress,
) -> (IouCounter, usize) {
    let (mut iou, mut failed) = (IouCounter::default(), 0);
    progress.start(pairs.len(), "images");
    for (image, mask) in pairs {
        let result = (|| -> Result<(), Error> {
            let img = mnv2_image::load_rgb(image)?;
            let (w, h, mask) = mnv2_image::load_gray(mask)?;
            if (w, h) != (img.width, img.height) {
                return Err(Error::Input(format!("mask is {w}x{h}, image {}x{}", img.width, img.height)));
            }
            iou.add(&seg.segment(&img)?.classes, class, &mask);
            Ok(())
        })();
        if let Err(e) = result {
            failed += 1;
            progress.note(&format!("error: {}: {e}", image.display()));
        }
        progress.advance(1, "");
    }
    progress.finish();
    (iou, failed)
}
