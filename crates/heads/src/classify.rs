//! Classification: the top-k scores and their labels.

use std::path::Path;
use thiserror::Error;

/// One class of a classification result.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The model's own output index (0 is "background" in 1001-class models).
    pub index: usize,
    pub label: String,
    /// Softmax probability.
    pub score: f32,
}

/// The `k` highest scores, best first; ties keep the lower index first.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let better = |&a: &usize, &b: &usize| scores[b].total_cmp(&scores[a]).then(a.cmp(&b));
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Only the first k need sorting: move them to the front, then order them.
    if k < order.len() && k > 0 {
        order.select_nth_unstable_by(k - 1, better);
    }
    order.truncate(k);
    order.sort_by(better);
    order.into_iter().map(|i| (i, scores[i])).collect()
}

#[derive(Debug, Error)]
pub enum LabelError {
    #[error("cannot read labels {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Read(#[from] mnv2_limits::LimitError),
    #[error(
        "labels {path} has {found} line{} but the model has {classes} classes",
        if *.found == 1 { "" } else { "s" }
    )]
    Count { path: String, found: usize, classes: usize },
}

/// Class names indexed by the model's output index.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels(Vec<String>);

impl Labels {
    /// The names in index order.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// Fits a list of names to a model with `classes` outputs: equal counts map one to one; a
    /// list with one more entry whose first is "background" drops it (a 1000-class model with a
    /// 1001-line file); one fewer gets "background" prepended (a 1001-class model with a 1000-line file).
    pub fn fit(names: Vec<String>, classes: usize, path: &str) -> Result<Labels, LabelError> {
        let mut names = names;
        // A blank line right after the classes starts notes, not classes.
        if names.len() > classes && names[classes].trim().is_empty() {
            names.truncate(classes);
        }
        while names.last().is_some_and(|l| l.trim().is_empty()) {
            names.pop();
        }
        if names.len() == classes + 1 && names[0].eq_ignore_ascii_case("background") {
            names.remove(0);
        } else if names.len() + 1 == classes {
            names.insert(0, "background".into());
        }
        if names.len() != classes {
            return Err(LabelError::Count { path: path.into(), found: names.len(), classes });
        }
        Ok(Labels(names))
    }

    /// Reads one label per line.
    pub fn from_file(path: impl AsRef<Path>, classes: usize) -> Result<Labels, LabelError> {
        let path = path.as_ref();
        let text = mnv2_limits::Limits::global().read_file(path, "a labels file")?;
        let names = String::from_utf8_lossy(&text).lines().map(|l| l.trim_end().to_string()).collect();
        Labels::fit(names, classes, &path.display().to_string())
    }

    /// Numbered placeholders ("class 17") when no names are known.
    pub fn numbered(classes: usize) -> Labels {
        Labels((0..classes).map(|i| format!("class {i}")).collect())
    }

    pub fn get(&self, index: usize) -> &str {
        self.0.get(index).map_or("?", String::as_str)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The top `k` of one image's probabilities, labelled.
    pub fn predictions(&self, probabilities: &[f32], k: usize) -> Vec<Prediction> {
        top_k(probabilities, k)
            .into_iter()
            .map(|(index, score)| Prediction { index, label: self.get(index).to_string(), score })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        assert_eq!(top_k(&[0.1, 0.5, 0.2, 0.5], 3), vec![(1, 0.5), (3, 0.5), (2, 0.2)]);
        assert_eq!(top_k(&[1.0], 5), vec![(0, 1.0)]);
        assert_eq!(top_k(&[1.0, 2.0], 0), vec![]);
        assert_eq!(top_k(&[1.0, 2.0], 2), vec![(1, 2.0), (0, 1.0)]);
        // Against the whole list sorted, on scores with many ties around the cut.
        let scores: Vec<f32> = (0..1000u32).map(|i| ((i * 7919) % 13) as f32).collect();
        let mut all: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for k in [1, 5, 76, 77, 78, 999, 1000] {
            assert_eq!(top_k(&scores, k), all[..k], "k = {k}");
        }
    }

    #[test]
    fn fitting_background() {
        let names =
            |n: usize| (0..n).map(|i| if i == 0 { "background".to_string() } else { format!("c{i}") }).collect();
        assert_eq!(Labels::fit(names(1001), 1000, "x").unwrap().get(0), "c1");
        assert_eq!(Labels::fit(names(1001), 1001, "x").unwrap().get(0), "background");
        let plain: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        assert_eq!(Labels::fit(plain, 1001, "x").unwrap().get(1), "c0");
        assert!(Labels::fit(names(5), 1001, "x").is_err());
        // Notes after a blank line (as in the PASCAL VOC label file) are not classes.
        let mut voc: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
        voc.extend(["".into(), "and 255 is the ignore label".into()]);
        assert_eq!(Labels::fit(voc, 21, "x").unwrap().len(), 21);
    }
}
