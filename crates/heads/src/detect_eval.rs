//! Detection metrics: PASCAL VOC average precision (all-point interpolation) at one IoU, and COCO
//! AP averaged over IoU 0.50:0.05:0.95 with 101-point interpolation, following pycocotools'
//! `COCOeval` (bbox, area "all", 100 detections per image) step by step.

/// A ground-truth box (x0, y0, x1, y1) in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtBox {
    pub bbox: [f32; 4],
    pub class: usize,
    /// COCO `iscrowd`: matches without counting as a miss, and never counts as a hit.
    pub crowd: bool,
}

/// A detected box (x0, y0, x1, y1) in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetBox {
    pub bbox: [f32; 4],
    pub class: usize,
    pub score: f32,
}

/// One image's ground truth and detections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalImage {
    pub gts: Vec<GtBox>,
    pub dets: Vec<DetBox>,
}

fn area(b: &[f32; 4]) -> f64 {
    ((b[2] - b[0]).max(0.0) as f64) * ((b[3] - b[1]).max(0.0) as f64)
}

fn intersection(a: &[f32; 4], b: &[f32; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) as f64;
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0) as f64;
    w * h
}

/// Intersection over union; against a crowd region, intersection over the detection's area.
pub fn box_iou(det: &[f32; 4], gt: &[f32; 4], crowd: bool) -> f64 {
    let inter = intersection(det, gt);
    let union = if crowd { area(det) } else { area(det) + area(gt) - inter };
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// PASCAL VOC average precision of `class` at IoU `threshold`: detections of all images by
/// falling score; each is a hit when its best-overlapping ground truth is not yet taken; the
/// area under the precision envelope over every recall point. `None` without ground truth.
pub fn voc_ap(images: &[EvalImage], class: usize, threshold: f64) -> Option<f64> {
    let npos = images.iter().flat_map(|im| &im.gts).filter(|g| g.class == class && !g.crowd).count();
    if npos == 0 {
        return None;
    }
    let mut dets: Vec<(f32, usize, &DetBox)> = images
        .iter()
        .enumerate()
        .flat_map(|(i, im)| im.dets.iter().filter(|d| d.class == class).map(move |d| (d.score, i, d)))
        .collect();
    dets.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut taken: Vec<Vec<bool>> = images.iter().map(|im| vec![false; im.gts.len()]).collect();
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut recall, mut precision) = (vec![0.0], vec![0.0]);
    for (_, img, d) in dets {
        let best = images[img]
            .gts
            .iter()
            .enumerate()
            .filter(|(_, g)| g.class == class && !g.crowd)
            .map(|(j, g)| (box_iou(&d.bbox, &g.bbox, false), j))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((iou, j)) if iou >= threshold && !taken[img][j] => {
                taken[img][j] = true;
                tp += 1;
            }
            _ => fp += 1,
        }
        recall.push(tp as f64 / npos as f64);
        precision.push(tp as f64 / (tp + fp) as f64);
    }
    recall.push(1.0);
    precision.push(0.0);
    for i in (0..precision.len() - 1).rev() {
        precision[i] = precision[i].max(precision[i + 1]);
    }
    Some((1..recall.len()).map(|i| (recall[i] - recall[i - 1]) * precision[i]).sum())
}

/// COCO-style results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CocoAp {
    /// AP averaged over IoU 0.50, 0.55, ..., 0.95.
    pub ap: f64,
    pub ap50: f64,
    pub ap75: f64,
}

const MAX_DETS: usize = 100;

/// Per image and class: for each IoU threshold, whether each kept detection matched a real
/// (non-crowd) box, or is ignored (matched a crowd region).
struct Matched {
    scores: Vec<f32>,
    /// [threshold][detection]: 0 unmatched, 1 matched, 2 ignored.
    state: Vec<Vec<u8>>,
    real_gts: usize,
}

fn match_image(im: &EvalImage, class: usize, thresholds: &[f64]) -> Matched {
    // Ground truth with crowd regions last; detections by falling score (stable), at most 100.
    let mut gts: Vec<&GtBox> = im.gts.iter().filter(|g| g.class == class).collect();
    gts.sort_by_key(|g| g.crowd);
    let mut dets: Vec<&DetBox> = im.dets.iter().filter(|d| d.class == class).collect();
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    dets.truncate(MAX_DETS);
    let ious: Vec<Vec<f64>> =
        dets.iter().map(|d| gts.iter().map(|g| box_iou(&d.bbox, &g.bbox, g.crowd)).collect()).collect();
    let mut state = Vec::with_capacity(thresholds.len());
    for &t in thresholds {
        let mut gt_taken = vec![false; gts.len()];
        let mut row = vec![0u8; dets.len()];
        for (d, s) in row.iter_mut().enumerate() {
            let mut best_iou = t.min(1.0 - 1e-10);
            let mut m: Option<usize> = None;
            for (g, gt) in gts.iter().enumerate() {
                if gt_taken[g] && !gt.crowd {
                    continue;
                }
                // Once matched to a real box, stop at the crowd regions.
                if m.is_some_and(|m| !gts[m].crowd) && gt.crowd {
                    break;
                }
                if ious[d][g] < best_iou {
                    continue;
                }
                best_iou = ious[d][g];
                m = Some(g);
            }
            if let Some(m) = m {
                gt_taken[m] = true;
                *s = if gts[m].crowd { 2 } else { 1 };
            }
        }
        state.push(row);
    }
    Matched { scores: dets.iter().map(|d| d.score).collect(), state, real_gts: gts.iter().filter(|g| !g.crowd).count() }
}

/// numpy's `linspace` to the last bit (pycocotools' thresholds are made with it, and recall
/// values can land exactly on them).
fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    let step = (stop - start) / (n - 1) as f64;
    (0..n).map(|i| if i == n - 1 { stop } else { i as f64 * step + start }).collect()
}

/// COCO AP over `classes` (those without ground truth are skipped, as pycocotools does).
/// `None` when no class has ground truth.
pub fn coco_ap(images: &[EvalImage], classes: &[usize]) -> Option<CocoAp> {
    let thresholds = linspace(0.5, 0.95, 10);
    let recalls = linspace(0.0, 1.0, 101);
    // precision[threshold] collects, per class, the mean over the 101 recall points.
    let mut per_threshold: Vec<Vec<f64>> = vec![Vec::new(); thresholds.len()];
    for &class in classes {
        let matched: Vec<Matched> = images.iter().map(|im| match_image(im, class, &thresholds)).collect();
        let npig: usize = matched.iter().map(|m| m.real_gts).sum();
        if npig == 0 {
            continue;
        }
        // All detections, images in order, by falling score (a stable sort, like numpy's mergesort).
        let mut order: Vec<(f32, usize, usize)> = matched
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.scores.iter().enumerate().map(move |(d, &s)| (s, i, d)))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (t, ap_t) in per_threshold.iter_mut().enumerate() {
            let (mut tp, mut fp) = (0.0f64, 0.0f64);
            let (mut rc, mut pr) = (Vec::new(), Vec::new());
            for &(_, i, d) in &order {
                match matched[i].state[t][d] {
                    1 => tp += 1.0,
                    0 => fp += 1.0,
                    _ => continue,
                }
                rc.push(tp / npig as f64);
                pr.push(tp / (tp + fp + f64::EPSILON));
            }
            for i in (1..pr.len()).rev() {
                if pr[i] > pr[i - 1] {
                    pr[i - 1] = pr[i];
                }
            }
            // Precision at recall 0, 0.01, ..., 1: the first point reaching it (0 if none).
            let q: f64 = recalls
                .iter()
                .map(|&target| {
                    let idx = rc.partition_point(|&x| x < target);
                    pr.get(idx).copied().unwrap_or(0.0)
                })
                .sum();
            ap_t.push(q / 101.0);
        }
    }
    if per_threshold[0].is_empty() {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let all: Vec<f64> = per_threshold.iter().flatten().copied().collect();
    Some(CocoAp { ap: mean(&all), ap50: mean(&per_threshold[0]), ap75: mean(&per_threshold[5]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(b: [f32; 4]) -> GtBox {
        GtBox { bbox: b, class: 1, crowd: false }
    }
    fn det(b: [f32; 4], score: f32) -> DetBox {
        DetBox { bbox: b, class: 1, score }
    }

    #[test]
    fn iou_by_hand() {
        // Two 10x10 squares overlapping in a 5x10 strip: 50 / 150.
        assert!((box_iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0], false) - 1.0 / 3.0).abs() < 1e-12);
        // Crowd: over the detection's own area.
        assert!((box_iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0], true) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn voc_ap_by_hand() {
        // Two objects; detections by score: hit, miss, hit -> recall 0.5 at precision 1, recall
        // 1 at precision 2/3: AP = 0.5 * 1 + 0.5 * 2/3.
        let images = vec![
            EvalImage {
                gts: vec![gt([0.0, 0.0, 10.0, 10.0])],
                dets: vec![det([0.0, 0.0, 10.0, 10.0], 0.9), det([50.0, 50.0, 60.0, 60.0], 0.8)],
            },
            EvalImage { gts: vec![gt([0.0, 0.0, 10.0, 10.0])], dets: vec![det([1.0, 0.0, 10.0, 10.0], 0.7)] },
        ];
        let ap = voc_ap(&images, 1, 0.5).unwrap();
        assert!((ap - (0.5 + 1.0 / 3.0)).abs() < 1e-12, "{ap}");
        // A duplicate of a found object is a false positive.
        let dup = vec![EvalImage {
            gts: vec![gt([0.0, 0.0, 10.0, 10.0])],
            dets: vec![det([0.0, 0.0, 10.0, 10.0], 0.9), det([0.0, 0.0, 10.0, 10.0], 0.8)],
        }];
        assert_eq!(voc_ap(&dup, 1, 0.5), Some(1.0));
        assert_eq!(voc_ap(&dup, 2, 0.5), None);
    }

    #[test]
    fn coco_ap_by_hand() {
        // One object found exactly: precision 1 at every recall and IoU: AP 1.
        let perfect =
            vec![EvalImage { gts: vec![gt([0.0, 0.0, 10.0, 10.0])], dets: vec![det([0.0, 0.0, 10.0, 10.0], 0.5)] }];
        let r = coco_ap(&perfect, &[1]).unwrap();
        assert!([r.ap, r.ap50, r.ap75].iter().all(|v| (v - 1.0).abs() < 1e-12), "{r:?}");
        // IoU 0.81 (a 10x10 box and a 9x9 box inside it): hits at thresholds 0.5..0.8 (7 of
        // 10), misses at 0.85..0.95.
        let close =
            vec![EvalImage { gts: vec![gt([0.0, 0.0, 10.0, 10.0])], dets: vec![det([0.0, 0.0, 9.0, 9.0], 0.5)] }];
        let r = coco_ap(&close, &[1]).unwrap();
        assert!((r.ap - 0.7).abs() < 1e-12 && (r.ap50 - 1.0).abs() < 1e-12 && (r.ap75 - 1.0).abs() < 1e-12, "{r:?}");
    }
}
