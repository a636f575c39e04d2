//! Bilinear resize with PIL's semantics: a triangle filter whose support widens by the scale
//! factor when shrinking (so it averages rather than aliases), separable, horizontal pass first,
//! with PIL's 22-bit fixed-point coefficients and rounding so the bytes match `Image.resize`.

use crate::Rgb8;

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output position: first input index and fixed-point weights.
struct Coeffs {
    start: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

fn coefficients(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // the bilinear filter's support is 1
    let mut start = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let xmin = ((center - support + 0.5) as isize).max(0) as usize;
        let xmax = ((center + support + 0.5) as isize).min(in_size as isize) as usize;
        let raw: Vec<f64> = (xmin..xmax)
            .map(|x| {
                let t = ((x as f64 - center + 0.5) / filter_scale).abs();
                if t < 1.0 { 1.0 - t } else { 0.0 }
            })
            .collect();
        let total: f64 = raw.iter().sum();
        let fixed = raw
            .iter()
            .map(|&w| {
                let w = if total != 0.0 { w / total } else { w } * (1u32 << PRECISION_BITS) as f64;
                (if w < 0.0 { w - 0.5 } else { w + 0.5 }) as i32
            })
            .collect();
        start.push(xmin);
        weights.push(fixed);
    }
    Coeffs { start, weights }
}

fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes to `out_w` x `out_h` exactly as PIL's `Image.resize(size, Image.BILINEAR)`.
pub fn resize_bilinear(img: &Rgb8, out_w: usize, out_h: usize) -> Rgb8 {
    assert!(img.width > 0 && img.height > 0 && out_w > 0 && out_h > 0, "resize of an empty image");
    // Horizontal pass (PIL skips a pass whose size does not change).
    let horiz = if out_w != img.width { horizontal(img, out_w) } else { img.clone() };
    if out_h == img.height { horiz } else { vertical(&horiz, out_h) }
}

/// PIL's horizontal pass: each output pixel's three channels summed over its window together.
fn horizontal(img: &Rgb8, out_w: usize) -> Rgb8 {
    let round = 1i32 << (PRECISION_BITS - 1);
    let c = coefficients(img.width, out_w);
    let mut data = vec![0u8; img.height * out_w * 3];
    for (src, dst) in img.data.chunks_exact(img.width * 3).zip(data.chunks_exact_mut(out_w * 3)) {
        for ((px, &start), weights) in dst.chunks_exact_mut(3).zip(&c.start).zip(&c.weights) {
            let window = &src[start * 3..(start + weights.len()) * 3];
            let mut s = [round; 3];
            for (p, &w) in window.chunks_exact(3).zip(weights) {
                s[0] += p[0] as i32 * w;
                s[1] += p[1] as i32 * w;
                s[2] += p[2] as i32 * w;
            }
            px.copy_from_slice(&s.map(clip8));
        }
    }
    Rgb8::new(out_w, img.height, data)
}

/// PIL's vertical pass: each output row accumulated from its window of input rows, a whole row at
/// a time (the same integer sums as PIL's, so the same bytes; row-wise they vectorise).
fn vertical(img: &Rgb8, out_h: usize) -> Rgb8 {
    let round = 1i32 << (PRECISION_BITS - 1);
    let c = coefficients(img.height, out_h);
    let row = img.width * 3;
    let mut data = vec![0u8; out_h * row];
    let mut acc = vec![0i32; row];
    for ((dst, &start), weights) in data.chunks_exact_mut(row).zip(&c.start).zip(&c.weights) {
        acc.fill(round);
        for (k, &w) in weights.iter().enumerate() {
            let src = &img.data[(start + k) * row..(start + k + 1) * row];
            for (a, &v) in acc.iter_mut().zip(src) {
                *a += v as i32 * w;
            }
        }
        for (d, &a) in dst.iter_mut().zip(&acc) {
            *d = clip8(a);
        }
    }
    Rgb8::new(img.width, out_h, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook form of PIL's two passes, one output byte at a time.
    fn reference(img: &Rgb8, out_w: usize, out_h: usize) -> Rgb8 {
        let round = 1i32 << (PRECISION_BITS - 1);
        let h = if out_w != img.width {
            let c = coefficients(img.width, out_w);
            let data = (0..img.height * out_w * 3)
                .map(|i| {
                    let (y, x, ch) = (i / (out_w * 3), i / 3 % out_w, i % 3);
                    let s: i32 = c.weights[x]
                        .iter()
                        .enumerate()
                        .map(|(k, &w)| img.data[(y * img.width + c.start[x] + k) * 3 + ch] as i32 * w)
                        .sum();
                    clip8(s + round)
                })
                .collect();
            Rgb8::new(out_w, img.height, data)
        } else {
            img.clone()
        };
        if out_h == img.height {
            return h;
        }
        let c = coefficients(img.height, out_h);
        let row = out_w * 3;
        let data = (0..out_h * row)
            .map(|i| {
                let (y, x) = (i / row, i % row);
                let s: i32 =
                    c.weights[y].iter().enumerate().map(|(k, &w)| h.data[(c.start[y] + k) * row + x] as i32 * w).sum();
                clip8(s + round)
            })
            .collect();
        Rgb8::new(out_w, out_h, data)
    }

    #[test]
    fn matches_the_textbook_form_on_random_images() {
        let mut state = 1u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u8
        };
        for (w, h, ow, oh) in
            [(1, 1, 3, 2), (7, 5, 3, 2), (64, 48, 224, 224), (300, 200, 224, 224), (513, 340, 100, 513)]
        {
            let img = Rgb8::new(w, h, (0..w * h * 3).map(|_| next()).collect());
            assert_eq!(resize_bilinear(&img, ow, oh), reference(&img, ow, oh), "{w}x{h} -> {ow}x{oh}");
        }
    }

    #[test]
    fn identity_and_constant() {
        let img = Rgb8::new(3, 2, (0..18).collect());
        assert_eq!(resize_bilinear(&img, 3, 2), img);
        let flat = Rgb8::new(9, 7, vec![77; 9 * 7 * 3]);
        assert!(resize_bilinear(&flat, 4, 3).data.iter().all(|&v| v == 77));
        assert!(resize_bilinear(&flat, 20, 11).data.iter().all(|&v| v == 77));
    }

    #[test]
    fn halving_averages_pairs_with_triangle_weights() {
        // 4 -> 2: scale 2, support 2; output 0 centred at 1.0 reads inputs 0..3 with weights
        // 1/4 * (1, 3, 3, 1)/... ; by hand: triangle over x+0.5-1 in {-0.5, 0.5, 1.5}/2 -> 0.75, 0.75, 0.25
        let img = Rgb8::new(4, 1, vec![0, 0, 0, 100, 100, 100, 200, 200, 200, 0, 0, 0]);
        let out = resize_bilinear(&img, 2, 1);
        // (0*0.75 + 100*0.75 + 200*0.25) / 1.75 = 71.43 -> 71; (100*.25+200*.75+0*.75)/1.75 = 100
        assert_eq!(out.data, vec![71, 71, 71, 100, 100, 100]);
    }
}
