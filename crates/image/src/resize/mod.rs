//! Bilinear resize with PIL's semantics: a triangle filter whose support widens by the scale
//! factor when shrinking (so it averages rather than aliases), separable, horizontal pass first,
//! with PIL's 22-bit fixed-point coefficients and rounding so the bytes match `Image.resize`.
//!
//! Every sum is of integers, exact in `i32` (255 x 2^22 x the weights' sum stays below 2^31),
//! so the vector passes may add a window's products in any order and still give PIL's bytes.

#[cfg(target_arch = "x86_64")]
mod avx512;

use crate::Rgb8;
use mnv2_kernels::Isa;
use mnv2_kernels::isa::pick;

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// The levels the horizontal pass has its own code for: `vpermb` (VBMI, part of the
/// `Avx512Vnni` level) gathers each tap's bytes for five output pixels at once.
pub const HORIZONTAL_VARIANTS: [Isa; 2] = [Isa::Scalar, Isa::Avx512Vnni];
/// The levels the vertical pass has its own code for (the same loop, compiled for each).
pub const VERTICAL_VARIANTS: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

/// Per output position: first input index and fixed-point weights.
pub(crate) struct Coeffs {
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

/// Resizes to `out_w` x `out_h` exactly as PIL's `Image.resize(size, Image.BILINEAR)`, with the
/// best code this CPU has ([`Isa::detect`]).
pub fn resize_bilinear(img: &Rgb8, out_w: usize, out_h: usize) -> Rgb8 {
    resize_bilinear_at(Isa::detect(), img, out_w, out_h)
}

/// [`resize_bilinear`] with the code of level `isa` (or the best below it this CPU has): the
/// same bytes at every level.
pub fn resize_bilinear_at(isa: Isa, img: &Rgb8, out_w: usize, out_h: usize) -> Rgb8 {
    assert!(img.width > 0 && img.height > 0 && out_w > 0 && out_h > 0, "resize of an empty image");
    // Horizontal pass (PIL skips a pass whose size does not change).
    let horiz = if out_w != img.width { horizontal(isa, img, out_w) } else { img.clone() };
    if out_h == img.height { horiz } else { vertical(isa, &horiz, out_h) }
}

/// PIL's horizontal pass.
fn horizontal(isa: Isa, img: &Rgb8, out_w: usize) -> Rgb8 {
    let c = coefficients(img.width, out_w);
    let mut data = vec![0u8; img.height * out_w * 3];
    #[cfg(target_arch = "x86_64")]
    if pick(&HORIZONTAL_VARIANTS, isa) == Isa::Avx512Vnni
        && let Some(plan) = avx512::HorizontalPlan::new(&c, img.width)
    {
        // SAFETY: pick() returned the level, so this CPU has AVX-512 F, BW, VL and VBMI.
        unsafe { avx512::horizontal(&plan, &img.data, &mut data) };
        return Rgb8::new(out_w, img.height, data);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa; // only x86-64 has a vector horizontal pass
    horizontal_rows(&c, img, &mut data);
    Rgb8::new(out_w, img.height, data)
}

/// The portable horizontal pass: each output pixel's three channels summed over its window together.
fn horizontal_rows(c: &Coeffs, img: &Rgb8, data: &mut [u8]) {
    let round = 1i32 << (PRECISION_BITS - 1);
    let out_w = c.start.len();
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
}

/// PIL's vertical pass.
fn vertical(isa: Isa, img: &Rgb8, out_h: usize) -> Rgb8 {
    let c = coefficients(img.height, out_h);
    let mut data = vec![0u8; out_h * img.width * 3];
    match pick(&VERTICAL_VARIANTS, isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returned the level, so this CPU has AVX-512 F and BW.
        Isa::Avx512 => unsafe { vertical_avx512(&c, img, &mut data) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returned the level, so this CPU has AVX2.
        Isa::Avx2 => unsafe { vertical_avx2(&c, img, &mut data) },
        _ => vertical_rows(&c, img, &mut data),
    }
    Rgb8::new(img.width, out_h, data)
}

/// [`vertical_rows`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn vertical_avx512(c: &Coeffs, img: &Rgb8, data: &mut [u8]) {
    vertical_rows(c, img, data)
}

/// [`vertical_rows`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vertical_avx2(c: &Coeffs, img: &Rgb8, data: &mut [u8]) {
    vertical_rows(c, img, data)
}

/// The vertical pass: each output row accumulated from its window of input rows, a whole row at
/// a time (the same integer sums as PIL's, so the same bytes; row-wise they vectorise).
#[inline(always)]
fn vertical_rows(c: &Coeffs, img: &Rgb8, data: &mut [u8]) {
    let round = 1i32 << (PRECISION_BITS - 1);
    let row = img.width * 3;
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
        // Upscaling, the classifiers' shrink by about 2, odd factors, one output pixel, and
        // shrinks of 9x (the widest windows one vector load takes) and 12x (too wide: the
        // vector pass falls back to the portable one).
        for (w, h, ow, oh) in [
            (1, 1, 3, 2),
            (7, 5, 3, 2),
            (64, 48, 224, 224),
            (300, 200, 224, 224),
            (448, 376, 224, 224),
            (513, 340, 100, 513),
            (37, 3, 1, 1),
            (999, 7, 111, 3),
            (1200, 5, 100, 2),
            (250, 3, 23, 1),
        ] {
            let img = Rgb8::new(w, h, (0..w * h * 3).map(|_| next()).collect());
            let expected = reference(&img, ow, oh);
            for isa in Isa::all_available() {
                assert_eq!(resize_bilinear_at(isa, &img, ow, oh), expected, "{w}x{h} -> {ow}x{oh} at {isa:?}");
            }
        }
    }

    /// Where the vector pass takes over and where it gives way to the portable one.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_plan_covers_shrinks_up_to_its_load() {
        // 9x: windows of 19 pixels (57 bytes) fit a 64-byte load; 12x: 25 pixels do not.
        assert!(avx512::HorizontalPlan::new(&coefficients(999, 111), 999).is_some());
        assert!(avx512::HorizontalPlan::new(&coefficients(1200, 100), 1200).is_none());
        assert!(avx512::HorizontalPlan::new(&coefficients(3, 224), 3).is_some());
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
