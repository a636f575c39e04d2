//! The JSON objects of results, as `mnv2 classify/segment/detect --json` print them and
//! `mnv2 serve` answers: one spelling for every front end.

use crate::{ObjectBox, Prediction};
use mnv2_heads::{ClassMap, Labels};
use serde_json::{Value, json};

/// The top predictions: `[{"index", "label", "score"}, ...]`, best first.
pub fn top(preds: &[Prediction]) -> Value {
    preds.iter().map(|p| json!({"index": p.index, "label": p.label, "score": p.score})).collect()
}

/// The classes present in a class map with the fraction of pixels each covers:
/// `[{"class", "label", "fraction"}, ...]`, largest first.
pub fn classes(labels: &Labels, map: &ClassMap) -> Value {
    map.fractions().iter().map(|&(c, f)| json!({"class": c, "label": labels.get(c as usize), "fraction": f})).collect()
}

/// Detected boxes: `[{"box": [x0, y0, x1, y1], "label", "class", "score"}, ...]`, corners in
/// pixels of the original image to 0.1, scores to 1e-4.
pub fn detections(boxes: &[ObjectBox]) -> Value {
    // Rounded as f64, so that JSON shows 683.2, not the f32 nearest to it.
    let round = |v: f32| (v as f64 * 10.0).round() / 10.0;
    boxes
        .iter()
        .map(|b| {
            json!({"box": b.bbox.map(round), "label": b.label, "class": b.class,
                   "score": (b.score as f64 * 1e4).round() / 1e4})
        })
        .collect()
}
