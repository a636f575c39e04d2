//! The textbook form of PIL's two passes, one output byte at a time.

use super::{PRECISION_BITS, clip8, coefficients};

/// [`super::resize_rgb8`] one output byte at a time: each byte the rounded, clamped sum of its
/// window's products, the horizontal pass first (PIL's order and intermediate rounding).
pub fn resize_rgb8_reference(src: &[u8], (width, height): (usize, usize), (out_w, out_h): (usize, usize)) -> Vec<u8> {
    let round = 1i32 << (PRECISION_BITS - 1);
    let h = if out_w != width {
        let c = coefficients(width, out_w);
        (0..height * out_w * 3)
            .map(|i| {
                let (y, x, ch) = (i / (out_w * 3), i / 3 % out_w, i % 3);
                let s: i32 = c.weights[x]
                    .iter()
                    .enumerate()
                    .map(|(k, &w)| src[(y * width + c.start[x] + k) * 3 + ch] as i32 * w)
                    .sum();
                clip8(s + round)
            })
            .collect()
    } else {
        src.to_vec()
    };
    if out_h == height {
        return h;
    }
    let c = coefficients(height, out_h);
    let row = out_w * 3;
    (0..out_h * row)
        .map(|i| {
            let (y, x) = (i / row, i % row);
            let s: i32 = c.weights[y].iter().enumerate().map(|(k, &w)| h[(c.start[y] + k) * row + x] as i32 * w).sum();
            clip8(s + round)
        })
        .collect()
}
