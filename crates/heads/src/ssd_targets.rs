//! SSD training targets as the Object Detection API builds them: the argmax matcher (IoU >= 0.5
//! matches, every ground-truth box also takes its best anchor) and Faster R-CNN box encoding.

use crate::detect::{BoxCorners, iou};

/// IoU at or above which an anchor is matched to a box.
pub const MATCH_THRESHOLD: f32 = 0.5;

/// Encodes `gt` against `anchor` as [ty, tx, th, tw] (scales 10, 10, 5, 5), the inverse of
/// [`crate::detect::decode`].
pub fn encode(gt: &BoxCorners, anchor: &BoxCorners) -> [f32; 4] {
    let (ha, wa) = (anchor[2] - anchor[0], anchor[3] - anchor[1]);
    let (yca, xca) = (anchor[0] + ha / 2.0, anchor[1] + wa / 2.0);
    // The coder's epsilon keeps degenerate boxes finite.
    let (h, w) = ((gt[2] - gt[0]).max(1e-8), (gt[3] - gt[1]).max(1e-8));
    let (yc, xc) = (gt[0] + h / 2.0, gt[1] + w / 2.0);
    [10.0 * (yc - yca) / ha, 10.0 * (xc - xca) / wa, 5.0 * (h / ha).ln(), 5.0 * (w / wa).ln()]
}

/// For each anchor, the index of the ground-truth box it is matched to. An anchor matches the box
/// it overlaps most when that IoU is at least [`MATCH_THRESHOLD`]; then each box claims the
/// anchor it overlaps most (even below the threshold), so no box is left without an anchor.
pub fn match_anchors(anchors: &[BoxCorners], gts: &[BoxCorners]) -> Vec<Option<usize>> {
    let mut best_for_anchor: Vec<(f32, usize)> = vec![(0.0, 0); anchors.len()];
    let mut best_for_gt: Vec<(f32, usize)> = vec![(-1.0, 0); gts.len()];
    for (a, anchor) in anchors.iter().enumerate() {
        for (g, gt) in gts.iter().enumerate() {
            let v = iou(anchor, gt);
            if v > best_for_anchor[a].0 {
                best_for_anchor[a] = (v, g);
            }
            if v > best_for_gt[g].0 {
                best_for_gt[g] = (v, a);
            }
        }
    }
    let mut matches: Vec<Option<usize>> =
        best_for_anchor.iter().map(|&(v, g)| (v >= MATCH_THRESHOLD && !gts.is_empty()).then_some(g)).collect();
    for (g, &(_, a)) in best_for_gt.iter().enumerate() {
        matches[a] = Some(g);
    }
    matches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::decode;

    #[test]
    fn encoding_by_hand_and_round_trip() {
        let anchor = [0.2, 0.2, 0.6, 0.4]; // centre (0.4, 0.3), size 0.4 x 0.2
        let gt = [0.3, 0.2, 0.7, 0.6]; // centre (0.5, 0.4), size 0.4 x 0.4
        let t = encode(&gt, &anchor);
        let want = [10.0 * 0.1 / 0.4, 10.0 * 0.1 / 0.2, 0.0, 5.0 * 2f32.ln()];
        assert!(t.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "{t:?}");
        let back = decode(&[t], &[anchor])[0];
        assert!(back.iter().zip(&gt).all(|(a, b)| (a - b).abs() < 1e-6), "{back:?}");
    }

    #[test]
    fn threshold_and_forced_matches() {
        let anchors = [
            [0.0, 0.0, 0.5, 0.5],  // IoU 1 with box 0
            [0.0, 0.0, 0.5, 0.6],  // IoU 0.5/0.6 = 0.83 with box 0
            [0.5, 0.5, 1.0, 1.0],  // nothing
            [0.6, 0.0, 0.9, 0.3],  // IoU 0.09/0.16 = 0.5625 with box 1 ([0.6, 0, 1, 0.4], 0.16)
            [0.8, 0.3, 1.0, 0.45], // a sliver of box 1: 0.02 / (0.03 + 0.16 - 0.02)
        ];
        let gts = [[0.0, 0.0, 0.5, 0.5], [0.6, 0.0, 1.0, 0.4]];
        assert_eq!(match_anchors(&anchors, &gts), [Some(0), Some(0), None, Some(1), None]);
        // A box no anchor overlaps by 0.5 still claims its best anchor.
        let small = [[0.85, 0.3, 1.0, 0.45]];
        let m = match_anchors(&anchors, &small);
        assert_eq!(m, [None, None, None, None, Some(0)]);
        assert_eq!(match_anchors(&anchors, &[]), [None; 5]);
    }
}
