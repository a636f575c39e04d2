//! Training-time augmentation ("inception" preprocessing): random resized crop of 8-100% of the
//! area with aspect 3/4-4/3, horizontal flip, light colour jitter.

use crate::data::Rng;
use mnv2_image::{Rgb8, resize_bilinear};

/// A random crop covering `min_area..=1` of the image with aspect ratio in 3/4..4/3, resized to
/// `size` x `size`; falls back to the whole image after ten tries.
pub fn random_resized_crop(img: &Rgb8, size: usize, rng: &mut Rng, min_area: f32) -> Rgb8 {
    match crop_box(img.width, img.height, rng, min_area) {
        Some((x0, y0, cw, ch)) => {
            let mut data = Vec::with_capacity(cw * ch * 3);
            for y in y0..y0 + ch {
                data.extend_from_slice(&img.data[(y * img.width + x0) * 3..(y * img.width + x0 + cw) * 3]);
            }
            resize_bilinear(&Rgb8::new(cw, ch, data), size, size)
        }
        None => resize_bilinear(img, size, size),
    }
}

/// The box (x, y, width, height) of a random crop of a `w` x `h` image: an area drawn uniformly in
/// `min_area..1` of the image's, a log-uniform aspect ratio in 3/4..4/3; None when ten draws
/// did not fit.
fn crop_box(w: usize, h: usize, rng: &mut Rng, min_area: f32) -> Option<(usize, usize, usize, usize)> {
    let whole = w as f32 * h as f32;
    for _ in 0..10 {
        let area = whole * (min_area + (1.0 - min_area) * rng.uniform());
        let log_ratio = (0.75f32).ln() + ((4.0f32 / 3.0).ln() - (0.75f32).ln()) * rng.uniform();
        let ratio = log_ratio.exp();
        let cw = (area * ratio).sqrt().round() as usize;
        let ch = (area / ratio).sqrt().round() as usize;
        if cw >= 1 && ch >= 1 && cw <= w && ch <= h {
            let x0 = (rng.next_u64() % (w - cw + 1) as u64) as usize;
            let y0 = (rng.next_u64() % (h - ch + 1) as u64) as usize;
            return Some((x0, y0, cw, ch));
        }
    }
    None
}

/// Mirror left-right.
pub fn hflip(img: &mut Rgb8) {
    for row in img.data.chunks_exact_mut(img.width * 3) {
        let w = row.len() / 3;
        for x in 0..w / 2 {
            for c in 0..3 {
                row.swap(x * 3 + c, (w - 1 - x) * 3 + c);
            }
        }
    }
}

/// Brightness, contrast and saturation each scaled by a factor in `1 ± strength`.
pub fn color_jitter(img: &mut Rgb8, rng: &mut Rng, strength: f32) {
    let mut f = || 1.0 + strength * (2.0 * rng.uniform() - 1.0);
    let (b, c, s) = (f(), f(), f());
    let n = (img.data.len() / 3).max(1) as f32;
    let mean = img.data.iter().map(|&v| v as f32).sum::<f32>() / (3.0 * n);
    for px in img.data.chunks_exact_mut(3) {
        let gray = 0.299 * px[0] as f32 + 0.587 * px[1] as f32 + 0.114 * px[2] as f32;
        for v in px.iter_mut() {
            let mut x = *v as f32 * b;
            x = (x - mean) * c + mean;
            x = gray * b + (x - gray * b) * s;
            *v = x.round().clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_flips_and_jitter() {
        let img = Rgb8::new(40, 30, (0..40 * 30 * 3).map(|i| (i % 251) as u8).collect());
        let mut rng = Rng(5);
        let a = random_resized_crop(&img, 16, &mut rng, 0.08);
        assert_eq!((a.width, a.height), (16, 16));
        assert_eq!(random_resized_crop(&img, 16, &mut Rng(5), 0.08), a, "seeded");
        let mut f = Rgb8::new(3, 1, vec![1, 1, 1, 2, 2, 2, 3, 3, 3]);
        hflip(&mut f);
        assert_eq!(f.data, vec![3, 3, 3, 2, 2, 2, 1, 1, 1]);
        let mut g = Rgb8::new(2, 1, vec![100, 100, 100, 100, 100, 100]);
        color_jitter(&mut g, &mut rng, 0.0);
        assert_eq!(g.data, vec![100; 6]);
    }

    /// Crops stay inside the image and cover at least `min_area` of it (less the rounding of
    /// their sides, at most half a pixel each), reaching down near that bound.
    #[test]
    fn crops_cover_at_least_the_smallest_area() {
        let (w, h) = (300, 200);
        for min_area in [0.08f32, 0.35, 0.6] {
            let mut rng = Rng(11);
            let mut smallest = f32::MAX;
            for _ in 0..2000 {
                let Some((x0, y0, cw, ch)) = crop_box(w, h, &mut rng, min_area) else { continue };
                assert!(x0 + cw <= w && y0 + ch <= h, "({x0}, {y0}, {cw}, {ch}) outside {w}x{h}");
                let least = ((cw as f32 + 0.5) * (ch as f32 + 0.5)) / (w * h) as f32;
                assert!(least >= min_area, "{cw}x{ch} under {min_area} of {w}x{h}");
                smallest = smallest.min((cw * ch) as f32 / (w * h) as f32);
            }
            assert!(smallest < min_area + 0.02, "smallest crop {smallest} for {min_area}");
        }
    }
}
