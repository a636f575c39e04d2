//! SSD training augmentation: the random crop of the SSD paper as the Object Detection API's
//! `ssd_random_crop` does it (a crop of 10-100% of the area, aspect 1/2-2, that covers at least a
//! drawn fraction of some object; objects whose centre falls outside are dropped, the rest
//! clipped), horizontal flip, and light photometric jitter. Boxes are (x0, y0, x1, y1) in pixels.

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

/// Crop, flip (half the time) and colour jitter; returns the image and its boxes.
pub fn ssd_augment(img: &Rgb8, boxes: &[Labelled], rng: &mut Rng) -> (Rgb8, Vec<Labelled>) {
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
}
