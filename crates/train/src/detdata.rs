//! Detection datasets: PennFudan's PASCAL-style annotation files and COCO JSON. Boxes are
//! (x0, y0, x1, y1) in continuous pixel coordinates; classes are 1-based slots (0 = background).

use mnv2_heads::detect_eval::GtBox;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One image and its objects.
#[derive(Debug, Clone, PartialEq)]
pub struct DetSample {
    pub image: PathBuf,
    pub boxes: Vec<GtBox>,
}

/// A detection dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DetDataset {
    /// Object class names; slot `i + 1` is `classes[i]`.
    pub classes: Vec<String>,
    pub samples: Vec<DetSample>,
    /// COCO only: the category id of each slot (`category_ids[i]` is slot `i + 1`).
    pub category_ids: Vec<i64>,
}

impl DetDataset {
    /// Opens a PennFudan-format folder (`Annotation/*.txt`) or a COCO JSON file.
    pub fn open(path: &Path, images: Option<&Path>) -> Result<DetDataset, crate::TrainError> {
        let set = if path.is_dir() { load_pennfudan(path) } else { load_coco(path, images) };
        set.map_err(crate::TrainError::Data)
    }

    /// The samples whose image file names are in `names`.
    pub fn subset(&self, names: &[String]) -> DetDataset {
        let keep = |s: &DetSample| {
            let file = s.image.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let stem = s.image.file_stem().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            names.iter().any(|n| *n == file || *n == stem)
        };
        DetDataset { samples: self.samples.iter().filter(|s| keep(s)).cloned().collect(), ..self.clone() }
    }

    /// Slot of a COCO category id.
    pub fn slot_of(&self, category_id: i64) -> Option<usize> {
        self.category_ids.iter().position(|&c| c == category_id).map(|i| i + 1)
    }
}

/// PennFudanPed: `Annotation/<name>.txt` with lines "Bounding box for object k ... : (Xmin, Ymin) -
/// (Xmax, Ymax)" in 1-based inclusive pixels; the image is `Images/<name>.jpg` (or the file the
/// annotation names, under `PNGImages/`). One class, "pedestrian".
pub fn load_pennfudan(root: &Path) -> Result<DetDataset, String> {
    let dir = root.join("Annotation");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e} (expected a PennFudan folder with Annotation/)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{} has no annotation files", dir.display()));
    }
    let mut samples = Vec::new();
    for f in files {
        let text = read_text(&f, "an annotation file")?;
        let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let image = ["Images/{}.jpg", "PNGImages/{}.png", "Images/{}.png"]
            .iter()
            .map(|p| root.join(p.replace("{}", &stem)))
            .find(|p| p.is_file())
            .ok_or_else(|| format!("{}: no image {stem}.jpg or .png under Images/ or PNGImages/", f.display()))?;
        let boxes = parse_pennfudan_boxes(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        samples.push(DetSample { image, boxes });
    }
    Ok(DetDataset { classes: vec!["pedestrian".into()], samples, category_ids: vec![1] })
}

/// The pedestrian boxes of one PennFudan annotation file's text.
pub fn parse_pennfudan_boxes(text: &str) -> Result<Vec<GtBox>, String> {
    let mut boxes = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("Bounding box for object")) {
        let nums = numbers_after_colon(line)
            .filter(|n| n.len() == 4)
            .ok_or_else(|| format!("cannot read box from {line:?}"))?;
        let [x0, y0, x1, y1] = [nums[0], nums[1], nums[2], nums[3]];
        let finite = [x0, y0, x1, y1].iter().all(|v| v.is_finite());
        if !(finite && x1 >= x0 && y1 >= y0) {
            return Err(format!("empty box in {line:?}"));
        }
        // Inclusive 1-based pixels -> continuous 0-based coordinates.
        boxes.push(GtBox { bbox: [x0 - 1.0, y0 - 1.0, x1, y1], class: 1, crowd: false });
    }
    Ok(boxes)
}

/// The numbers in the part of `line` after its last ':'.
fn numbers_after_colon(line: &str) -> Option<Vec<f32>> {
    let tail = line.rsplit(':').next()?;
    let nums: Vec<f32> = tail
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter(|s| !s.is_empty() && *s != "-")
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    Some(nums)
}

/// A text file, within the file-size limit.
fn read_text(path: &Path, what: &'static str) -> Result<String, String> {
    let bytes = mnv2_limits::Limits::global().read_file(path, what).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
}

/// COCO JSON (`images`, `annotations` with `bbox` [x, y, w, h], `categories`); categories map to
/// slots 1..=K in increasing id order. Images resolve against `images` or the JSON's folder.
pub fn load_coco(path: &Path, images: Option<&Path>) -> Result<DetDataset, String> {
    let text = read_text(path, "a COCO JSON file")?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    parse_coco(&v, images.unwrap_or_else(|| path.parent().unwrap_or(Path::new("."))))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// COCO ground truth from parsed JSON; image paths are `dir/file_name`.
pub fn parse_coco(v: &Value, dir: &Path) -> Result<DetDataset, String> {
    let list = |key: &str| v.get(key).and_then(Value::as_array).ok_or_else(|| format!("no \"{key}\" list"));
    let mut cats: Vec<(i64, String)> = list("categories")?
        .iter()
        .map(|c| {
            let id = c.get("id").and_then(Value::as_i64).ok_or("a category without an integer id")?;
            Ok((id, c.get("name").and_then(Value::as_str).unwrap_or("?").to_string()))
        })
        .collect::<Result<_, String>>()?;
    cats.sort();
    let mut samples = Vec::new();
    let mut index = std::collections::HashMap::new();
    for im in list("images")? {
        let id = im.get("id").and_then(Value::as_i64).ok_or("an image without an integer id")?;
        let file = im.get("file_name").and_then(Value::as_str).ok_or("an image without file_name")?;
        index.insert(id, samples.len());
        samples.push(DetSample { image: dir.join(file), boxes: Vec::new() });
    }
    for a in list("annotations")? {
        let img = a.get("image_id").and_then(Value::as_i64).ok_or("an annotation without image_id")?;
        let cat = a.get("category_id").and_then(Value::as_i64).ok_or("an annotation without category_id")?;
        let b: Vec<f32> = a
            .get("bbox")
            .and_then(Value::as_array)
            .map(|b| b.iter().filter_map(Value::as_f64).map(|x| x as f32).collect())
            .unwrap_or_default();
        if b.len() != 4 || b[2] < 0.0 || b[3] < 0.0 {
            return Err(format!("annotation of image {img}: bbox {b:?} is not [x, y, w, h]"));
        }
        let slot = cats.iter().position(|c| c.0 == cat).ok_or(format!("unknown category {cat}"))? + 1;
        let crowd = a.get("iscrowd").and_then(Value::as_i64).unwrap_or(0) != 0;
        let &i = index.get(&img).ok_or(format!("annotation of unknown image {img}"))?;
        samples[i].boxes.push(GtBox { bbox: [b[0], b[1], b[0] + b[2], b[1] + b[3]], class: slot, crowd });
    }
    Ok(DetDataset {
        classes: cats.iter().map(|c| c.1.clone()).collect(),
        category_ids: cats.iter().map(|c| c.0).collect(),
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pennfudan_box_lines() {
        let line =
            "Bounding box for object 1 \"PASpersonWalking\" (Xmin, Ymin) - (Xmax, Ymax) : (160, 182) - (302, 431)";
        assert_eq!(numbers_after_colon(line), Some(vec![160.0, 182.0, 302.0, 431.0]));
    }
}
