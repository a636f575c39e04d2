//! TensorFlow 1's `ResizeBilinear` (align_corners = false, half_pixel_centers = false): no
//! anti-aliasing, source position = destination index x (in / out), float output. The Object
//! Detection API's SSD graphs resize this way before scaling to [-1, 1].

use crate::Rgb8;

/// (top index, bottom index, fraction) per output position, as TF's legacy scaler computes them.
fn taps(in_size: usize, out_size: usize) -> Vec<(usize, usize, f32)> {
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|o| {
            let pos = o as f32 * scale;
            let lo = (pos.floor() as usize).min(in_size - 1);
            (lo, (lo + 1).min(in_size - 1), pos - pos.floor())
        })
        .collect()
}

/// Resizes to `out_w` x `out_h`; returns HWC floats in 0..=255 (not rounded).
pub fn resize_bilinear_tf1(img: &Rgb8, out_w: usize, out_h: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(out_w * out_h * 3);
    if img.width == 0 || img.height == 0 {
        out.resize(out_w * out_h * 3, 0.0);
        return out;
    }
    let (xs, ys) = (taps(img.width, out_w), taps(img.height, out_h));
    let px = |x: usize, y: usize, c: usize| img.data[(y * img.width + x) * 3 + c] as f32;
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            for c in 0..3 {
                let top = px(x0, y0, c) + (px(x1, y0, c) - px(x0, y0, c)) * fx;
                let bottom = px(x0, y1, c) + (px(x1, y1, c) - px(x0, y1, c)) * fx;
                out.push(top + (bottom - top) * fy);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_by_two_interpolates_then_repeats_the_edge() {
        // One row 0, 100: positions 0, 0.5, 1, 1.5 -> 0, 50, 100, 100 (clamped at the edge).
        let img = Rgb8::new(2, 1, vec![0, 0, 0, 100, 100, 100]);
        let out = resize_bilinear_tf1(&img, 4, 1);
        let red: Vec<f32> = out.chunks(3).map(|p| p[0]).collect();
        assert_eq!(red, [0.0, 50.0, 100.0, 100.0]);
    }

    #[test]
    fn downsampling_takes_every_other_pixel_without_averaging() {
        // 4 -> 2: positions 0 and 2 exactly, no anti-aliasing.
        let img = Rgb8::new(4, 1, [10u8, 20, 30, 40].iter().flat_map(|&v| [v, v, v]).collect());
        let red: Vec<f32> = resize_bilinear_tf1(&img, 2, 1).chunks(3).map(|p| p[0]).collect();
        assert_eq!(red, [10.0, 30.0]);
        // 3 -> 2 in both axes: source position 1.5 mixes rows and columns half and half.
        let img = Rgb8::new(3, 3, (0..9u8).flat_map(|v| [v * 10; 3]).collect());
        let out: Vec<f32> = resize_bilinear_tf1(&img, 2, 2).chunks(3).map(|p| p[0]).collect();
        assert_eq!(out, [0.0, 15.0, 45.0, 60.0]);
    }
}
