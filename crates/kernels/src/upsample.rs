//! Bilinear upsampling of class scores fused with the per-pixel argmax (Mobile DeepLabv3's last
//! step), with TFLite's `RESIZE_BILINEAR` sampling: `align_corners` / `half_pixel_centers` as
//! the model sets them, weights computed in float32 in the optimized kernel's order, and for
//! 8-bit scores the same rounding (`+ 0.5`, truncation) before the argmax.

/// How output pixels map onto input pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

/// TFLite's `ComputeInterpolationValues` for every output index: (lower, upper, fraction).
fn axis(out: usize, input: usize, s: Sampling) -> Vec<(usize, usize, f32)> {
    let scale =
        if s.align_corners && out > 1 { (input - 1) as f32 / (out - 1) as f32 } else { input as f32 / out as f32 };
    (0..out)
        .map(|o| {
            let v = if s.half_pixel_centers { (o as f32 + 0.5) * scale - 0.5 } else { o as f32 * scale };
            let lo = (v.floor() as i64).max(0) as usize;
            let hi = (v.ceil() as i64).min(input as i64 - 1).max(0) as usize;
            (lo, hi, v - lo as f32)
        })
        .collect()
}

fn first_max<T: PartialOrd + Copy>(values: impl Iterator<Item = T>) -> u8 {
    let mut best: Option<(usize, T)> = None;
    for (i, v) in values.enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i as u8)
}

/// The shared walk: for every output pixel of `rows`, the four neighbours' scores of each class
/// combined by `value` with TFLite's four weights, then the first class with the largest value.
fn upsample_argmax<T: Copy, V: PartialOrd + Copy>(
    scores: &[T],
    (h, w, classes): (usize, usize, usize),
    (out_h, out_w): (usize, usize),
    s: Sampling,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
    value: impl Fn([T; 4], &[f32; 4]) -> V,
) {
    assert!(scores.len() == h * w * classes && classes <= 256 && out.len() == rows.len() * out_w);
    let ys = axis(out_h, h, s);
    let xs = axis(out_w, w, s);
    for (ro, y) in rows.enumerate() {
        let (y0, y1, dy) = ys[y];
        for (x, &(x0, x1, dx)) in xs.iter().enumerate() {
            let k = [(1.0 - dy) * (1.0 - dx), dy * (1.0 - dx), (1.0 - dy) * dx, dy * dx];
            let at = |yy: usize, xx: usize| (yy * w + xx) * classes;
            let (a, b, c, d) = (at(y0, x0), at(y1, x0), at(y0, x1), at(y1, x1));
            out[ro * out_w + x] = first_max(
                (0..classes).map(|i| value([scores[a + i], scores[b + i], scores[c + i], scores[d + i]], &k)),
            );
        }
    }
}

/// Upsamples `scores` (h x w x classes, float) to `out_h` x `out_w` and writes the argmax class
/// of each output pixel; rows `rows` only, into `out` (exactly those rows).
pub fn upsample_argmax_f32(
    scores: &[f32],
    dims: (usize, usize, usize),
    out_size: (usize, usize),
    s: Sampling,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
) {
    upsample_argmax(scores, dims, out_size, s, rows, out, |v, k| v[0] * k[0] + v[1] * k[1] + v[2] * k[2] + v[3] * k[3]);
}

/// As [`upsample_argmax_f32`] for quantized scores: each interpolated score is rounded to a byte
/// as TFLite's uint8 resize does, then compared (argmax of the bytes).
pub fn upsample_argmax_u8(
    scores: &[u8],
    dims: (usize, usize, usize),
    out_size: (usize, usize),
    s: Sampling,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
) {
    upsample_argmax(scores, dims, out_size, s, rows, out, |v, k| {
        (v[0] as f32 * k[0] + v[1] as f32 * k[1] + v[2] as f32 * k[2] + v[3] as f32 * k[3] + 0.5) as u8
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIGNED: Sampling = Sampling { align_corners: true, half_pixel_centers: false };

    #[test]
    fn aligned_corners_sample_the_corners() {
        // 2x2 -> 3x3 with corners aligned: the centre is the mean of the four.
        assert_eq!(axis(3, 2, ALIGNED), vec![(0, 0, 0.0), (0, 1, 0.5), (1, 1, 0.0)]);
        let plain = Sampling { align_corners: false, half_pixel_centers: false };
        assert_eq!(axis(4, 2, plain), vec![(0, 0, 0.0), (0, 1, 0.5), (1, 1, 0.0), (1, 1, 0.5)]);
    }

    #[test]
    fn argmax_follows_the_interpolation() {
        // Two classes on a 1x2 map: class 0 strong on the left, class 1 on the right.
        let scores = [10.0, 0.0, 0.0, 10.0];
        let mut out = [0u8; 5];
        upsample_argmax_f32(&scores, (1, 2, 2), (1, 5), ALIGNED, 0..1, &mut out);
        // x = 0, .25, .5 (tie: the first class wins), .75, 1
        assert_eq!(out, [0, 0, 0, 1, 1]);
        let q = [200u8, 0, 0, 200];
        upsample_argmax_u8(&q, (1, 2, 2), (1, 5), ALIGNED, 0..1, &mut out);
        assert_eq!(out, [0, 0, 0, 1, 1]);
    }
}
