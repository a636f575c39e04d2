//! Semantic segmentation end to end: any image -> the model's square input -> class map at the
//! image's own size, plus the overlay picture.

use mnv2_engine::Model;
use mnv2_heads::{ClassMap, Labels, PASCAL_VOC, palette};
use mnv2_image::Rgb8;
use std::path::Path;
use std::sync::Arc;

use crate::backend::Backend;
use crate::{Error, Options, Precision};

/// A loaded segmentation model (Mobile DeepLabv3).
pub struct Segmenter {
    /// Shared with every [`Segmenter::instance`].
    model: Arc<Model>,
    backend: Backend,
    labels: Labels,
}

/// Value of the padding around a resized image (the evaluation protocol's mid grey).
pub const PAD_VALUE: u8 = 128;

impl Segmenter {
    /// Loads a segmentation model; `options.crop` is not used.
    pub fn load(path: impl AsRef<Path>, options: Options) -> Result<Segmenter, Error> {
        Segmenter::new(mnv2_import::load(path)?, options)
    }

    /// A segmenter from a model in memory.
    pub fn new(model: Model, options: Options) -> Result<Segmenter, Error> {
        if model.deeplab().is_none() {
            return Err(Error::Unsupported(format!("{} is not a segmentation model", model.name)));
        }
        let classes = model.arch.classes as usize;
        let labels = match (&options.labels, classes) {
            (Some(p), _) => Labels::from_file(p, classes)?,
            (None, 21) => Labels::fit(PASCAL_VOC.iter().map(|s| s.to_string()).collect(), 21, "PASCAL VOC")?,
            (None, _) => Labels::numbered(classes),
        };
        let backend = Backend::new(&model, &options)?;
        Ok(Segmenter { model: Arc::new(model), backend, labels })
    }

    /// Another segmenter on the same compiled network and model (weights shared, not copied),
    /// with worker threads and activation memory of its own.
    pub fn instance(&self) -> Result<Segmenter, Error> {
        Ok(Segmenter { model: self.model.clone(), backend: self.backend.instance()?, labels: self.labels.clone() })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }
    pub fn labels(&self) -> &Labels {
        &self.labels
    }
    pub fn precision(&self) -> Precision {
        self.backend.precision()
    }
    /// Bytes of activation memory held (0 before the first run).
    pub fn arena_bytes(&self) -> usize {
        self.backend.arena_bytes()
    }
    /// The square input size (513 for the released models).
    pub fn input_size(&self) -> usize {
        self.model.arch.resolution as usize
    }

    /// The model's input for `image`: the longer side resized to the input size (bilinear), the
    /// rest padded at the bottom/right with [`PAD_VALUE`]. Returns the bytes and the resized size.
    pub fn prepare(&self, image: &Rgb8) -> (Vec<u8>, (usize, usize)) {
        Segmenter::letterbox(image, self.input_size())
    }

    /// [`Segmenter::prepare`] for an input of `r` x `r`.
    pub fn letterbox(image: &Rgb8, r: usize) -> (Vec<u8>, (usize, usize)) {
        let long = image.width.max(image.height) as f64;
        let w = ((image.width as f64 * r as f64 / long).round() as usize).clamp(1, r);
        let h = ((image.height as f64 * r as f64 / long).round() as usize).clamp(1, r);
        let resized = mnv2_image::resize_bilinear(image, w, h);
        let mut canvas = vec![PAD_VALUE; r * r * 3];
        for y in 0..h {
            canvas[y * r * 3..y * r * 3 + w * 3].copy_from_slice(&resized.data[y * w * 3..(y + 1) * w * 3]);
        }
        (canvas, (w, h))
    }

    /// The class map of a prepared square input (the model's input size).
    pub fn run_input(&mut self, input: &[u8]) -> Result<ClassMap, Error> {
        let r = self.input_size();
        if input.len() != r * r * 3 {
            return Err(Error::Input(format!("{} bytes, expected {r}x{r}x3", input.len())));
        }
        let mut map = vec![0u8; r * r];
        match &mut self.backend {
            Backend::Int8(runner) => runner.run_segment(input, 1, &mut map)?,
            Backend::F32(runner) => {
                let mut real = Vec::with_capacity(input.len());
                self.model.input.extend_real(&mut real, input);
                runner.run_segment(&real, 1, &mut map)?;
            }
        }
        Ok(ClassMap::new(r, r, map))
    }

    /// The class of every pixel of `image`, at its own size.
    pub fn segment(&mut self, image: &Rgb8) -> Result<ClassMap, Error> {
        let (input, (w, h)) = self.prepare(image);
        let map = self.run_input(&input)?;
        Ok(map.crop(w, h).resize_nearest(image.width, image.height))
    }

    /// `image` with every non-background class tinted in its PASCAL colour and a legend of the
    /// classes present with their share of the picture.
    pub fn overlay(&self, image: &Rgb8, map: &ClassMap) -> Rgb8 {
        let mut out = image.clone();
        for (i, &c) in map.classes.iter().enumerate() {
            if c != 0 {
                out.blend(i % map.width, i / map.width, palette(c), 0.55);
            }
        }
        let scale = (image.width.min(image.height) / 320).max(1);
        let line = 10 * scale;
        let entries: Vec<String> = map
            .fractions()
            .iter()
            .map(|&(c, f)| format!("{} {:.1}%", self.labels.get(c as usize), 100.0 * f))
            .collect();
        let text_w = entries.iter().map(|e| mnv2_image::font::text_width(e, scale)).max().unwrap_or(0);
        let pad = 3 * scale;
        out.fill_rect(0, 0, text_w + line + 3 * pad, entries.len() * line + 2 * pad, [0, 0, 0], 0.6);
        for (row, (&(c, _), text)) in map.fractions().iter().zip(&entries).enumerate() {
            let y = pad + row * line;
            out.fill_rect(pad, y, 7 * scale, 7 * scale, palette(c), 1.0);
            out.draw_text(2 * pad + 7 * scale, y, text, scale, [255, 255, 255]);
        }
        out
    }
}
