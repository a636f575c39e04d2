//! The textbook form of PIL's two passes, one output byte at a time.

use super::{PRECISION_BITS, clip8, coefficients};

/// [`super::resize_rgb8`] one output byte at a time: each byte the rounded, clamped sum of its
/// window's products, the passes in PIL's order ([`super::vertical_first`]) with its
/// intermediate rounding.
pub fn resize_rgb8_reference(src: &[u8], (width, height): (usize, usize), (out_w, out_h): (usize, usize)) -> Vec<u8> {
    if super::vertical_first((width, height), (out_w, out_h)) {
        // A vertical pass is a horizontal one on the transposed image.
        let v = transpose(&horizontal_only(&transpose(src, width, height), (height, width), out_h), out_h, width);
        return if out_w != width { horizontal_only(&v, (width, out_h), out_w) } else { v };
    }
    let h = horizontal_only(src, (width, height), out_w);
    if out_h == height {
        return h;
    }
    let t = horizontal_only(&transpose(&h, out_w, height), (height, out_w), out_h);
    transpose(&t, out_h, out_w)
}

/// `src` (`width` x `height` RGB) with rows and columns swapped.
fn transpose(src: &[u8], width: usize, height: usize) -> Vec<u8> {
    (0..width * height * 3)
        .map(|i| {
            let (x, y, ch) = (i / (height * 3), i / 3 % height, i % 3);
            src[(y * width + x) * 3 + ch]
        })
        .collect()
}

/// The horizontal pass alone (a copy when the width does not change).
fn horizontal_only(src: &[u8], (width, height): (usize, usize), out_w: usize) -> Vec<u8> {
    let round = 1i32 << (PRECISION_BITS - 1);
    if out_w != width {
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
    }
}
