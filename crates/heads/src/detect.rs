//! SSD detection post-processing: the anchor grid of `ssd_anchor_generator`, the Faster R-CNN box
//! coder (scales 10, 10, 5, 5), sigmoid scores and per-class non-maximum suppression, as the Object
//! Detection API defines them (see `shared/docs/heads.md`).

/// A box as (ymin, xmin, ymax, xmax) in normalised image coordinates.
pub type BoxCorners = [f32; 4];

/// The SSD anchor generator's settings; `Default` is the SSDLite-MobileNetV2 release config.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorSpec {
    pub min_scale: f32,
    pub max_scale: f32,
    pub aspect_ratios: Vec<f32>,
    /// Layer 0 gets only (0.1, 1), (min_scale, 2), (min_scale, 0.5).
    pub reduce_boxes_in_lowest_layer: bool,
}

impl Default for AnchorSpec {
    fn default() -> Self {
        AnchorSpec {
            min_scale: 0.2,
            max_scale: 0.95,
            aspect_ratios: vec![1.0, 2.0, 0.5, 3.0, 0.3333],
            reduce_boxes_in_lowest_layer: true,
        }
    }
}

impl AnchorSpec {
    /// (scale, aspect ratio) of each anchor at one position of layer `i` of `layers`.
    pub fn layer_boxes(&self, i: usize, layers: usize) -> Vec<(f32, f32)> {
        let scale = |k: usize| {
            if k >= layers {
                1.0
            } else if layers == 1 {
                self.min_scale
            } else {
                self.min_scale + (self.max_scale - self.min_scale) * k as f32 / (layers - 1) as f32
            }
        };
        if i == 0 && self.reduce_boxes_in_lowest_layer {
            return vec![(0.1, 1.0), (scale(0), 2.0), (scale(0), 0.5)];
        }
        let mut boxes: Vec<(f32, f32)> = self.aspect_ratios.iter().map(|&r| (scale(i), r)).collect();
        boxes.push(((scale(i) * scale(i + 1)).sqrt(), 1.0));
        boxes
    }

    /// Every anchor for feature maps of the given (height, width), layer by layer, then row,
    /// column and anchor, as corners (not clipped).
    pub fn anchors(&self, maps: &[(u32, u32)]) -> Vec<BoxCorners> {
        let mut out = Vec::new();
        for (i, &(h, w)) in maps.iter().enumerate() {
            let boxes = self.layer_boxes(i, maps.len());
            for y in 0..h {
                for x in 0..w {
                    let (cy, cx) = ((y as f32 + 0.5) / h as f32, (x as f32 + 0.5) / w as f32);
                    for &(s, r) in &boxes {
                        let (bh, bw) = (s / r.sqrt(), s * r.sqrt());
                        out.push([cy - bh / 2.0, cx - bw / 2.0, cy + bh / 2.0, cx + bw / 2.0]);
                    }
                }
            }
        }
        out
    }
}

/// Decodes box codes [ty, tx, th, tw] against anchors (Faster R-CNN coder, scales 10, 10, 5, 5).
pub fn decode(codes: &[[f32; 4]], anchors: &[BoxCorners]) -> Vec<BoxCorners> {
    codes
        .iter()
        .zip(anchors)
        .map(|(t, a)| {
            let (ha, wa) = (a[2] - a[0], a[3] - a[1]);
            let (yca, xca) = (a[0] + ha / 2.0, a[1] + wa / 2.0);
            let (yc, xc) = (t[0] / 10.0 * ha + yca, t[1] / 10.0 * wa + xca);
            let (h, w) = ((t[2] / 5.0).exp() * ha, (t[3] / 5.0).exp() * wa);
            [yc - h / 2.0, xc - w / 2.0, yc + h / 2.0, xc + w / 2.0]
        })
        .collect()
}

/// Intersection over union of two boxes (0 when either is empty).
pub fn iou(a: &BoxCorners, b: &BoxCorners) -> f32 {
    let area = |r: &BoxCorners| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let ih = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iw = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ih * iw;
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// One detected object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Class id, 1-based (0 is the background column of the logits).
    pub class: usize,
    pub score: f32,
    pub bbox: BoxCorners,
}

/// Non-maximum suppression settings; `Default` is the release's evaluation config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NmsConfig {
    pub score_threshold: f32,
    pub iou_threshold: f32,
    pub max_per_class: usize,
    pub max_total: usize,
}

impl Default for NmsConfig {
    fn default() -> Self {
        NmsConfig { score_threshold: 1e-8, iou_threshold: 0.6, max_per_class: 100, max_total: 100 }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Detections from decoded boxes and class logits (`classes + 1` per anchor, background first):
/// sigmoid scores, greedy NMS per class on the unclipped boxes, then clipping to the image and
/// dropping boxes left with no area, best first.
pub fn postprocess(boxes: &[BoxCorners], logits: &[f32], classes: usize, cfg: &NmsConfig) -> Vec<Detection> {
    let stride = classes + 1;
    let mut all = Vec::new();
    for class in 1..=classes {
        let mut cand: Vec<(f32, usize)> = (0..boxes.len().min(logits.len() / stride))
            .map(|i| (sigmoid(logits[i * stride + class]), i))
            .filter(|&(s, _)| s > cfg.score_threshold)
            .collect();
        cand.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut kept: Vec<Detection> = Vec::new();
        for (score, i) in cand {
            if kept.len() == cfg.max_per_class {
                break;
            }
            if kept.iter().all(|k| iou(&k.bbox, &boxes[i]) <= cfg.iou_threshold) {
                kept.push(Detection { class, score, bbox: boxes[i] });
            }
        }
        all.extend(kept);
    }
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    for mut d in all {
        for v in &mut d.bbox {
            *v = v.clamp(0.0, 1.0);
        }
        if d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1] {
            out.push(d);
        }
        if out.len() == cfg.max_total {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_grid_has_1917_anchors() {
        let maps = [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)];
        let a = AnchorSpec::default().anchors(&maps);
        assert_eq!(a.len(), 1917);
        // First anchor: centre (0.5/19, 0.5/19), scale 0.1, ratio 1.
        let c = 0.5 / 19.0;
        assert!((a[0][0] - (c - 0.05)).abs() < 1e-7 && (a[0][3] - (c + 0.05)).abs() < 1e-7);
        // Last anchor: 1x1 map, sqrt(0.95 * 1.0) square around the centre.
        let s = 0.95f32.sqrt() / 2.0;
        assert!((a[1916][0] - (0.5 - s)).abs() < 1e-6 && (a[1916][2] - (0.5 + s)).abs() < 1e-6);
    }

    #[test]
    fn zero_codes_decode_to_anchors_and_nms_suppresses_overlaps() {
        let anchors = [[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.5, 0.5], [0.6, 0.6, 1.2, 0.9]];
        let boxes = decode(&[[0.0; 4]; 3], &anchors);
        for (b, a) in boxes.iter().zip(&anchors) {
            assert!(b.iter().zip(a).all(|(x, y)| (x - y).abs() < 1e-6));
        }
        // logits: background, class 1.
        let logits = [0.0, 2.0, 0.0, 3.0, 0.0, 1.0];
        let d = postprocess(&boxes, &logits, 1, &NmsConfig::default());
        assert_eq!(d.len(), 2);
        let close = |a: &BoxCorners, b: &BoxCorners| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(&d[0].bbox, &anchors[1]));
        assert!((d[0].score - sigmoid(3.0)).abs() < 1e-7);
        assert!(close(&d[1].bbox, &[0.6, 0.6, 1.0, 0.9])); // clipped
    }
}
