//! SSD training augmentation: the random crop of the SSD paper as the Object Detection API's
//! `ssd_random_crop` does it (a crop of 10-100% of the area, aspect 1/2-2, that covers at least a
//! drawn fraction of some object; objects whose centre falls outside are dropped, the rest
//! clipped), the SSD paper's "zoom out" (the image placed on a larger grey canvas before the crop,
//! so that small objects are seen in training), horizontal flip, and light photometric jitter.
//! Boxes are (x0, y0, x1, y1) in pixels.

use crate::augment::{color_jitter, hflip};
use crate::data::Rng;
use mnv2_image::Rgb8;

/// Minimum fraction of some object the crop must cover; `None` keeps the whole image.
const COVER_CHOICES: [Option<f32>; 7] = [None, Some(0.1), Some(0.3), Some(0.5), Some(0.7), Some(0.9), Some(1.0)];

fn covered(b: &[f32; 4], c: &[f32; 4]) -> f32 {
    let iw = (b[2].min(c[2]) - b[0].max(c[0])).max(0.0);
    let ih = (b[3].min(c[3]) - b[1].max(c[1])).max(0.0);
    let area = (b[2] - b[0]) * (b[3] - b[1]);
    if area <= 0.0 { 0.0 } else { iw * ih / area }
}

/// A labelled box: (x0, y0, x1, y1) in pixels and its class.
pub type Labelled = ([f32; 4], usize);

/// A random crop and the boxes inside it (shifted and clipped). Images without boxes, and
/// failed draws (50 tries), keep the whole image.
pub fn ssd_random_crop(img: &Rgb8, boxes: &[Labelled], rng: &mut Rng) -> (Rgb8, Vec<Labelled>) {
    let pick = (rng.next_u64() % COVER_CHOICES.len() as u64) as usize;
    let Some(min_cover) = COVER_CHOICES[pick].filter(|_| !boxes.is_empty()) else {
        return (img.clone(), boxes.to_vec());
    };
    let (w, h) = (img.width as f32, img.height as f32);
    for _ in 0..50 {
        let area = w * h * (0.1 + 0.9 * rng.uniform());
        let ratio = (0.5f32.ln() + (2f32.ln() - 0.5f32.ln()) * rng.uniform()).exp();
        let (cw, ch) = ((area * ratio).sqrt().min(w).floor(), (area / ratio).sqrt().min(h).floor());
        if cw < 2.0 || ch < 2.0 {
            continue;
        }
        let x0 = ((w - cw) * rng.uniform()).floor();
        let y0 = ((h - ch) * rng.uniform()).floor();
        let crop = [x0, y0, x0 + cw, y0 + ch];
        if !boxes.iter().any(|(b, _)| covered(b, &crop) >= min_cover) {
            continue;
        }
        let kept: Vec<Labelled> = boxes
            .iter()
            .filter(|(b, _)| {
                let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
                cx > crop[0] && cx < crop[2] && cy > crop[1] && cy < crop[3]
            })
            .map(|&(b, c)| ([b[0].max(x0) - x0, b[1].max(y0) - y0, b[2].min(crop[2]) - x0, b[3].min(crop[3]) - y0], c))
            .collect();
        if kept.is_empty() {
            continue;
        }
        let (cw, ch, xs, ys) = (cw as usize, ch as usize, x0 as usize, y0 as usize);
        let mut data = Vec::with_capacity(cw * ch * 3);
        for y in ys..ys + ch {
            data.extend_from_slice(&img.data[(y * img.width + xs) * 3..(y * img.width + xs + cw) * 3]);
        }
        return (Rgb8::new(cw, ch, data), kept);
    }
    (img.clone(), boxes.to_vec())
}

/// Grey of the zoom-out canvas: 0 after the detector's [-1, 1] input scaling (near enough).
const CANVAS: u8 = 128;

/// The image at a random place on a grey canvas `ratio` times its size (width and height), and
/// its boxes moved with it.
pub fn ssd_zoom_out(img: &Rgb8, boxes: &[Labelled], ratio: f32, rng: &mut Rng) -> (Rgb8, Vec<Labelled>) {
    let (cw, ch) = ((img.width as f32 * ratio) as usize, (img.height as f32 * ratio) as usize);
    let (cw, ch) = (cw.max(img.width), ch.max(img.height));
    let x0 = ((cw - img.width) as f32 * rng.uniform()) as usize;
    let y0 = ((ch - img.height) as f32 * rng.uniform()) as usize;
    let mut data = vec![CANVAS; cw * ch * 3];
    for (y, row) in img.data.chunks_exact(img.width * 3).enumerate() {
        data[((y0 + y) * cw + x0) * 3..][..row.len()].copy_from_slice(row);
    }
    let (dx, dy) = (x0 as f32, y0 as f32);
    let moved = boxes.iter().map(|&(b, c)| ([b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy], c)).collect();
    (Rgb8::new(cw, ch, data), moved)
}

/// Zoom out (half the time, by up to `max_zoom_out`; 1 never), crop, flip (half the time) and
/// colour jitter; returns the image and its boxes.
pub fn ssd_augment(img: &Rgb8, boxes: &[Labelled], max_zoom_out: f32, rng: &mut Rng) -> (Rgb8, Vec<Labelled>) {
    let zoomed = (max_zoom_out > 1.0 && rng.uniform() < 0.5)
        .then(|| ssd_zoom_out(img, boxes, 1.0 + (max_zoom_out - 1.0) * rng.uniform(), rng));
    let (img, boxes) = zoomed.as_ref().map_or((img, boxes), |(i, b)| (i, b.as_slice()));
    let (mut img, mut boxes) = ssd_random_crop(img, boxes, rng);
    if rng.uniform() < 0.5 {
        hflip(&mut img);
        let w = img.width as f32;
        for (b, _) in &mut boxes {
            *b = [w - b[2], b[1], w - b[0], b[3]];
        }
    }
    color_jitter(&mut img, rng, 0.2);
    (img, boxes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_keep_boxes_consistent_with_pixels() {
        // A white box on black: after any crop and flip, the boxes must still frame white pixels.
        let (w, h) = (120, 90);
        let obj = [30.0f32, 20.0, 70.0, 80.0];
        let mut data = vec![0u8; w * h * 3];
        for y in 20..80 {
            for x in 30..70 {
                data[(y * w + x) * 3..(y * w + x) * 3 + 3].fill(255);
            }
        }
        let img = Rgb8::new(w, h, data);
        let mut rng = Rng(9);
        for _ in 0..50 {
            let (c, boxes) = ssd_random_crop(&img, &[(obj, 3)], &mut rng);
            assert_eq!(boxes.len(), 1);
            let (b, class) = boxes[0];
            assert_eq!(class, 3);
            assert!(b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= c.width as f32 && b[3] <= c.height as f32, "{b:?}");
            let (cx, cy) = (((b[0] + b[2]) / 2.0) as usize, ((b[1] + b[3]) / 2.0) as usize);
            assert_eq!(c.data[(cy * c.width + cx) * 3], 255, "box centre on the object");
        }
        let mut flipped = img.clone();
        hflip(&mut flipped);
        // The object at x 30..70 of 120 lands at 50..90 when mirrored.
        assert_eq!(flipped.data[(50 * w + 50) * 3], 255);
        assert_eq!(flipped.data[(50 * w + 40) * 3], 0);
        // No boxes: the image is kept whole.
        let (c, b) = ssd_random_crop(&img, &[], &mut rng);
        assert_eq!((c.width, c.height, b.len()), (w, h, 0));
    }

    #[test]
    fn zoom_out_moves_boxes_with_the_pixels() {
        // A 4x3 image whose pixel (2, 1) is red, boxed; on a 2.5x canvas the box still frames it.
        let mut data = vec![0u8; 4 * 3 * 3];
        data[(4 + 2) * 3] = 255;
        let img = Rgb8::new(4, 3, data);
        let mut rng = Rng(4);
        for _ in 0..20 {
            let (c, boxes) = ssd_zoom_out(&img, &[([2.0, 1.0, 3.0, 2.0], 1)], 2.5, &mut rng);
            assert_eq!((c.width, c.height), (10, 7));
            let [x0, y0, x1, y1] = boxes[0].0;
            assert_eq!((x1 - x0, y1 - y0), (1.0, 1.0));
            let at = (y0 as usize * c.width + x0 as usize) * 3;
            assert_eq!(&c.data[at..at + 3], &[255, 0, 0]);
            // Every pixel outside the 4x3 image is canvas grey.
            let grey = c.data.chunks_exact(3).filter(|p| p == &[CANVAS; 3]).count();
            assert_eq!(grey, 10 * 7 - 4 * 3);
        }
    }
}
