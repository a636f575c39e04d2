//! Object detection end to end (SSDLite): any image -> the model's square input (TF1 bilinear,
//! aspect not kept, as the Object Detection API trains) -> box codes and logits -> decoded,
//! non-max-suppressed boxes in the image's own pixels, plus the picture with the boxes drawn.

use mnv2_engine::{F32Engine, Model, Runner};
use mnv2_heads::Labels;
use mnv2_heads::detect::{AnchorSpec, BoxCorners, Detection, NmsConfig, decode, postprocess};
use mnv2_image::Rgb8;
use std::path::Path;
use std::sync::Arc;

use crate::{DEFAULT_DETECTION_MODEL, Error, Options};

/// One detected object in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectBox {
    /// (x0, y0, x1, y1) in pixels of the original image.
    pub bbox: [f32; 4],
    /// Class slot (1-based; 0 is the background).
    pub class: usize,
    pub label: String,
    pub score: f32,
}

/// A loaded SSDLite detector.
pub struct Detector {
    /// Shared with every [`Detector::instance`].
    model: Arc<Model>,
    runner: Runner<F32Engine>,
    anchors: Vec<BoxCorners>,
    labels: Labels,
    /// Post-processing settings (the release's by default: score > 1e-8, IoU 0.6, 100 boxes).
    pub nms: NmsConfig,
}

impl Detector {
    /// Loads a detection model (`options.crop` and `options.precision` are not used: detectors
    /// run in float32).
    pub fn load(path: impl AsRef<Path>, options: Options) -> Result<Detector, Error> {
        let path = path.as_ref();
        let model = mnv2_import::load(path)?;
        let known = release_names(&path.file_name().unwrap_or_default().to_string_lossy(), &model);
        Detector::from_model(model, &options, known)
    }

    /// A detector from the bytes of a model file named `name` (as [`Detector::load`] reads them).
    pub fn from_bytes(bytes: &[u8], name: &str, options: &Options) -> Result<Detector, Error> {
        let model = mnv2_import::load_bytes(bytes, name)?;
        let known = release_names(name, &model);
        Detector::from_model(model, options, known)
    }

    /// A detector from a model in memory; `names` are object class names (without background)
    /// used when neither `options.labels` nor the model carries any.
    pub fn from_model(model: Model, options: &Options, names: Option<Vec<String>>) -> Result<Detector, Error> {
        let Some(ssd) = model.ssdlite() else {
            return Err(Error::Unsupported(format!("{} is not a detection (SSDLite) model", model.name)));
        };
        let slots = model.arch.classes as usize;
        let labels = match (&options.labels, model.labels.clone().or(names)) {
            (Some(p), _) => Labels::from_file(p, slots)?,
            (None, Some(names)) => Labels::fit(names, slots, &model.name)?,
            (None, None) => Labels::numbered(slots),
        };
        let maps: Vec<(u32, u32)> = ssd.feature_maps().iter().map(|m| (m.h, m.w)).collect();
        let anchors = AnchorSpec::default().anchors(&maps);
        let runner = Runner::new(F32Engine::new(&model, options.threads)?);
        Ok(Detector { model: Arc::new(model), runner, anchors, labels, nms: NmsConfig::default() })
    }

    /// Another detector on the same compiled network and model (weights shared, not copied),
    /// with worker threads and activation memory of its own.
    pub fn instance(&self) -> Result<Detector, Error> {
        Ok(Detector {
            model: self.model.clone(),
            runner: self.runner.instance()?,
            anchors: self.anchors.clone(),
            labels: self.labels.clone(),
            nms: self.nms,
        })
    }

    /// Bytes of activation memory held (0 before the first run).
    pub fn arena_bytes(&self) -> usize {
        self.runner.arena_bytes()
    }
    pub fn model(&self) -> &Model {
        &self.model
    }
    pub fn labels(&self) -> &Labels {
        &self.labels
    }
    /// Object classes (background not counted).
    pub fn classes(&self) -> usize {
        self.model.arch.classes as usize - 1
    }
    /// The square input size (300 for the release).
    pub fn input_size(&self) -> usize {
        self.model.arch.resolution as usize
    }
    pub fn anchors(&self) -> &[BoxCorners] {
        &self.anchors
    }

    /// The model's input for `image`: resized to the input size with TF1 bilinear (no
    /// anti-aliasing, aspect ratio not kept), scaled as the model expects.
    pub fn prepare(&self, image: &Rgb8) -> Vec<f32> {
        let r = self.input_size();
        let (mean, std) = (self.model.input.mean, self.model.input.std);
        let mut x = mnv2_image::resize_bilinear_tf1(image, r, r);
        for (i, v) in x.iter_mut().enumerate() {
            *v = (*v - mean[i % 3]) / std[i % 3];
        }
        x
    }

    /// Raw outputs for a prepared input: every anchor's box codes (ty, tx, th, tw), then every
    /// anchor's class logits (background first).
    pub fn run_input(&mut self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), Error> {
        let mut out = self.runner.run(input, 1)?;
        let logits = out.split_off(self.anchors.len() * 4);
        Ok((out, logits))
    }

    /// Detections in normalised (ymin, xmin, ymax, xmax) coordinates, best first.
    pub fn detect_normalized(&mut self, image: &Rgb8) -> Result<Vec<Detection>, Error> {
        let input = self.prepare(image);
        let (codes, logits) = self.run_input(&input)?;
        let codes: Vec<[f32; 4]> = codes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect();
        let boxes = decode(&codes, &self.anchors);
        Ok(postprocess(&boxes, &logits, self.classes(), &self.nms))
    }

    /// Detections in `image`'s pixels, best first (every box the post-processing keeps; filter
    /// by score for display).
    pub fn detect(&mut self, image: &Rgb8) -> Result<Vec<ObjectBox>, Error> {
        let (w, h) = (image.width as f32, image.height as f32);
        Ok(self
            .detect_normalized(image)?
            .into_iter()
            .map(|d| ObjectBox {
                bbox: [d.bbox[1] * w, d.bbox[0] * h, d.bbox[3] * w, d.bbox[2] * h],
                class: d.class,
                label: self.labels.get(d.class).to_string(),
                score: d.score,
            })
            .collect())
    }

    /// `image` with each box of score >= `min_score` outlined in its class colour and labelled
    /// "name 0.87".
    pub fn draw(&self, image: &Rgb8, boxes: &[ObjectBox], min_score: f32) -> Rgb8 {
        draw_boxes(image, boxes, min_score)
    }
}

/// The class names of the released pedestrian detector, whose graph carries none.
fn release_names(file_name: &str, model: &Model) -> Option<Vec<String>> {
    (file_name == DEFAULT_DETECTION_MODEL && model.arch.classes == 2).then(|| vec!["pedestrian".to_string()])
}

/// `image` with each box of score >= `min_score` outlined in its class colour and labelled
/// "name 0.87"; every label lies wholly inside the image.
pub fn draw_boxes(image: &Rgb8, boxes: &[ObjectBox], min_score: f32) -> Rgb8 {
    let mut out = image.clone();
    let scale = (image.width.min(image.height) / 250).max(1);
    let thickness = scale + 1;
    // Lowest scores first so the best boxes end on top.
    for b in boxes.iter().rev().filter(|b| b.score >= min_score) {
        let color = mnv2_heads::palette((b.class % 20 + 1) as u8);
        let clamp = |v: f32, max: usize| (v.round().max(0.0) as usize).min(max.saturating_sub(1));
        let (x0, y0) = (clamp(b.bbox[0], image.width), clamp(b.bbox[1], image.height));
        let (x1, y1) = (clamp(b.bbox[2], image.width), clamp(b.bbox[3], image.height));
        out.draw_rect(x0, y0, x1, y1, thickness, color);
        let text = format!("{} {:.2}", b.label, b.score);
        let (tw, th) = (mnv2_image::font::text_width(&text, scale) + 4 * scale, 9 * scale);
        let (tx, ty) = label_origin((x0, y0), (tw, th), (image.width, image.height));
        out.fill_rect(tx, ty, tw, th, color, 1.0);
        out.draw_text(tx + 2 * scale, ty + scale, &text, scale, [0, 0, 0]);
    }
    out
}

/// Where a `tw` x `th` label of the box whose top-left corner is `(x0, y0)` goes in an image of
/// `(width, height)`: above the box (inside it when the box touches the top), moved left when it
/// would cross the right edge and up when it would cross the bottom.
fn label_origin((x0, y0): (usize, usize), (tw, th): (usize, usize), (width, height): (usize, usize)) -> (usize, usize) {
    let ty = if y0 >= th { y0 - th } else { y0 };
    (x0.min(width.saturating_sub(tw)), ty.min(height.saturating_sub(th)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dark_pixels(img: &Rgb8) -> usize {
        img.data.chunks_exact(3).filter(|p| p == &[0, 0, 0]).count()
    }

    /// A box at the right edge (and one in the bottom-right corner) keeps its whole label inside
    /// the image: as many text pixels as the same label drawn in open space.
    #[test]
    fn labels_stay_inside_the_image() {
        let blank = Rgb8::new(300, 200, vec![255; 300 * 200 * 3]);
        let at = |bbox| ObjectBox { bbox, class: 1, label: "pedestrian".into(), score: 0.87 };
        let free = dark_pixels(&draw_boxes(&blank, &[at([100.0, 100.0, 150.0, 150.0])], 0.3));
        assert!(free > 100, "{free}");
        for bbox in [[280.0, 60.0, 299.0, 120.0], [290.0, 195.0, 299.0, 199.0], [0.0, 0.0, 299.0, 199.0]] {
            let drawn = draw_boxes(&blank, &[at(bbox)], 0.3);
            assert_eq!(dark_pixels(&drawn), free, "box {bbox:?}");
        }
        assert_eq!(label_origin((290, 50), (60, 9), (300, 200)), (240, 41));
        assert_eq!(label_origin((10, 3), (60, 9), (300, 200)), (10, 3));
        assert_eq!(label_origin((10, 198), (60, 9), (300, 200)), (10, 189));
        assert_eq!(label_origin((0, 0), (400, 9), (300, 200)), (0, 0)); // wider than the image
    }
}
